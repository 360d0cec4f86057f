// The glass box of one engine container, as `gantry explain` and the dashboard read it:
//
//   GET /gantry/containers/{id}/explain → { id, name, pid, recordedAt, steps: [{step, by, when, done, ...}] }
//     the kernel steps the runtime recorded when it created the container (runtime/explain.ts)
//   GET /gantry/containers/{id}/glass → { id, name, pid, namespaces: [{type, inode, path, sharedWith}],
//     cgroup: {path, paths, files: [{name, value, path}]}, uidMap, gidMap }
//     what the kernel holds now: /proc/PID/ns/*, the limit files of its cgroup, its id maps
//
// sharedWith names the other running containers that hold the same namespace, and "host"
// when it is the daemon's own. Both views are read, never stored.
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../common/errors.ts";
import type { ExplainStep } from "../runtime/index.ts";
import type { ContainerRecord } from "./container-store.ts";
import { hasProcess } from "./container-state.ts";
import type { Engine } from "./engine.ts";

/** The namespaces /proc/PID/ns lists, in `ls` order (pid_for_children and friends left out: they follow pid). */
const NS_TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/** The files of a container's cgroup that hold its limits (and what is charged against them). */
const LIMIT_FILES = [
  // cgroup v2
  "memory.max", "memory.high", "memory.low", "memory.swap.max", "memory.current", "cpu.max", "cpu.weight", "pids.max", "pids.current", "cpuset.cpus", "cpuset.mems", "io.max", "io.weight",
  // cgroup v1
  "memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.usage_in_bytes", "memory.swappiness",
  "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuset.cpus", "cpuset.mems", "blkio.weight",
];

export interface GlassNamespace {
  type: string;
  inode: number;
  path: string;
  sharedWith: string[];
}

export interface GlassCgroupFile {
  name: string;
  value: string;
  path: string;
}

export interface Glass {
  id: string;
  name: string;
  pid: number;
  namespaces: GlassNamespace[];
  cgroup: { path: string; paths: Record<string, string>; files: GlassCgroupFile[] };
  uidMap: string[];
  gidMap: string[];
}

export interface Explained {
  id: string;
  name: string;
  pid: number;
  recordedAt: string;
  steps: ExplainStep[];
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").map((l) => l.trim().replace(/\s+/g, " ")).filter(Boolean);
  } catch {
    return [];
  }
}

function nsLink(pid: number | "self", type: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${type}`);
  } catch {
    return undefined;
  }
}

const nameOf = (rec: ContainerRecord) => rec.Name.replace(/^\//, "");

function running(engine: Engine, ref: string): ContainerRecord {
  const rec = engine.containers.get(ref);
  if (!hasProcess(rec.State.Status) || rec.State.Pid <= 0) throw new GantryError("CONFLICT", `Container ${nameOf(rec)} is not running`);
  return rec;
}

/** The other running containers by pid, to name who shares what. */
function othersByPid(engine: Engine, self: ContainerRecord): Map<number, ContainerRecord> {
  const out = new Map<number, ContainerRecord>();
  for (const c of engine.containers.all()) if (c.Id !== self.Id && hasProcess(c.State.Status) && c.State.Pid > 0) out.set(c.State.Pid, c);
  return out;
}

/** Every limit file present in the container's cgroup directories (one per controller on v1). */
export function cgroupLimitFiles(dirs: readonly string[]): GlassCgroupFile[] {
  const files: GlassCgroupFile[] = [];
  const seen = new Set<string>();
  for (const dir of new Set(dirs)) {
    for (const name of LIMIT_FILES) {
      const path = join(dir, name);
      if (seen.has(path)) continue;
      try {
        files.push({ name, value: readFileSync(path, "utf8").trim(), path });
        seen.add(path);
      } catch {
        /* not this controller's or this version's file */
      }
    }
  }
  return files;
}

/** The cgroup path as the container sees it in /proc/PID/cgroup (the v2 or memory line). */
function cgroupPathOf(pid: number): string {
  const lines = readLines(`/proc/${pid}/cgroup`);
  const pick = lines.find((l) => l.startsWith("0::")) ?? lines.find((l) => /^\d+:[^:]*\bmemory\b/.test(l)) ?? lines[0] ?? "";
  return pick.split(":").slice(2).join(":");
}

export function glassOf(engine: Engine, ref: string): Glass {
  const rec = running(engine, ref);
  const pid = rec.State.Pid;
  const others = [...othersByPid(engine, rec).values()];
  const namespaces: GlassNamespace[] = [];
  for (const type of NS_TYPES) {
    const link = nsLink(pid, type);
    if (!link) continue;
    const sharedWith = others.filter((o) => nsLink(o.State.Pid, type) === link).map(nameOf);
    if (nsLink("self", type) === link) sharedWith.push("host");
    namespaces.push({ type, inode: Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0), path: `/proc/${pid}/ns/${type}`, sharedWith });
  }
  let paths: Record<string, string> = {};
  try {
    paths = engine.runtime.cgroupPaths(rec.Id);
  } catch {
    paths = {};
  }
  return {
    id: rec.Id,
    name: nameOf(rec),
    pid,
    namespaces,
    cgroup: { path: cgroupPathOf(pid), paths, files: cgroupLimitFiles(Object.values(paths)) },
    uidMap: readLines(`/proc/${pid}/uid_map`),
    gidMap: readLines(`/proc/${pid}/gid_map`),
  };
}

/** The recorded steps, with the containers whose namespaces a setns step joined named. */
export function explainOf(engine: Engine, ref: string): Explained {
  const rec = engine.containers.get(ref);
  if (!engine.runtime.explain) {
    throw new GantryError("UNSUPPORTED_OPTION", `explain needs Gantry's own runtime: the daemon runs containers with ${engine.runtime.name}`);
  }
  if (!engine.runtime.exists(rec.Id)) throw new GantryError("CONFLICT", `Container ${nameOf(rec)} has no runtime state (it is not created or has been removed)`);
  const record = engine.runtime.explain(rec.Id);
  const byPid = othersByPid(engine, rec);
  const steps = record.steps.map((s): ExplainStep => {
    if (s.step !== "setns" || typeof s.path !== "string") return s;
    const pid = Number(/^\/proc\/(\d+)\/ns\//.exec(s.path)?.[1]);
    const owner = byPid.get(pid);
    return owner ? { ...s, sharedWith: nameOf(owner) } : s;
  });
  return { id: rec.Id, name: nameOf(rec), pid: record.pid, recordedAt: record.recordedAt, steps };
}
