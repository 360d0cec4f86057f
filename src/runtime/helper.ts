// Starts the native helper with a plan and reads its reports (see native/src/wire.h).
import { closeSync, existsSync, read, writeSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { GantryError } from "../common/errors.ts";
import { childProcess, net } from "../common/lazy-builtins.ts";
import { encodeRecords, RecordDecoder, type PlanRecord } from "./plan/wire.ts";
import { messageProblem } from "./plan/plan-check.ts";

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

let helperPath: string | undefined;

/** The helper binary: $GANTRY_HELPER, or native/build/gantry-helper above this module. */
export function findHelper(): string {
  if (helperPath) return helperPath;
  const env = process.env.GANTRY_HELPER;
  if (env) return (helperPath = env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "native", "build", "gantry-helper");
    if (existsSync(candidate)) return (helperPath = candidate);
    dir = dirname(dir);
  }
  throw new GantryError("INTERNAL", "the native helper native/build/gantry-helper is not built", {
    hint: "run scripts/install-deps.sh (or make -C native)",
  });
}

/** A failure the helper reported: which step, which syscall error. */
export function helperError(rec: PlanRecord, plan: readonly PlanRecord[]): GantryError {
  const [, stepStr = "-1", op = "?", errStr = "0", message = "failed"] = rec;
  const step = Number(stepStr);
  const errno = errnoName(Number(errStr));
  const planned = step >= 0 ? plan[step] : undefined;
  const where = planned ? `step ${step} (${op})` : op;
  if (errno === "EPROTO") {
    // the helper refused the plan itself (native/src/plan-check.c): a bug, or two versions
    return new GantryError("INTERNAL", `the helper refused the plan at ${where}: ${message}`, {
      step: op,
      errno,
      hint: "the runtime and its helper disagree on the plan: rebuild the helper (make -C native)",
    });
  }
  const code = op === "hook" ? "HOOK_FAILED" : "SYSCALL_FAILED";
  return new GantryError(code, `container setup failed at ${where}: ${message}`, { step: op, errno });
}

export interface HelperRun {
  /** host pid of the container's (or exec'd) process */
  pid: number;
  /** resolves with the exit status in foreground mode */
  exited: Promise<{ code: number; signal: number }>;
  helperPid: number;
  /** How many plan steps the helper executed before reporting the pid (all, when the process
   * already exec'd; up to the wait for `start` otherwise): what `explain` records. */
  stepsDone: number;
  /** With `captureOutput`: the container's stdout and stderr (stdin is /dev/null). */
  output?: { stdout: Readable; stderr: Readable };
}

/**
 * A helper the CLI's launcher (native/launcher/gantry-runtime.c) forked before node started,
 * waiting on a socketpair: taken once, and out of the environment so nothing this process
 * starts sees it. (Unused, it reads EOF when this process exits, and goes.)
 */
let inherited: { fd: number; pid: number } | undefined;
{
  const fd = Number(process.env.GANTRY_HELPER_FD);
  const pid = Number(process.env.GANTRY_HELPER_PID);
  delete process.env.GANTRY_HELPER_FD;
  delete process.env.GANTRY_HELPER_PID;
  if (Number.isInteger(fd) && fd > 2 && Number.isInteger(pid) && pid > 0) inherited = { fd, pid };
}

