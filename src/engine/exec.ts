// `docker exec`: an exec instance is created (its config kept in memory, as dockerd does),
// then started. With Gantry's runtime the process runs under a monitor of its own (the
// helper in monitor mode, like a container's): the engine attaches to its socket, then lets
// the process go past its start barrier, so no output is missed, and a TTY exec is resized
// through the same socket ("resize R C" control frames), as conmon does for podman. With
// runc or crun it goes through their command line (`RUNTIME exec`) with our pipes as stdio,
// which cannot be resized. The ExitCode is recorded before the client's stream is closed
// (podman#6893: the CLI inspects the exec right after EOF).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readJsonIfExists } from "../common/atomic-file.ts";
import { GantryError, conflict, notFound } from "../common/errors.ts";
import { parseSignal } from "../common/signals.ts";
import { resolveUser } from "../image/mod.ts";
import type { OciProcess } from "../runtime/index.ts";
import { connectMonitor, parseDetachKeys, relayAttach, sendResize, type ClientStream } from "./attach.ts";
import type { ContainerRecord } from "./container-store.ts";
import { frame } from "./logs.ts";

export interface ExecConfig {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[];
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

export interface ExecInstance {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  child?: ChildProcess;
  /** With runc/crun: where the runtime writes the process's host pid (the child is its client). */
  pidFile?: string;
  /** The exec monitor's attach connection the engine keeps (resize goes through it). */
  monitor?: Socket;
  /** The last size asked for, applied once the monitor answers. */
  size?: [number, number];
}

/** Where an exec's monitor serves and leaves its exit status. */
export interface ExecMonitorFiles {
  attachSocket: string;
  startSocket: string;
  exitFile: string;
  openStdin: boolean;
}

/** What exec needs of the OCI backend (oci-backend.ts). */
export interface ExecBackend {
  /** argv prefix for `<runtime> exec` (runc's flags). */
  execCommand(): { cmd: string; args: string[] };
  /** Gantry's runtime: exec under a monitor of its own, held until `start`. */
  monitoredExec?: {
    processOf(id: string): OciProcess | undefined;
    exec(id: string, process: OciProcess, files: ExecMonitorFiles): Promise<{ pid: number }>;
    start(startSocket: string): Promise<void>;
  };
}

/** The user an exec asks for, resolved in the container's /etc/passwd and /etc/group. */
function execUser(rec: ContainerRecord, user: string): { uid: number; gid: number; additionalGids: number[] } {
  const read = (p: string) => {
    try {
      return readFileSync(join(rec.Rootfs, p), "utf8");
    } catch {
      return undefined;
    }
  };
  return resolveUser(user, read("etc/passwd"), read("etc/group"));
}

/** The exec's process: the container's, with the exec's command, tty, env (overriding the
 * container's, TERM=xterm with a TTY as dockerd adds), cwd, user and privileges. */
export function execProcess(base: OciProcess, c: ExecConfig, rec: ContainerRecord, allCaps: readonly string[]): OciProcess {
  const proc = structuredClone(base);
  proc.args = c.Cmd ?? [];
  proc.terminal = !!c.Tty;
  if (c.WorkingDir) proc.cwd = c.WorkingDir;
  let env = [...(proc.env ?? [])];
  for (const e of c.Env ?? []) {
    const key = e.split("=")[0];
    env = [...env.filter((x) => x.split("=")[0] !== key), e];
  }
  if (c.Tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  proc.env = env;
  if (c.User) proc.user = { ...proc.user, ...execUser(rec, c.User) };
  if (c.Privileged) proc.capabilities = { ...proc.capabilities, bounding: [...allCaps], effective: [...allCaps], permitted: [...allCaps] };
  if (c.Tty && c.ConsoleSize && c.ConsoleSize[0] > 0) proc.consoleSize = { height: c.ConsoleSize[0], width: c.ConsoleSize[1] };
  else delete proc.consoleSize;
  return proc;
}

/** `client`, with its input end remembered for callbacks registered later, and `beforeEnd`
 * run before its stream is closed (the exit code is recorded there). */
function clientReplayingInputEnd(client: ClientStream, beforeEnd: () => void): ClientStream {
  let inputEnded = false;
  const endCbs: (() => void)[] = [];
  client.onInputEnd(() => {
    inputEnded = true;
    for (const cb of endCbs.splice(0)) cb();
  });
  return {
    write: (b) => client.write(b),
    end: () => {
      beforeEnd();
      client.end();
    },
    onData: (cb) => client.onData(cb),
    onInputEnd: (cb) => (inputEnded ? cb() : endCbs.push(cb)),
    onClose: (cb) => client.onClose(cb),
    get closed() {
      return client.closed;
    },
  };
}

/** Docker's exit codes for a program that could not be started (run.go toStatusError). */
function startFailureCode(message: string): number {
  return /executable file not found|no such file or directory/i.test(message) ? 127 : 126;
}

/** How to run the runtime's CLI: the bundled bin/gantry-runtime, or its TypeScript source under tsx. */
export function runtimeCommand(): { cmd: string; args: string[] } {
  const env = process.env.GANTRY_RUNTIME_CLI;
  if (env) return /\.m?js$/.test(env) ? { cmd: process.execPath, args: [env] } : { cmd: env, args: [] };
  const here = dirname(fileURLToPath(import.meta.url));
  if (import.meta.url.endsWith(".ts")) {
    const repo = join(here, "..", "..");
    return { cmd: process.execPath, args: ["--import", "tsx", join(repo, "src", "cli", "runtime", "main.ts")] };
  }
  let dir = here;
  for (let i = 0; i < 4; i++) {
    const bundle = join(dir, "dist", "gantry-runtime.mjs");
    if (existsSync(bundle)) return { cmd: process.execPath, args: [bundle] };
    const sibling = join(dir, "gantry-runtime.mjs");
    if (existsSync(sibling)) return { cmd: process.execPath, args: [sibling] };
    dir = dirname(dir);
  }
  throw new GantryError("INTERNAL", "cannot find the gantry-runtime CLI (dist/gantry-runtime.mjs)", { hint: "run npm run build" });
}

export class ExecTable {
  private readonly byId = new Map<string, ExecInstance>();

  /** `dir` holds the exec monitors' sockets and exit files; `allCaps` is what --privileged gives. */
  constructor(
    private readonly backend: ExecBackend,
    private readonly dir: string,
    private readonly allCaps: readonly string[],
  ) {}

  create(rec: ContainerRecord, config: ExecConfig): ExecInstance {
    if (rec.State.Status === "paused") throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    if (rec.State.Status !== "running") throw conflict(`Container ${rec.Id} is not running`);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0) throw new GantryError("INVALID_ARGUMENT", "No exec command specified");
    const ex: ExecInstance = { ID: randomBytes(32).toString("hex"), ContainerID: rec.Id, Config: config, Running: false, ExitCode: null, Pid: 0 };
    this.byId.set(ex.ID, ex);
    // Forget finished execs eventually, as dockerd does (it keeps them until the container goes).
    if (this.byId.size > 1000) {
      for (const [id, e] of this.byId) if (!e.Running) { this.byId.delete(id); break; }
    }
    return ex;
  }

  get(id: string): ExecInstance {
    const ex = this.byId.get(id);
    if (!ex) throw notFound(`No such exec instance: ${id}`);
    return ex;
  }

  /** Drops a finished exec (the health checks' probes leave no instances behind, as dockerd's). */
  forget(id: string): void {
    this.byId.delete(id);
  }

  forContainer(id: string): string[] {
    return [...this.byId.values()].filter((e) => e.ContainerID === id).map((e) => e.ID);
  }

  /** Starts the exec; with a client, relays its stdio; resolves with the exit code.
   * `rawStream`: the start request's Tty, which decides the stream's framing as with dockerd
   * (default the exec's own Tty). */
  start(ex: ExecInstance, rec: ContainerRecord, client: ClientStream | undefined, rawStream = !!ex.Config.Tty): Promise<number> {
    if (ex.Running || ex.ExitCode !== null) throw conflict(`Error: Exec command ${ex.ID} has already run`);
    if (rec.State.Status !== "running") throw conflict(`Container ${rec.Id} is not running`);
    ex.Running = true;
    return this.backend.monitoredExec ? this.startMonitored(ex, rec, client, this.backend.monitoredExec, rawStream) : this.startThroughCli(ex, rec, client, rawStream);
  }

  /** POST /exec/{id}/resize: the exec's pty gets the size (SIGWINCH for its programs). */
  resize(id: string, rows: number, cols: number): void {
    const ex = this.get(id);
    ex.size = [rows, cols];
    if (ex.monitor && !ex.monitor.destroyed) sendResize(ex.monitor, rows, cols);
  }

  private async startMonitored(
    ex: ExecInstance,
    rec: ContainerRecord,
    client: ClientStream | undefined,
    monitored: NonNullable<ExecBackend["monitoredExec"]>,
    rawStream: boolean,
  ): Promise<number> {
    const c = ex.Config;
    // The client as the relay sees it, made now: the docker CLI may end its input while the
    // monitor starts, and that end must reach the process (close-stdin) all the same.
    let recordExit = () => {};
    const clientView = client && clientReplayingInputEnd(client, () => recordExit());
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const stem = join(this.dir, ex.ID.slice(0, 16));
    const files: ExecMonitorFiles = { attachSocket: `${stem}.sock`, startSocket: `${stem}.start`, exitFile: `${stem}.exit`, openStdin: !!(c.AttachStdin && client) };
    const removeFiles = () => {
      for (const f of [files.startSocket, files.exitFile]) rmSync(f, { force: true });
    };
    const base = monitored.processOf(rec.Id);
    if (!base) throw conflict(`Container ${rec.Id} has no process to start an exec from`);
    let watch: Socket;
    try {
      ex.Pid = (await monitored.exec(rec.Id, execProcess(base, c, rec, this.allCaps), files)).pid;
      // The engine's own connection: resize goes through it, and it closes when the process has exited.
      watch = await connectMonitor(files.attachSocket);
    } catch (err) {
      // The program could not be started (not found, not executable): the client reads why.
      const message = `OCI runtime exec failed: ${(err as Error).message}\r\n`;
      ex.Running = false;
      ex.ExitCode = startFailureCode(message);
      if (client && !client.closed) client.write(rawStream ? Buffer.from(message) : frame(2, Buffer.from(message)));
      client?.end();
      removeFiles();
      return ex.ExitCode;
    }
    ex.monitor = watch;
    watch.resume(); // output is the client's connection's business
    const exited = new Promise<void>((resolve) => watch.once("close", () => resolve()));
    watch.on("error", () => watch.destroy());
    if (ex.size) sendResize(watch, ex.size[0], ex.size[1]);
    // The monitor writes the exit file before it closes its connections: record the code
    // before the client sees EOF.
    recordExit = () => {
      if (ex.ExitCode !== null) return;
      const exit = readJsonIfExists<{ exitCode: number }>(files.exitFile);
      if (!exit) return;
      ex.ExitCode = exit.exitCode;
      ex.Running = false;
    };
    let relayed: Promise<unknown> = Promise.resolve();
    if (client && clientView) {
      const relay = await connectMonitor(files.attachSocket);
      relayed = relayAttach(relay, clientView, {
        stdin: !!c.AttachStdin,
        stdout: c.AttachStdout !== false,
        stderr: c.AttachStderr !== false,
        tty: !!c.Tty,
        rawStream,
        // The client's input end is the program's, except on a terminal: dockerd leaves a TTY
        // exec's input open (a `docker exec -it` the user detached from runs on).
        stdinOnce: !c.Tty,
        detachKeys: c.Tty && c.AttachStdin ? parseDetachKeys(c.DetachKeys) : [],
      });
    }
    try {
      await monitored.start(files.startSocket);
    } catch (err) {
      watch.destroy();
      client?.end();
      removeFiles();
      throw err;
    }
    await exited;
    recordExit();
    if (ex.ExitCode === null) ex.ExitCode = 137; // the monitor went without an exit file: killed
    ex.Running = false;
    await relayed;
    removeFiles();
    return ex.ExitCode;
  }

  /** runc and crun: `RUNTIME exec` with our pipes as its stdio. */
  private startThroughCli(ex: ExecInstance, rec: ContainerRecord, client: ClientStream | undefined, rawStream: boolean): Promise<number> {
    const c = ex.Config;
    const rt = this.backend.execCommand();
    const args = [...rt.args, "exec"];
    if (c.Tty) args.push("--tty");
    if (c.WorkingDir) args.push("--cwd", c.WorkingDir);
    for (const e of c.Env ?? []) args.push("--env", e);
    if (c.User) {
      const u = execUser(rec, c.User);
      args.push("--user", `${u.uid}:${u.gid}`);
      for (const g of u.additionalGids) args.push("--additional-gids", String(g));
    }
    if (c.Privileged) args.push("--cap", "ALL");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    ex.pidFile = join(this.dir, `${ex.ID.slice(0, 16)}.pid`);
    args.push("--pid-file", ex.pidFile);
    args.push("--", rec.Id, ...(c.Cmd ?? []));
    const child = spawn(rt.cmd, args, { stdio: [c.AttachStdin && client ? "pipe" : "ignore", "pipe", "pipe"] });
    ex.child = child;
    ex.Pid = child.pid ?? 0;
    const send = (type: number, b: Buffer) => {
      if (!client || client.closed) return;
      client.write(rawStream ? b : frame(type, b));
    };
    if (c.AttachStdout !== false) child.stdout?.on("data", (b: Buffer) => send(1, b));
    else child.stdout?.resume();
    let errText = "";
    child.stderr?.on("data", (b: Buffer) => {
      // The runtime CLI's own failure lines go to the client too: the user needs to see them.
      if (c.AttachStderr !== false) send(2, b);
      errText += b.toString();
    });
    if (client && child.stdin) {
      client.onData((b) => child.stdin?.write(b));
      client.onInputEnd(() => child.stdin?.end());
      child.stdin.on("error", () => {});
    }
    client?.onClose(() => {
      if (ex.Running && !c.Tty) return; // docker exec without -i may half-close; keep running
    });
    return new Promise<number>((resolve) => {
      child.on("error", (err) => {
        errText += err.message;
      });
      child.on("close", (code, signal) => {
        rmSync(ex.pidFile!, { force: true });
        ex.Running = false;
        ex.ExitCode = code ?? (signal ? 128 + parseSignal(signal) : 126);
        if (/executable file not found|no such file or directory|ENOENT/i.test(errText) && ex.ExitCode === 1) ex.ExitCode = 127;
        client?.end();
        resolve(ex.ExitCode);
      });
    });
  }
}
