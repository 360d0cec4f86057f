// Spawns the native helper with a plan and reads its reports (see native/src/wire.h).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type Socket } from "node:net";
import { GantryError } from "../common/errors.ts";
import { encodeRecords, RecordDecoder, type PlanRecord } from "./plan/wire.ts";

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
  const code = op === "hook" ? "HOOK_FAILED" : "SYSCALL_FAILED";
  return new GantryError(code, `container setup failed at ${where}: ${message}`, { step: op, errno });
}

export interface HelperRun {
  /** host pid of the container's (or exec'd) process */
  pid: number;
  /** resolves with the exit status in foreground mode */
  exited: Promise<{ code: number; signal: number }>;
  helperPid: number;
}

/** Runs the helper; resolves once it reports the child's pid (or rejects with its error). */
export function runHelper(
  plan: readonly PlanRecord[],
  opts: { timeoutMs?: number; preserveFds?: number; detachStdio?: boolean } = {},
): Promise<HelperRun> {
  // fds 3..3+N-1 are the caller's, passed through to the container (--preserve-fds);
  // the plan channel (a socketpair) comes right after them.
  const preserved = Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i);
  const channelFd = 3 + preserved.length;
  const child = spawn(findHelper(), ["--plan-fd", String(channelFd)], {
    // A monitor outlives its caller: it must not hold the caller's terminal or pipes.
    stdio: [...(opts.detachStdio ? (["ignore", "ignore", "ignore"] as const) : (["inherit", "inherit", "inherit"] as const)), ...preserved, "pipe"],
    detached: true,
  });
  const channel = child.stdio[channelFd] as Socket;
  channel.write(encodeRecords(plan));
  return readReports(channel, plan, {
    timeoutMs: opts.timeoutMs,
    helperPid: child.pid ?? -1,
    kill: () => child.kill("SIGKILL"),
    onPid: () => {
      if (opts.detachStdio) child.unref();
    },
    onExitEvent: (cb) => child.on("exit", (code, signal) => cb(`${signal ?? code}`)),
  });
}

/**
 * Monitor mode through a spawner (`gantry-helper --spawner SOCKET`, native/src/spawner.c):
 * the same plan and reports over a connection, without forking the (large) caller. Rejects
 * with UNAVAILABLE when nothing listens, so the caller can spawn instead.
 */
export function runHelperViaSpawner(socketPath: string, plan: readonly PlanRecord[], opts: { timeoutMs?: number } = {}): Promise<HelperRun> {
  return new Promise<HelperRun>((resolve, reject) => {
    const channel = connect(socketPath);
    channel.once("error", (err) => reject(new GantryError("UNAVAILABLE", `the monitor spawner at ${socketPath} is not there: ${err.message}`)));
    channel.once("connect", () => {
      channel.removeAllListeners("error");
      channel.write(encodeRecords(plan));
      let helperPid = -1;
      readReports(channel, plan, {
        timeoutMs: opts.timeoutMs,
        helperPid: () => helperPid,
        onRecord: (rec) => {
          if (rec[0] === "monitor-pid") helperPid = Number(rec[1]);
        },
        kill: () => {
          if (helperPid > 0) process.kill(helperPid, "SIGKILL");
          channel.destroy();
        },
        onExitEvent: (cb) => channel.on("close", () => cb("connection closed")),
      }).then(resolve, reject);
    });
  });
}

interface ReportOptions {
  timeoutMs?: number;
  helperPid: number | (() => number);
  kill: () => void;
  onPid?: () => void;
  onRecord?: (rec: PlanRecord) => void;
  /** registers a callback for the helper's end (process exit or connection close) */
  onExitEvent: (cb: (how: string) => void) => void;
}

/** Reads the helper's reports from `channel`: resolves at "pid", rejects at "error". */
function readReports(channel: Socket, plan: readonly PlanRecord[], o: ReportOptions): Promise<HelperRun> {
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
    channel.on("data", (chunk: Buffer) => {
      for (const rec of decoder.push(chunk)) {
        o.onRecord?.(rec);
        if (rec[0] === "pid" && !settled) {
          settled = true;
          clearTimeout(timer);
          o.onPid?.();
          resolve({ pid: Number(rec[1]), exited, helperPid: typeof o.helperPid === "function" ? o.helperPid() : o.helperPid });
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
    channel.on("error", () => {});
    o.onExitEvent((how) => {
      channel.destroy();
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new GantryError("INTERNAL", `the native helper ended (${how}) without reporting`));
      }
      if (!gotExit) rejectExit(new GantryError("INTERNAL", "the monitor exited without reporting the exit status"));
    });
  });
}
