// Reading and writing cgroup files. Cgroups are files: a limit is a write into a file, a
// process joins by a write into cgroup.procs. Every failure names the file and the value.
import { closeSync, existsSync, mkdir, mkdirSync, openSync, readdirSync, readFileSync, rmdir, rmdirSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { GantryError } from "../../common/errors.ts";
import type { CgroupFile } from "./types.ts";

/** Why a file can be missing, by file-name prefix; the first match wins. */
const missingReasons: Array<[string, string]> = [
  ["blkio.leaf_weight", "the kernel has no CFQ scheduler, so no blkio leaf weight support"],
  ["blkio.weight", "the kernel has no blkio weight support: neither CFQ nor BFQ"],
  ["blkio.bfq.", "the kernel has no blkio weight support: neither CFQ nor BFQ"],
  ["io.weight", "the kernel has no io weight support: no BFQ scheduler or io.cost"],
  ["io.bfq.", "the kernel has no io weight support: no BFQ scheduler or io.cost"],
  ["memory.memsw.", "swap accounting is off; boot with swapaccount=1"],
  ["memory.swap.", "swap accounting is off; boot with swapaccount=1"],
  ["cpu.rt_", "the kernel was built without CONFIG_RT_GROUP_SCHED"],
  ["cpu.cfs_burst_us", "the kernel is older than 5.14, which added CFS burst"],
  ["cpu.max.burst", "the kernel is older than 5.14, which added CFS burst"],
  ["cpu.idle", "the kernel is older than 5.15, which added SCHED_IDLE cgroups"],
  ["cpu.cfs_", "the kernel was built without CONFIG_CFS_BANDWIDTH"],
  ["cpu.max", "the kernel was built without CONFIG_CFS_BANDWIDTH"],
  ["hugetlb.", "the kernel has no huge pages of that size"],
];

function missingReason(file: string, controller: string): string {
  for (const [prefix, reason] of missingReasons) if (file.startsWith(prefix)) return reason;
  return `the ${controller} controller does not provide it`;
}

/**
 * Writes each file in order. A missing file means the kernel lacks the feature the user
 * asked for: that is KERNEL_FEATURE_MISSING naming the OCI field, the file and the reason,
 * never a silent skip.
 */
export function writeCgroupFiles(dir: string, controller: string, files: readonly CgroupFile[]): void {
  let open: { path: string; fd: number } | undefined;
  const closeOpen = () => {
    if (open) closeSync(open.fd);
    open = undefined;
  };
  try {
    for (const [i, f] of files.entries()) {
      const path = join(dir, f.file);
      if (open?.path === path) {
        writeCgroupValue(path, f.value, f.field, open.fd);
        continue;
      }
      closeOpen();
      checkCgroupFile(path, f, controller);
      // A run of writes to one file (v1's devices.allow takes one rule per write) shares one open.
      if (files[i + 1]?.file === f.file) open = { path, fd: openCgroupFile(path, f) };
      writeCgroupValue(path, f.value, f.field, open?.fd);
    }
  } finally {
    closeOpen();
  }
}

function openCgroupFile(path: string, f: CgroupFile): number {
  try {
    return openSync(path, "w");
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new GantryError("SYSCALL_FAILED", `cannot set ${f.field}: open ${path}: ${errno}`, { path, errno, step: "cgroup write", cause: err });
  }
}

function checkCgroupFile(path: string, f: CgroupFile, controller: string): void {
  if (existsSync(path)) return;
  throw new GantryError(
    "KERNEL_FEATURE_MISSING",
    `cannot set ${f.field}: ${path} of the ${controller} controller does not exist (${missingReason(f.file, controller)})`,
    { path, hint: `remove ${f.field} from linux.resources or use a kernel with that ${controller} feature` },
  );
}

/** A directory made or a file written in a cgroup filesystem, as journalled for `explain`. */
export type CgroupJournalEntry = { op: "mkdir"; path: string } | { op: "write"; path: string; value: string };

/** The entries made during journalCgroupWrites (runtime/explain.ts). */
let journal: CgroupJournalEntry[] | undefined;

/**
 * Runs `fn` and returns every cgroup directory it made and file it wrote, in order, with the
 * values. Cgroup writes are synchronous, so nothing else can come in between: the journal is
 * exactly `fn`'s.
 */
export function journalCgroupWrites<T>(fn: () => T, entries: CgroupJournalEntry[] = []): { result: T; journal: CgroupJournalEntry[] } {
  // `entries` holds what was done even when fn throws halfway: those writes happened too.
  const outer = journal;
  journal = entries;
  try {
    return { result: fn(), journal: entries };
  } finally {
    journal = outer;
    outer?.push(...entries);
  }
}

/** One write; the kernel validates the value, so EINVAL/EBUSY/EPERM come back here. */
export function writeCgroupValue(path: string, value: string, field = "cgroup value", fd?: number): void {
  try {
    if (fd === undefined) writeFileSync(path, value);
    else writeSync(fd, value);
    journal?.push({ op: "write", path, value });
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new GantryError("SYSCALL_FAILED", `cannot set ${field}: write ${JSON.stringify(value)} to ${path}: ${errno}`, {
      path,
      errno,
      step: "cgroup write",
      cause: err,
    });
  }
}

export function readCgroupFile(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new GantryError("SYSCALL_FAILED", `read ${path}: ${errno}`, { path, errno, step: "cgroup read", cause: err });
  }
}

