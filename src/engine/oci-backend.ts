// The OCI runtime under the engine (`gantry daemon --runtime`): Gantry's own runtime library
// (default; its C monitor owns each container) or another runc-compatible CLI (runc, crun),
// driven through its command line with a small Node shim as the container's monitor
// (oci-shim.ts: same log file, attach socket and exit file as Gantry's monitor).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GantryError, conflict } from "../common/errors.ts";
import { Runtime, type HostMount, openCgroups, type CgroupStats, type LinuxResources } from "../runtime/index.ts";
import { runtimeCommand, type ExecBackend } from "./exec.ts";
import { connectMonitor } from "./attach.ts";
import { frame } from "./logs.ts";

export interface MonitorOptions {
  logPath: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  attachSocket: string;
  exitFile: string;
  openStdin?: boolean;
  /** false: written without an fsync (a container removed at its exit) */
  exitFileSync?: boolean;
}

export interface OciBackend extends ExecBackend {
  readonly name: string;
  exists(id: string): boolean;
  /** created | running | paused | stopped, or undefined when the runtime has no such container. */
  status(id: string): string | undefined;
  /** Creates the container; the process must not run user code before start. `pid` is 0 when
   * the runtime only knows it at start. */
  create(id: string, bundle: string, monitor: MonitorOptions, hostMounts?: HostMount[], config?: unknown): Promise<{ pid: number; monitorPid: number }>;
  /** Whether create takes hostMounts (made and undone by the container's monitor). */
  readonly hostMounts: boolean;
  /** Starts it; returns the container's pid. */
  start(id: string): Promise<number>;
  kill(id: string, signal: string, all?: boolean): void;
  delete(id: string, force: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  pids(id: string): number[];
  stats(id: string): CgroupStats;
  oomKillCount(id: string): number;
  cgroupPaths(id: string): Record<string, string>;
  /** Writes new limits into the cgroups of a created, running or paused container (runc update). */
  update(id: string, resources: LinuxResources): void;
  /** Whether the network namespace exists before start (attach before the process runs). */
  readonly netnsBeforeStart: boolean;
  /** The kernel steps recorded at create (Gantry's runtime only: runc and crun keep none). */
  explain?(id: string): ReturnType<Runtime["explain"]>;
}

export class GantryBackend implements OciBackend {
  readonly name = "gantry";
  readonly netnsBeforeStart = true;
  readonly hostMounts = true;
  readonly runtime: Runtime;
  private readonly pidsById = new Map<string, number>();
  /** What create returned, until start takes it, or what the OOM count of an exit opened, until
   * the delete that follows takes it (not kept longer: it holds the OCI config). */
  private readonly createdById = new Map<string, Awaited<ReturnType<Runtime["create"]>>["created"]>();

  constructor(readonly root: string, warn: (m: string) => void) {
    this.runtime = new Runtime(root, warn);
    // Monitors forked by a small spawner, not by the daemon (see Runtime.startSpawner); until
    // it listens, containers start the slower way.
    void this.runtime.startSpawner(join(root, ".spawner.sock")).catch((e: unknown) => warn(`monitor spawner: ${(e as Error).message}`));
  }
  exists(id: string): boolean {
    return this.runtime.state.exists(id);
  }
  status(id: string): string | undefined {
    try {
      return this.runtime.stateOf(id).status;
    } catch {
      return undefined;
    }
  }
  async create(id: string, bundle: string, monitor: MonitorOptions, hostMounts?: HostMount[], config?: unknown): Promise<{ pid: number; monitorPid: number }> {
    const r = await this.runtime.create(id, { bundle, monitor, hostMounts, config });
    this.pidsById.set(id, r.pid);
    this.createdById.set(id, r.created);
    return { pid: r.pid, monitorPid: r.monitorPid ?? 0 };
  }
  async start(id: string): Promise<number> {
    const created = this.createdById.get(id);
    this.createdById.delete(id);
    await this.runtime.start(id, created);
    return this.pidsById.get(id) ?? this.runtime.state.load(id).pid;
  }
  kill(id: string, signal: string, all = false): void {
    this.runtime.kill(id, signal, all);
  }
  delete(id: string, force: boolean): Promise<void> {
    const opened = this.createdById.get(id);
    this.createdById.delete(id);
    this.pidsById.delete(id);
    return this.runtime.delete(id, force, opened);
  }
  pause(id: string): Promise<void> {
    return this.runtime.pause(id);
  }
  resume(id: string): Promise<void> {
    return this.runtime.resume(id);
  }
  pids(id: string): number[] {
    return this.runtime.pids(id);
  }
  stats(id: string): CgroupStats {
    return this.runtime.stats(id);
  }
  oomKillCount(id: string): number {
    const opened = this.createdById.get(id) ?? this.runtime.open(id);
    this.createdById.set(id, opened);
    return opened.cgroups.oomKillCount();
  }
  cgroupPaths(id: string): Record<string, string> {
    return this.runtime.state.load(id).cgroupPaths;
  }
  update(id: string, resources: LinuxResources): void {
    this.runtime.update(id, resources);
  }
  explain(id: string): ReturnType<Runtime["explain"]> {
    return this.runtime.explain(id);
  }
  execCommand(): { cmd: string; args: string[] } {
    const rt = runtimeCommand();
    return { cmd: rt.cmd, args: [...rt.args, "--root", this.root] };
  }
  readonly monitoredExec: NonNullable<ExecBackend["monitoredExec"]> = {
    processOf: (id) => this.runtime.configOf(id).process,
    exec: (id, process, files) =>
      this.runtime.exec(id, {
        process,
        detach: true,
        monitor: { logPath: "", attachSocket: files.attachSocket, openStdin: files.openStdin, exitFile: files.exitFile, startSocket: files.startSocket },
      }),
    start: (startSocket) => this.runtime.startProcess(startSocket, "exec"),
  };
}

/** runc or crun through their CLI; the Node shim (`gantry _oci-shim`) is the monitor. */
export class CliBackend implements OciBackend {
  readonly netnsBeforeStart = false;
  readonly hostMounts = false;

