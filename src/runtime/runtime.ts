// The OCI runtime as a library: every runc verb is one method here; the CLI in
// src/cli/runtime only parses argv and prints. Input is a bundle (config.json + rootfs).
import type * as SpecParser from "./spec/parse.ts";
import { readFileSync, statSync, existsSync, mkdirSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { childProcess, net } from "../common/lazy-builtins.ts";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { GantryError, conflict } from "../common/errors.ts";
import { writeFileAtomic } from "../common/atomic-file.ts";
import { delegateCgroups, dropPremadeCgroupDirs, journalCgroupWrites, openCgroups, plannedCgroupDirs, premakeCgroupDirs, type CgroupJournalEntry, type CgroupManager } from "./cgroups/index.ts";
import { explainRecord, storedExplain, type ExplainRecord, type ExplainStep } from "./explain.ts";
import { noCgroups, NO_CGROUPS_REASON, requestedLimits } from "./cgroups/none.ts";
import { inUserNamespace } from "./rootless.ts";
import { findHelper, runHelper, runHelperViaSpawner, helperError, type HelperRun } from "./helper.ts";
import { runHooksWarnOnly } from "./hooks.ts";
import { NS_PROC_NAMES, PID_PLACEHOLDER, planCreate, planExec, type CgroupMountSource, type HostMount, type MonitorPlan } from "./plan/plan.ts";
import { parseSignal } from "../common/signals.ts";
import { RecordDecoder, type PlanRecord } from "./plan/wire.ts";
import { isSameLiveProcess, readProcStat } from "../common/process-identity.ts";
import type { IdMapping, NamespaceType, OciConfig, OciProcess, OciState, LinuxResources } from "./spec/oci.ts";
import { StateDir, type ContainerRecord } from "./state.ts";
import { defaultDevices } from "./plan/plan.ts";

export const OCI_VERSION = "1.2.0";

/** A container as `create` left it: its saved record and its open cgroups. */
export interface CreatedContainer {
  record: ContainerRecord;
  cgroups: CgroupManager;
}

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  preserveFds?: number;
  /** foreground: the helper stays as the container's parent and reports its exit (run). */
  foreground?: boolean;
  /** With foreground: the container's stdout/stderr come back as streams instead of going to
   * this process's own (a daemon's build step sends them to its client). */
  captureOutput?: boolean;
  /**
   * Engine mode: the helper stays as the container's parent (like conmon), owns its stdio,
   * writes Docker json-file logs, serves an attach socket and writes the exit file.
   * Containers then survive the engine. See native/src/serve.c for the attach protocol.
   */
  monitor?: MonitorPlan & { exitFile: string };
  /** mounts the monitor makes on the host first (see HostMount in plan/plan.ts) */
  hostMounts?: HostMount[];
  /**
   * Create and start in one go (`run`): the plan has no start socket, so the container's
   * process goes straight on to exec without a round trip through a second caller.
   */
  start?: boolean;
  /**
   * The bundle's config.json as the caller has just written it (an engine): checked as the
   * file would be, without reading and parsing it back.
   */
  config?: unknown;
}

export interface ExecOptions {
  process: OciProcess;
  detach: boolean;
  /**
   * Engine mode: the helper stays as the process's monitor (attach socket with resize, exit
   * file), and the process waits on `startSocket` until `startProcess` connects, so a caller
   * can attach first and miss no output.
   */
  monitor?: MonitorPlan & { exitFile: string; startSocket: string };
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
}

function capLastCap(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
  } catch {
    return 40;
  }
}

function isDirectory(p: string): boolean | undefined {
  try {
    return statSync(p).isDirectory();
  } catch {
    return undefined;
  }
}

/** The devices cgroup rules the runtime always allows (runc's defaults) after the config's own. */
function withDefaultDeviceRules(config: OciConfig): LinuxResources | undefined {
  const res = config.linux?.resources;
  const allow = (type: string, major: number | null, minor: number | null, access = "rwm") => ({ allow: true, type, major, minor, access });
  const rules = [
    ...(res?.devices ?? []),
    ...defaultDevices().map((d) => allow("c", d.major ?? null, d.minor ?? null)),
    // A FIFO ("p") is no device to the devices controller: it needs no rule.
    ...(config.linux?.devices ?? [])
      .filter((d) => d.type !== "p")
      .map((d) => allow(d.type === "u" ? "c" : d.type, d.major ?? null, d.minor ?? null)),
    allow("c", 136, null), // /dev/pts/*
    allow("c", 5, 2), // /dev/ptmx
    allow("c", 5, 1), // /dev/console
  ];
  if (!res && !config.linux?.devices?.length) return res;
  return { ...(res ?? {}), devices: rules };
}