/** Reads a file if it exists; undefined when the kernel does not provide it. */
export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/** A number from a single-value file; "max" (v2) and absent map to `fallback`. */
export function readNumber(path: string, fallback = 0): number {
  const text = readOptional(path);
  if (text === undefined || text === "" || text === "max") return fallback;
  const n = Number(text);
  return Number.isFinite(n) ? n : fallback;
}

/** Directories premakeCgroupDirs made, not yet taken by makeCgroupDirs. */
const premade = new Set<string>();

/**
 * Makes a container's cgroup directories ahead, all at once on the thread pool: a mkdir in a
 * v1 hierarchy costs the kernel ~0.1 ms (the controller's files are made with it), a dozen
 * of them per container, which would otherwise stop an engine's event loop. makeCgroupDirs
 * then takes each as made by itself (journalled, recorded for destroy). One that fails here
 * (a parent missing, EEXIST, EPERM) is left to makeCgroupDirs to make or report. Callback fs,
 * not fs/promises: the runtime CLI bundles this file (see atomic-file.ts).
 */
export async function premakeCgroupDirs(dirs: readonly string[]): Promise<void> {
  await Promise.all(
    dirs.map(
      (d) =>
        new Promise<void>((done) =>
          mkdir(d, (err) => {
            if (!err) premade.add(d);
            done();
          }),
        ),
    ),
  );
}

/** Removes what premakeCgroupDirs made and nothing took (the create failed before). */
export function dropPremadeCgroupDirs(dirs: readonly string[]): void {
  for (const d of dirs) if (premade.delete(d)) removeDirsNow([d]);
}

/**
 * mkdir -p that reports which directories it made, ancestors first, so destroy removes
 * those and never a directory someone else created.
 */
export function makeCgroupDirs(dir: string): string[] {
  if (premade.delete(dir)) {
    journal?.push({ op: "mkdir", path: dir });
    return [dir];
  }
  // The common case in one syscall: the parent is there (a container's cgroup under /gantry).
  try {
    mkdirSync(dir);
    journal?.push({ op: "mkdir", path: dir });
    return [dir];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return [];
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new GantryError("SYSCALL_FAILED", `mkdir ${dir}: ${(err as NodeJS.ErrnoException).code ?? "EIO"}`, { path: dir, errno: (err as NodeJS.ErrnoException).code ?? "EIO", step: "cgroup create", cause: err });
  }
  const created: string[] = [];
  // Bounded by time, not attempts: a busy machine can lose many rounds in a row to a remover
  // that runs between our look and our mkdir, yet each round is only a few syscalls.
  const deadline = Date.now() + 2000;
  for (;;) {
    const missing: string[] = [];
    for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
    let failed: NodeJS.ErrnoException | undefined;
    for (const d of missing) {
      try {
        mkdirSync(d);
        journal?.push({ op: "mkdir", path: d });
        if (!created.includes(d)) created.push(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue; // a concurrent create of a shared parent is fine
        failed = err as NodeJS.ErrnoException;
        break;
      }
    }
    if (!failed) return created;
    // ENOENT: another runtime's last container removed a shared parent (/gantry) between our
    // look and our mkdir. Look again: once our directory exists, the parent cannot go.
    if (failed.code === "ENOENT" && Date.now() < deadline) continue;
    const errno = failed.code ?? "EIO";
    throw new GantryError("SYSCALL_FAILED", `mkdir ${failed.path ?? dir}: ${errno}`, { path: failed.path ?? dir, errno, step: "cgroup create", cause: failed });
  }
}

/** The directory operations cgroup removal needs; tests pass a fake to drive EBUSY. */
export interface CgroupDirOps {
  rmdir(dir: string): void;
  /** Names of the sub-directories (sub-cgroups) of `dir`; [] when it is gone. */
  subdirs(dir: string): string[];
  exists(dir: string): boolean;
  /** Pids still listed in `dir` (for the error when it stays busy). */
  tasks(dir: string): number[];
  sleep(ms: number): Promise<unknown>;
  now(): number;
}

export const realCgroupDirOps: CgroupDirOps = {
  rmdir: (dir) => rmdirSync(dir),
  subdirs: (dir) => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
  },
  exists: (dir) => existsSync(dir),
  tasks: (dir) => (readOptional(join(dir, "tasks")) ?? readOptional(join(dir, "cgroup.threads")) ?? "").split("\n").filter(Boolean).map(Number),
  sleep: (ms) => sleep(ms),
  now: () => Date.now(),
};