  constructor(
    readonly name: string,
    readonly binary: string,
    readonly root: string,
    private readonly shimCommand: { cmd: string; args: string[] },
  ) {
    const r = spawnSync(binary, ["--version"], { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new GantryError("KERNEL_FEATURE_MISSING", `--runtime ${name}: ${binary} does not run (${r.error?.message ?? r.stderr.trim()})`, {
        hint: `apt-get install ${name}`,
      });
    }
  }

  private cli(args: string[]): string {
    const r = spawnSync(this.binary, ["--root", this.root, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new GantryError("CONFLICT", `${this.name} ${args[0]}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  /** Beside the runtime's root, not in it: runc lists every entry of its root as a container. */
  private pidFile(id: string): string {
    const dir = `${this.root}-pids`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return join(dir, id);
  }
  private sockets = new Map<string, string>();

  exists(id: string): boolean {
    return this.status(id) !== undefined;
  }
  status(id: string): string | undefined {
    const r = spawnSync(this.binary, ["--root", this.root, "state", id], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    try {
      return (JSON.parse(r.stdout) as { status: string }).status;
    } catch {
      return undefined;
    }
  }
  async create(id: string, bundle: string, monitor: MonitorOptions): Promise<{ pid: number; monitorPid: number }> {
    const spec = { runtime: this.binary, root: this.root, id, bundle, pidFile: this.pidFile(id), ...monitor };
    const child = spawn(this.shimCommand.cmd, [...this.shimCommand.args, JSON.stringify(spec)], { stdio: "ignore", detached: true });
    child.unref();
    this.sockets.set(id, monitor.attachSocket);
    // The shim is ready when its attach socket answers.
    const s = await connectMonitor(monitor.attachSocket, 10_000);
    s.destroy();
    return { pid: 0, monitorPid: child.pid ?? 0 };
  }
  async start(id: string): Promise<number> {
    const sockPath = this.sockets.get(id);
    if (!sockPath) throw conflict(`container ${id} was not created by this daemon`);
    const s = await connectMonitor(sockPath);
    s.on("error", () => s.destroy());
    s.write(frame(3, Buffer.from("start")));
    s.end();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (existsSync(this.pidFile(id))) {
        const pid = Number(readFileSync(this.pidFile(id), "utf8").trim());
        if (pid > 0) return pid;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new GantryError("TIMEOUT", `${this.name} did not start container ${id}`);
  }
  kill(id: string, signal: string, all = false): void {
    this.cli(["kill", ...(all ? ["--all"] : []), id, signal.replace(/^SIG/i, "")]);
  }
  async delete(id: string, force: boolean): Promise<void> {
    spawnSync(this.binary, ["--root", this.root, "delete", ...(force ? ["--force"] : []), id]);
    rmSync(this.pidFile(id), { force: true });
  }
  async pause(id: string): Promise<void> {
    this.cli(["pause", id]);
  }
  async resume(id: string): Promise<void> {
    this.cli(["resume", id]);
  }
  pids(id: string): number[] {
    return JSON.parse(this.cli(["ps", "--format", "json", id]) || "[]") as number[];
  }
  private cgroups(id: string) {
    return openCgroups({ cgroupsPath: `/gantry/${id}`, containerId: id, create: false });
  }
  stats(id: string): CgroupStats {
    return this.cgroups(id).stats();
  }
  oomKillCount(id: string): number {
    return this.cgroups(id).oomKillCount();
  }
  cgroupPaths(id: string): Record<string, string> {
    return this.cgroups(id).paths;
  }
  update(id: string, resources: LinuxResources): void {
    // runc and crun read the OCI resources as JSON from stdin with `-r -`.
    const r = spawnSync(this.binary, ["--root", this.root, "update", "-r", "-", id], { encoding: "utf8", input: JSON.stringify(resources) });
    if (r.status !== 0) throw new GantryError("SYSCALL_FAILED", `${this.name} update: ${(r.stderr || r.stdout).trim()}`);
  }
  execCommand(): { cmd: string; args: string[] } {
    return { cmd: this.binary, args: ["--root", this.root] };
  }
}