/** The config parser's module, imported once (an engine creates many containers). */
let specParser: Promise<typeof SpecParser> | undefined;

export class Runtime {
  readonly state: StateDir;

  constructor(
    root: string,
    private readonly warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
  ) {
    this.state = new StateDir(root);
  }

  private ociState(rec: ContainerRecord, status: OciState["status"]): OciState {
    const s: OciState = { ociVersion: OCI_VERSION, id: rec.id, status, bundle: rec.bundle };
    if (status !== "stopped") s.pid = rec.pid;
    if (rec.config.annotations) s.annotations = rec.config.annotations;
    return s;
  }

  private cgroups(rec: ContainerRecord): CgroupManager {
    if (rec.noCgroups) return noCgroups(() => rec.pid);
    return openCgroups({ cgroupsPath: rec.cgroupPath, containerId: rec.id, create: false, createdDirs: rec.cgroupCreatedDirs, knownPaths: rec.cgroupPaths });
  }

  statusOf(rec: ContainerRecord): OciState["status"] {
    if (!isSameLiveProcess(rec.pid, rec.pidStartTime)) return "stopped";
    if (!rec.started) return "created";
    try {
      if (this.cgroups(rec).isFrozen()) return "paused";
    } catch {
      /* cgroup gone: report what the process says */
    }
    return "running";
  }

  /**
   * The kernel steps recorded when the container was created (explain.ts), each with whether
   * it has run: a step after the wait for `start` ran once start succeeded.
   */
  explain(id: string): ExplainRecord {
    const rec = this.state.load(id);
    const stored = this.state.loadExplain(id);
    if (!stored) throw new GantryError("NOT_FOUND", `container ${id} has no recorded setup steps (created by an older Gantry)`);
    const record = explainRecord(stored);
    return { ...record, steps: record.steps.map((s): ExplainStep => ({ ...s, done: s.when !== "start" || rec.started })) };
  }

  stateOf(id: string): OciState {
    const rec = this.state.load(id);
    return this.ociState(rec, this.statusOf(rec));
  }

  private spawner?: { socket: string; child: ChildProcess };