/** How long a busy cgroup is retried by default: generous, a loaded machine can take seconds to
 * tear down a large exiting process's memory, and a delete that gives up leaves the directory. */
export const CGROUP_BUSY_TIMEOUT_MS = 10_000;

/**
 * Removes a cgroup directory and any sub-cgroups the container made inside it (deepest first),
 * returning only once it is gone. rmdir fails with EBUSY while the cgroup is still populated:
 * after the last task is reaped its threads may still be in the kernel's exit path (freeing a
 * large address space takes a while), and cgroup.procs no longer lists a leader whose threads
 * are all exiting. So EBUSY is retried with a back-off (5 ms doubling to 200 ms) for
 * `timeoutMs`; after that, or on any other errno, a SYSCALL_FAILED error names the directory.
 * `timeoutMs: 0` tries once. Shared ancestors take removeAncestorIfEmpty instead: the walk
 * into sub-cgroups is for the container's own.
 */
export async function removeCgroupTree(dir: string, opts: { timeoutMs?: number; ops?: CgroupDirOps } = {}): Promise<void> {
  const ops = opts.ops ?? realCgroupDirOps;
  const timeoutMs = opts.timeoutMs ?? CGROUP_BUSY_TIMEOUT_MS;
  // The common case first: a cgroup with no sub-cgroups whose tasks are gone goes with one
  // rmdir(2), without reading the directory (a container has a cgroup in every hierarchy).
  let failed: unknown;
  try {
    ops.rmdir(dir);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    failed = err;
  }
  const subdirs = ops.subdirs(dir);
  for (const name of subdirs) await removeCgroupTree(join(dir, name), opts);
  if (subdirs.length > 0) failed = undefined; // worth trying again at once
  const started = ops.now();
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      if (failed) throw failed;
      ops.rmdir(dir);
      return;
    } catch (err) {
      failed = undefined;
      const errno = (err as NodeJS.ErrnoException).code ?? "EIO";
      if (errno === "ENOENT") return;
      const waited = ops.now() - started;
      if (errno !== "EBUSY" || waited >= timeoutMs) {
        const left = errno === "EBUSY" ? ops.tasks(dir) : [];
        const still = errno === "EBUSY" && timeoutMs > 0 ? ` (still busy after ${waited} ms${left.length ? `; tasks in it: ${left.join(" ")}` : ""})` : "";
        throw new GantryError("SYSCALL_FAILED", `rmdir ${dir}: ${errno}${still}`, {
          path: dir,
          errno,
          step: "cgroup destroy",
          hint: errno === "EBUSY" ? "processes are still in the cgroup; kill them first" : undefined,
          cause: err,
        });
      }
      await ops.sleep(Math.min(delay, Math.max(1, timeoutMs - waited)));
    }
  }
}

/**
 * removeCgroupTree; with `once`, one rmdir on the thread pool (a v1 rmdir costs the kernel
 * ~0.1 ms, a dozen per container) whose failure is false: still busy, or sub-cgroups in it,
 * which the caller then removes the long way.
 */
export async function removeLeafCgroup(dir: string, once: boolean): Promise<boolean> {
  if (!once) {
    await removeCgroupTree(dir);
    return true;
  }
  return new Promise((done) => rmdir(dir, (err) => done(!err || err.code === "ENOENT")));
}

/**
 * A created ancestor (/gantry) goes when it is empty: one rmdir, never a walk into it. Its
 * sub-directories are other containers' cgroups, and one being created is empty (no task
 * has joined yet) between its mkdir and its process's placement: removing it there made
 * that container's start fail ("write ... cgroup.procs: no such file or directory").
 */
export function removeAncestorIfEmpty(dir: string, ops: Pick<CgroupDirOps, "rmdir"> = realCgroupDirOps): void {
  try {
    ops.rmdir(dir);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? "EIO";
    // busy (v1 with children or tasks) or not empty: other containers' still; gone: fine
    if (errno === "EBUSY" || errno === "ENOTEMPTY" || errno === "EEXIST" || errno === "ENOENT") return;
    throw new GantryError("SYSCALL_FAILED", `rmdir ${dir}: ${errno}`, { path: dir, errno, step: "cgroup destroy", cause: err });
  }
}

/** Best-effort synchronous rmdir, deepest first: undoing a create that failed half-way. */
export function removeDirsNow(dirs: readonly string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // already gone, or someone else's cgroup now lives below it
    }
  }
}

/** Pids listed in cgroup.procs of `dir` and of every cgroup below it. */
export function collectPids(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    const text = readOptional(join(d, "cgroup.procs"));
    if (text === undefined) return;
    for (const line of text.split("\n")) if (line) out.push(Number(line));
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // removed while walking
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return out;
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function pollUntil(check: () => boolean, timeoutMs: number, onRetry?: () => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    onRetry?.();
    await sleep(delay);
  }
}

/** A plain timer promise: node:timers/promises would be one more module for the runtime CLI to load at every start. */
function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