/** Runs the helper; resolves once it reports the child's pid (or rejects with its error). */
export function runHelper(
  plan: readonly PlanRecord[],
  opts: { timeoutMs?: number; preserveFds?: number; detachStdio?: boolean; captureOutput?: boolean } = {},
): Promise<HelperRun> {
  // The launcher's helper has the CLI's stdio and the caller's fds, as a spawned one would.
  if (inherited && !opts.detachStdio && !opts.captureOutput) {
    const { fd, pid } = inherited;
    inherited = undefined;
    try {
      writeSync(fd, encodeRecords(plan));
      return readReports(fdChannel(fd), plan, { timeoutMs: opts.timeoutMs, helperPid: pid, kill: () => process.kill(pid, "SIGKILL") });
    } catch {
      closeSync(fd); // gone (e.g. killed): start one the usual way
    }
  }
  // fds 3..3+N-1 are the caller's, passed through to the container (--preserve-fds);
  // the plan channel (a socketpair) comes right after them.
  const preserved = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
  const channelFd = 3 + preserved.length;
  const child = childProcess().spawn(findHelper(), ["--plan-fd", String(channelFd)], {
    // A monitor outlives its caller: it must not hold the caller's terminal or pipes.
    stdio: [
      ...(opts.detachStdio ? (["ignore", "ignore", "ignore"] as const) : opts.captureOutput ? (["ignore", "pipe", "pipe"] as const) : (["inherit", "inherit", "inherit"] as const)),
      ...preserved,
      "pipe",
    ],
    detached: true,
  });
  const output = opts.captureOutput ? { stdout: child.stdout!, stderr: child.stderr! } : undefined;
  const channel = child.stdio[channelFd] as Socket;
  channel.write(encodeRecords(plan));
  const run = readReports(socketChannel(channel), plan, {
    timeoutMs: opts.timeoutMs,
    helperPid: child.pid ?? -1,
    kill: () => child.kill("SIGKILL"),
    onPid: () => {
      if (opts.detachStdio) child.unref();
    },
    onEnd: (cb) => child.on("exit", (code, signal) => afterChannelEnds(channel, () => cb(`${signal ?? code}`))),
  });
  return output ? run.then((r) => ({ ...r, output })) : run;
}

/** How long a helper's channel may stay open after its process exited (see afterChannelEnds). */
const CHANNEL_END_GRACE_MS = 2_000;

/**
 * Node may tell a child's exit before the last bytes it wrote on the channel are read — a
 * foreground monitor writes its "exit" report and exits at once, and on a loaded machine the
 * exit event came first: the run failed as "exited without reporting the exit status" though
 * the status was in the socket. So the end is the channel's end; a process the helper left
 * behind holding the channel open delays it by at most the grace.
 */
function afterChannelEnds(channel: Socket, then: () => void): void {
  if (channel.destroyed || channel.readableEnded) return then();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    then();
  };
  const timer = setTimeout(finish, CHANNEL_END_GRACE_MS);
  channel.once("close", finish);
  channel.once("end", finish);
}

/**
 * Monitor mode through a spawner (`gantry-helper --spawner SOCKET`, native/src/spawner.c):
 * the same plan and reports over a connection, without forking the (large) caller. Rejects
 * with UNAVAILABLE when nothing listens, so the caller can spawn instead.
 */
export function runHelperViaSpawner(socketPath: string, plan: readonly PlanRecord[], opts: { timeoutMs?: number } = {}): Promise<HelperRun> {
  return new Promise<HelperRun>((resolve, reject) => {
    const channel = net().connect(socketPath);
    channel.once("error", (err) => reject(new GantryError("UNAVAILABLE", `the monitor spawner at ${socketPath} is not there: ${err.message}`)));
    channel.once("connect", () => {
      channel.removeAllListeners("error");
      channel.write(encodeRecords(plan));
      let helperPid = -1;
      readReports(socketChannel(channel), plan, {
        timeoutMs: opts.timeoutMs,
        helperPid: () => helperPid,
        onRecord: (rec) => {
          if (rec[0] === "monitor-pid") helperPid = Number(rec[1]);
        },
        kill: () => {
          if (helperPid > 0) process.kill(helperPid, "SIGKILL");
          channel.destroy();
        },
        onEnd: (cb) => channel.on("close", () => cb("connection closed")),
      }).then(resolve, reject);
    });
  });
}

/** Where reports come from: a socket, or a raw fd read without node:net. */
interface Channel {
  onData(cb: (chunk: Buffer) => void): void;
  /** the other end closed */
  onClose(cb: () => void): void;
  close(): void;
}