  /**
   * Engines: fork every container's monitor from one small long-lived process (see
   * native/src/spawner.c) instead of from this one, whose size makes each fork costly.
   * Monitors outlive it; it ends with this process. Until it listens, and whenever it is
   * gone, create spawns monitors directly.
   */
  async startSpawner(socket: string): Promise<void> {
    this.stopSpawner();
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    const child = childProcess().spawn(findHelper(), ["--spawner", socket], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, GANTRY_SPAWNER_PARENT: String(process.pid) },
    });
    child.unref();
    child.on("exit", () => {
      if (this.spawner?.child === child) this.spawner = undefined;
    });
    const until = Date.now() + 5000;
    while (!existsSync(socket)) {
      if (child.exitCode !== null || Date.now() > until) throw new GantryError("INTERNAL", `the monitor spawner did not start listening on ${socket}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    this.spawner = { socket, child };
  }

  stopSpawner(): void {
    this.spawner?.child.kill();
    this.spawner = undefined;
  }

  /** The helper for a monitor-mode plan: through the spawner when there is one. */
  private async runMonitor(plan: PlanRecord[], preserveFds: number | undefined): Promise<HelperRun> {
    if (this.spawner && !preserveFds) {
      try {
        return await runHelperViaSpawner(this.spawner.socket, plan);
      } catch (err) {
        if (!(err instanceof GantryError && err.code === "UNAVAILABLE")) throw err;
        this.spawner = undefined;
      }
    }
    return runHelper(plan, { preserveFds, detachStdio: true });
  }

  async create(
    id: string,
    opts: CreateOptions,
  ): Promise<{
    pid: number;
    monitorPid?: number;
    exited?: Promise<{ code: number; signal: number }>;
    output?: HelperRun["output"];
    /** what was saved and the cgroups opened: `delete` takes them back instead of reading them again */
    created: CreatedContainer;
  }> {
    const bundle = resolve(opts.bundle);
    // Loaded on demand: the schema library is the largest part of the CLI's start-up, and
    // only create needs it (state, start, kill, delete read Gantry's own state file).
    const { loadBundleConfig, parseConfig } = await (specParser ??= import("./spec/parse.ts"));
    const config = opts.config !== undefined ? parseConfig(opts.config, join(bundle, "config.json")) : loadBundleConfig(bundle);
    if (!config.root?.path) throw new GantryError("INVALID_SPEC", "root.path: config.json names no root filesystem", { path: "root.path" });
    const rootfs = isAbsolute(config.root.path) ? config.root.path : join(bundle, config.root.path);
    if (!isDirectory(rootfs)) {
      throw new GantryError("INVALID_SPEC", `root.path: ${rootfs} is not a directory`, { path: "root.path" });
    }
    // process is optional at create (the spec makes only start fail without one).
    const process = config.process;
    if (process?.terminal && !opts.consoleSocket && !opts.foreground && !opts.monitor) {
      throw new GantryError("INVALID_ARGUMENT", "process.terminal is true: --console-socket is required with create", {
        hint: "pass --console-socket PATH, or use `run` for an interactive terminal",
      });
    }
    if (process?.apparmorProfile) this.warn("AppArmor is not available on this host: process.apparmorProfile ignored");
    if (process?.selinuxLabel) this.warn("SELinux is not available on this host: process.selinuxLabel ignored");
    if (config.linux?.resources?.memory?.kernel) {
      this.warn("linux.resources.memory.kernel ignored: kernel memory limits are deprecated, and Linux 6.x accepts the write without enforcing it");
    }

    this.state.reserve(id);
    let cg: CgroupManager | undefined;
    // An engine (monitor mode) has its directories made on the thread pool first, so its event
    // loop serves others meanwhile; a CLI create makes them below, as it always has.
    const premade = opts.monitor ? plannedCgroupDirs({ cgroupsPath: config.linux?.cgroupsPath, containerId: id }) : [];
    try {
      await premakeCgroupDirs(premade);
      // Cgroups are files: create them and write the limits before the process exists.
      // Every cgroup file written here is journalled for `explain`, as written.
      let opened;
      try {
        opened = journalCgroupWrites(() => openContainerCgroups(config, id));
      } finally {
        dropPremadeCgroupDirs(premade);
      }
      cg = opened.result.cg;
      // A user namespace: its root gets the cgroup (delegation), as with crun.
      const root = newUsernsRoot(config);
      if (root) delegateCgroups(Object.values(cg.paths), root.uid, root.gid);
      const hierarchies: Record<string, string> = {};
      for (const dir of Object.values(cg.paths)) {
        const m = /^\/sys\/fs\/cgroup\/([^/]+)\//.exec(dir + "/");
        if (m && m[1] !== "unified") hierarchies[m[1]!] = dir;
      }
      const cgroupMounts: CgroupMountSource = { version: cg.version, hierarchies, unified: cg.paths.unified };
      const hookState = JSON.stringify({ ...this.ociState({ id, bundle, config } as ContainerRecord, "created"), pid: 0 }).replace(
        '"pid":0',
        `"pid":${PID_PLACEHOLDER}`,
      );
      // cgroup v2 has no devices.allow: the rules become a BPF program on the cgroup.
      const program = cg.version === 2 && cg.paths.unified ? cg.deviceFilter(withDefaultDeviceRules(config)) : undefined;
      const plan = planCreate(config, {
        deviceFilter: program && { cgroupDir: cg.paths.unified!, instructions: program.instructions, license: program.license },
        mode: opts.monitor ? "monitor" : opts.foreground ? "foreground" : "detach",
        hostMounts: opts.hostMounts,
        monitor: opts.monitor,
        rootfs,
        startSocket: opts.start ? undefined : this.state.startSocket(id),
        terminal: process?.terminal ? (opts.consoleSocket ? "socket" : "monitor") : "none",
        consoleSocket: opts.consoleSocket ? resolve(opts.consoleSocket) : undefined,
        cgroupProcsFiles: cg.procsFiles(),
        cgroupMounts,
        hookState,
        capLastCap: capLastCap(),
        rootless: inUserNamespace(),
        // Only an engine's monitor keeps an exit file: `run` (foreground) gets the status over
        // the report channel, and a file would cost an fsync on every run.
        exitFile: opts.monitor?.exitFile,
        noPivot: opts.noPivot,
        preserveFds: opts.preserveFds,
        isDirectory,
      });
      const run = opts.monitor ? await this.runMonitor(plan, opts.preserveFds) : await runHelper(plan, { preserveFds: opts.preserveFds, captureOutput: opts.captureOutput && opts.foreground });
      const stat = readProcStat(run.pid);
      const rec: ContainerRecord = {
        id,
        bundle,
        rootfs,
        pid: run.pid,
        pidStartTime: stat?.startTime ?? 0,
        created: new Date().toISOString(),
        started: !!opts.start,
        config,
        cgroupPath: config.linux?.cgroupsPath ?? "",
        cgroupCreatedDirs: [...cg.createdDirs],
        cgroupPaths: cg.paths,
        ...(opened.result.none ? { noCgroups: true } : {}),
        owner: "root",
      };
      this.state.saveExplain(id, storedExplain({ plan, stepsDone: run.stepsDone, pid: run.pid, cgroupJournal: opened.journal }), true);
      this.state.save(rec);
      if (opts.pidFile) writeFileAtomic(resolve(opts.pidFile), String(run.pid), 0o644);
      if (opts.start) await runHooksWarnOnly(rec.config.hooks?.poststart, this.ociState(rec, "running"), this.warn);
      return {
        pid: run.pid,
        monitorPid: opts.monitor ? run.helperPid : undefined,
        exited: opts.foreground ? run.exited : undefined,
        output: run.output,
        created: { record: rec, cgroups: cg },
      };
    } catch (err) {
      await cg?.destroy().catch(() => {});
      this.state.remove(id);
      throw err;
    }
  }

  /** `created`: what this process's `create` returned for the container (an engine starting
   * what it just made), so its state file is not read back. */
  async start(id: string, created?: CreatedContainer): Promise<void> {
    const rec = created?.record.id === id ? created.record : this.state.load(id);
    const status = this.statusOf(rec);
    if (status !== "created") throw conflict(`cannot start container ${id}: it is ${status}, not created`);
    if (!rec.config.process) {
      // Created without a process (allowed), it has nothing to run: start fails, as the
      // spec requires, and the waiting init goes, so the container is stopped.
      process.kill(rec.pid, "SIGKILL");
      throw new GantryError("INVALID_SPEC", `cannot start container ${id}: config.json has no process to run`, { path: "process" });
    }
    await this.startProcess(this.state.startSocket(id), `container ${id}`);
    rec.started = true;
    this.state.saveStarted(rec);
    await runHooksWarnOnly(rec.config.hooks?.poststart, this.ociState(rec, "running"), this.warn);
  }

  /** Lets a process waiting on its start socket go on to exec (start, or an exec's monitor). */
  startProcess(startSocket: string, what: string): Promise<void> {
    return new Promise<void>((resolveStart, reject) => {
      const sock = net().connect(startSocket);
      const decoder = new RecordDecoder();
      let failed: PlanRecord | undefined;
      sock.on("data", (chunk) => {
        for (const r of decoder.push(chunk)) if (r[0] === "error") failed = r;
      });
      sock.on("error", (err) => reject(new GantryError("CONFLICT", `cannot start ${what}: ${err.message}`)));
      sock.on("close", () => (failed ? reject(helperError(failed, [])) : resolveStart()));
    });
  }

  kill(id: string, signal: string, all = false): void {
    const rec = this.state.load(id);
    const sig = parseSignal(signal);
    const status = this.statusOf(rec);
    if (status === "stopped") throw conflict(`container ${id} is not running`);
    if (all) {
      for (const pid of this.cgroups(rec).pids()) {
        try {
          process.kill(pid, sig);
        } catch {
          /* exited meanwhile */
        }
      }
      return;
    }
    process.kill(rec.pid, sig);
  }

  /**
   * `created`: what this process's `create` returned for the container (`run` deletes what it
   * just made), so the state file and the host's cgroup mounts are not read again.
   */
  async delete(id: string, force = false, created?: CreatedContainer): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = created?.record.id === id ? created.record : this.state.load(id);
    } catch (err) {
      if (force && err instanceof GantryError && err.code === "NOT_FOUND") return;
      throw err;
    }
    const status = this.statusOf(rec);
    // The spec refuses delete of anything not stopped, a created container included
    // (runc deletes a created one silently); engines pass --force.
    if (status !== "stopped" && !force) {
      throw conflict(`cannot delete container ${id}: it is ${status}`, {
        hint: `stop it first (gantry-runtime kill ${id} KILL) or use delete --force`,
      });
    }
    const cg = created?.record === rec ? created.cgroups : this.cgroups(rec);
    if (status !== "stopped") {
      if (status === "paused") await cg.thaw().catch(() => {});
      try {
        process.kill(rec.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    // The common case: the init is gone and took every process along (its pid namespace
    // ended with it), so each cgroup goes with one rmdir, without cgroup.procs read in every
    // hierarchy first. One still busy: what is left in it is found and killed.
    const emptied = status === "stopped" && (await cg.destroy({ onlyIfEmpty: true }));
    if (!emptied) await this.killLeftThenDestroy(id, rec, cg);
    await runHooksWarnOnly(rec.config.hooks?.poststop, this.ociState(rec, "stopped"), this.warn);
    await this.state.removeAsync(id);
  }

  /** Everything left in the container's cgroups goes (runc does the same for a shared pid
   * namespace), then the cgroups. */
  private async killLeftThenDestroy(id: string, rec: ContainerRecord, cg: CgroupManager): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      let pids: number[] = [];
      try {
        pids = cg.pids();
      } catch {
        pids = [];
      }
      const alive = isSameLiveProcess(rec.pid, rec.pidStartTime);
      if (!pids.length && !alive) break;
      if (Date.now() > deadline) throw new GantryError("TIMEOUT", `container ${id}: processes ${pids.join(",")} did not exit`);
      for (const p of pids) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await cg.destroy();
  }

  async pause(id: string): Promise<void> {
    const rec = this.state.load(id);
    const status = this.statusOf(rec);
    if (status !== "running") throw conflict(`cannot pause container ${id}: it is ${status}`);
    await this.cgroups(rec).freeze();
  }

  async resume(id: string): Promise<void> {
    const rec = this.state.load(id);
    const status = this.statusOf(rec);
    if (status !== "paused") throw conflict(`cannot resume container ${id}: it is ${status}, not paused`);
    await this.cgroups(rec).thaw();
  }

  /**
   * runc's `update`: writes new limits into a created, running or paused container's cgroups
   * now, then keeps them in its state (merged over the config's resources, so what is not
   * named stays). The kernel refuses what it cannot do; a memory limit below what the
   * container uses (EBUSY: nothing more could be reclaimed) is said in runc's words.
   */
  update(id: string, resources: LinuxResources): void {
    const rec = this.state.load(id);
    const status = this.statusOf(rec);
    if (status === "stopped") throw conflict(`cannot update container ${id}: it is stopped`);
    const cg = this.cgroups(rec);
    const written: CgroupJournalEntry[] = [];
    try {
      journalCgroupWrites(() => cg.apply(resources), written);
    } catch (err) {
      this.recordUpdate(id, written);
      if (err instanceof GantryError && err.details.errno === "EBUSY" && /memory\.(limit_in_bytes|max)$/.test(err.details.path ?? "")) {
        const stats = cg.stats().memory;
        throw conflict(`unable to set memory limit to ${resources.memory?.limit} (current usage: ${stats.usage.usage ?? 0}, peak usage: ${stats.usage.max ?? 0})`, {
          path: err.details.path,
          errno: "EBUSY",
        });
      }
      throw err;
    }
    const old = rec.config.linux?.resources ?? {};
    const merged: LinuxResources = { ...old };
    for (const key of Object.keys(resources) as (keyof LinuxResources)[]) {
      const next = resources[key];
      const prev = old[key];
      merged[key] = (next && prev && typeof next === "object" && !Array.isArray(next) ? { ...prev, ...next } : next) as never;
    }
    rec.config.linux = { ...(rec.config.linux ?? {}), resources: merged };
    // A hierarchy mounted for the update (net_cls, net_prio) holds a directory of the
    // container's now: later commands open the cgroups from these recorded paths.
    rec.cgroupPaths = { ...cg.paths };
    rec.cgroupCreatedDirs = [...cg.createdDirs];
    this.state.save(rec);
    this.recordUpdate(id, written);
  }

  /** `update`'s cgroup writes join the container's explain record, as made. */
  private recordUpdate(id: string, written: readonly CgroupJournalEntry[]): void {
    const record = this.state.loadExplain(id);
    if (!record || !written.length) return;
    (record.updates ??= []).push({ at: new Date().toISOString(), journal: [...written] });
    this.state.saveExplain(id, record);
  }

  pids(id: string): number[] {
    const rec = this.state.load(id);
    return this.cgroups(rec).pids();
  }

  stats(id: string) {
    const rec = this.state.load(id);
    if (this.statusOf(rec) === "stopped") throw conflict(`container ${id} is not running`);
    return this.cgroups(rec).stats();
  }

  oomKillCount(id: string): number {
    return this.cgroups(this.state.load(id)).oomKillCount();
  }

  /** The container's record and cgroups, read once for several calls (an engine's exit reads
   * the OOM count, then deletes: `delete(id, true, opened)`). */
  open(id: string): CreatedContainer {
    const record = this.state.load(id);
    return { record, cgroups: this.cgroups(record) };
  }

  list(): { rec: ContainerRecord; status: OciState["status"] }[] {
    const out: { rec: ContainerRecord; status: OciState["status"] }[] = [];
    for (const id of this.state.ids()) {
      try {
        const rec = this.state.load(id);
        out.push({ rec, status: this.statusOf(rec) });
      } catch {
        /* half-created or removed meanwhile */
      }
    }
    return out;
  }

  async exec(id: string, opts: ExecOptions): Promise<{ pid: number; monitorPid?: number; exited?: Promise<{ code: number; signal: number }> }> {
    const rec = this.state.load(id);
    const status = this.statusOf(rec);
    if (status !== "running" && status !== "created") throw conflict(`cannot exec in container ${id}: it is ${status}`);
    const namespaces = (rec.config.linux?.namespaces ?? []).map((n) => n.type as NamespaceType);
    for (const t of namespaces) {
      if (!existsSync(`/proc/${rec.pid}/ns/${NS_PROC_NAMES[t]}`)) {
        throw new GantryError("KERNEL_FEATURE_MISSING", `cannot join the ${t} namespace: /proc/${rec.pid}/ns/${NS_PROC_NAMES[t]} is missing`);
      }
    }
    const cg = this.cgroups(rec);
    const plan = planExec(rec.config, opts.process, {
      mode: opts.monitor ? "monitor" : opts.detach ? "detach" : "foreground",
      monitor: opts.monitor,
      exitFile: opts.monitor?.exitFile,
      startSocket: opts.monitor?.startSocket,
      targetPid: rec.pid,
      namespaces,
      terminal: opts.process.terminal ? (opts.consoleSocket ? "socket" : "monitor") : "none",
      consoleSocket: opts.consoleSocket ? resolve(opts.consoleSocket) : undefined,
      cgroupProcsFiles: cg.procsFiles(),
      cgroupUnified: cg.paths.unified,
      capLastCap: capLastCap(),
      preserveFds: opts.preserveFds,
    });
    const run = opts.monitor ? await this.runMonitor(plan, opts.preserveFds) : await runHelper(plan, { preserveFds: opts.preserveFds });
    if (opts.pidFile) writeFileAtomic(resolve(opts.pidFile), String(run.pid), 0o644);
    if (opts.monitor) return { pid: run.pid, monitorPid: run.helperPid };
    return { pid: run.pid, exited: opts.detach ? undefined : run.exited };
  }

  configOf(id: string): OciConfig {
    return this.state.load(id).config;
  }
}

/**
 * The container's cgroups, made and limited. Rootless (in a user namespace that is not the
 * host's) where the host's cgroups cannot be written, the container runs without any, as with
 * runc and crun — unless the config asks for limits, which are refused rather than dropped.
 */
function openContainerCgroups(config: OciConfig, id: string): { cg: CgroupManager; none: boolean } {
  const resources = withDefaultDeviceRules(config);
  try {
    return { cg: openCgroups({ cgroupsPath: config.linux?.cgroupsPath, containerId: id, resources, create: true }), none: false };
  } catch (err) {
    const errno = err instanceof GantryError ? err.details.errno : (err as NodeJS.ErrnoException).code;
    if (!inUserNamespace() || !(errno === "EACCES" || errno === "EPERM" || errno === "EROFS")) throw err;
    const asked = requestedLimits(config.linux?.resources);
    if (asked.length) {
      throw new GantryError("UNSUPPORTED_OPTION", `${asked.join(", ")}: resource limits need cgroups, and ${NO_CGROUPS_REASON}`, {
        path: asked[0],
        hint: "drop the limits, or run the container with a root runtime",
        cause: err,
      });
    }
    return { cg: noCgroups(() => 0), none: true };
  }
}

/** The host ids of the container's root when it has a user namespace (new, or joined with its maps given). */
function newUsernsRoot(config: OciConfig): { uid: number; gid: number } | undefined {
  const linux = config.linux;
  if (!linux?.namespaces?.some((n) => n.type === "user")) return undefined;
  const host = (maps: readonly IdMapping[] | undefined) => maps?.find((m) => m.containerID === 0)?.hostID;
  const uid = host(linux.uidMappings);
  const gid = host(linux.gidMappings);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}