function socketChannel(s: Socket): Channel {
  s.on("error", () => {});
  return { onData: (cb) => s.on("data", cb), onClose: (cb) => s.on("close", cb), close: () => s.destroy() };
}

/** Reads a socket fd with fs.read (a thread-pool read until EOF), so `run` needs no node:net. */
function fdChannel(fd: number): Channel {
  const data: ((chunk: Buffer) => void)[] = [];
  const closed: (() => void)[] = [];
  let open = true;
  const buf = Buffer.allocUnsafe(64 * 1024);
  const next = (): void =>
    read(fd, buf, 0, buf.length, null, (err, n) => {
      if (!open) return;
      if (err || n === 0) {
        open = false;
        closeSync(fd);
        for (const cb of closed) cb();
        return;
      }
      const chunk = Buffer.from(buf.subarray(0, n));
      for (const cb of data) cb(chunk);
      next();
    });
  next();
  // close() leaves the fd to the pending read, which ends at the helper's EOF.
  return { onData: (cb) => data.push(cb), onClose: (cb) => closed.push(cb), close: () => {} };
}

interface ReportOptions {
  timeoutMs?: number;
  helperPid: number | (() => number);
  kill: () => void;
  onPid?: () => void;
  onRecord?: (rec: PlanRecord) => void;
  /** registers a callback for the helper's end (process exit); default: the channel closing */
  onEnd?: (cb: (how: string) => void) => void;
}

/** Reads the helper's reports from `channel`: resolves at "pid", rejects at "error". */
function readReports(channel: Channel, plan: readonly PlanRecord[], o: ReportOptions): Promise<HelperRun> {
  const decoder = new RecordDecoder();
  let resolveExit!: (v: { code: number; signal: number }) => void;
  let rejectExit!: (e: unknown) => void;
  const exited = new Promise<{ code: number; signal: number }>((res, rej) => {
    resolveExit = res;
    rejectExit = rej;
  });
  exited.catch(() => {});
  return new Promise<HelperRun>((resolve, reject) => {
    let settled = false;
    let gotExit = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      o.kill();
      reject(new GantryError("TIMEOUT", `the container did not finish setting up within ${o.timeoutMs}ms`));
    }, o.timeoutMs ?? 60_000);
    channel.onData((chunk: Buffer) => {
      for (const rec of decoder.push(chunk)) {
        o.onRecord?.(rec);
        // Every report is one of the wire table's messages (scripts/gen-wire.mjs), as the
        // helper checks the plan: a malformed one is a helper of another version, not data.
        const problem = messageProblem(rec);
        if (problem) {
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            o.kill();
            reject(new GantryError("INTERNAL", `malformed report from the native helper: ${problem}`, { hint: "helper and runtime versions differ? rebuild with make -C native" }));
          }
          continue;
        }
        if (rec[0] === "pid" && !settled) {
          settled = true;
          clearTimeout(timer);
          o.onPid?.();
          resolve({ pid: Number(rec[1]), stepsDone: Number(rec[2]), exited, helperPid: typeof o.helperPid === "function" ? o.helperPid() : o.helperPid });
        } else if (rec[0] === "error" && !settled) {
          settled = true;
          clearTimeout(timer);
          reject(helperError(rec, plan));
        } else if (rec[0] === "exit") {
          gotExit = true;
          resolveExit({ code: Number(rec[1]), signal: Number(rec[2]) });
        }
      }
    });
    const onEnd = o.onEnd ?? ((cb: (how: string) => void) => channel.onClose(() => cb("channel closed")));
    onEnd((how) => {
      channel.close();
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new GantryError("INTERNAL", `the native helper ended (${how}) without reporting`));
      }
      if (!gotExit) rejectExit(new GantryError("INTERNAL", "the monitor exited without reporting the exit status"));
    });
  });
}
