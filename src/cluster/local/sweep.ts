// What `cluster delete` removes besides the host network: every process of the cluster (the
// ones the supervisor recorded, whatever runs in a node's or HA server's network namespace — agents, servers, etcd members, the
// engines' container monitors — and whatever sits in a node's cgroups — the pods' containers),
// every mount under the cluster's directory (container root filesystems, the warm pool's
// namespace files), and the cgroups under the cluster's parent in every hierarchy. The
// equivalent of removing kind's node containers, done to the kernel objects directly, so it
// works whether or not the agents still run.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, writeFileSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { isSameLiveProcess, readProcStat } from "../../common/process-identity.ts";
import { tryRun } from "./_run.ts";
import { namespacesOf, type ClusterRecord } from "./cluster-record.ts";
import { readProcesses } from "./supervisor.ts";

const CGROUP_FS = "/sys/fs/cgroup";

/** The cluster's parent cgroup in each mounted hierarchy (v1 controllers and the unified one). */
export function clusterCgroupDirs(rec: ClusterRecord): string[] {
  const out: string[] = [];
  const rel = rec.cgroupParent.replace(/^\//, "");
  if (existsSync(join(CGROUP_FS, "cgroup.controllers"))) {
    if (existsSync(join(CGROUP_FS, rel))) out.push(join(CGROUP_FS, rel));
    return out;
  }
  for (const h of readdirSync(CGROUP_FS)) {
    const dir = join(CGROUP_FS, h, rel);
    if (existsSync(dir)) out.push(dir);
  }
  return out;
}

function walkDirs(dir: string): string[] {
  const out = [dir];
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...walkDirs(join(dir, e.name)));
  return out;
}

function pidsInCgroups(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    for (const sub of walkDirs(d)) {
      try {
        for (const l of readFileSync(join(sub, "cgroup.procs"), "utf8").split("\n")) if (l.trim()) pids.add(Number(l));
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...pids];
}

function pidsInNetns(inodes: Set<number>): number[] {
  const out: number[] = [];
  if (inodes.size === 0) return out;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/ns/net`));
      if (m && inodes.has(Number(m[1]))) out.push(Number(e));
    } catch {
      // exited, or a kernel thread
    }
  }
  return out;
}

/** Thaws frozen (paused) containers: a frozen task cannot act on SIGKILL (cgroup v1 freezer). */
function thaw(dirs: string[]): void {
  for (const d of dirs.filter((x) => x.includes("/freezer/") || existsSync(join(x, "cgroup.freeze")))) {
    for (const sub of walkDirs(d)) {
      try {
        if (existsSync(join(sub, "freezer.state"))) writeFileSync(join(sub, "freezer.state"), "THAWED");
        else if (existsSync(join(sub, "cgroup.freeze"))) writeFileSync(join(sub, "cgroup.freeze"), "0");
      } catch {
        // not frozen, or gone
      }
    }
  }
}

/** SIGKILLs every process of the cluster until none is left (or 15 s pass); returns the ones that stayed. */
export async function killClusterProcesses(rec: ClusterRecord): Promise<number[]> {
  const inodes = new Set<number>();
  for (const n of namespacesOf(rec)) {
    try {
      inodes.add(statSync(`/run/netns/${n.netns}`).ino);
    } catch {
      // namespace never made, or gone
    }
  }
  const recorded = [...readProcesses(rec), ...(rec.supervisor ? [{ role: "supervisor", ...rec.supervisor }] : [])].filter((p) => isSameLiveProcess(p.pid, p.startTime)).map((p) => p.pid);
  const deadline = Date.now() + 15_000;
  let left: number[] = [];
  for (;;) {
    const cgroups = clusterCgroupDirs(rec);
    thaw(cgroups);
    left = [...new Set([...recorded, ...pidsInNetns(inodes), ...pidsInCgroups(cgroups)])].filter((p) => p !== process.pid && readProcStat(p) !== undefined && readProcStat(p)!.state !== "Z");
    if (left.length === 0 || Date.now() > deadline) return left;
    for (const p of left) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Mount points under dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(prefix)))
    .map((m) => m.replace(/\\040/g, " "))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<string[]> {
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const m of mounts) if (!(await tryRun("umount", [m]))) await tryRun("umount", ["-l", m]);
  }
  return mountsUnder(dir);
}

/** Removes the cluster's cgroups, deepest first, and the shared parent when it is left empty. */
export function removeClusterCgroups(rec: ClusterRecord): string[] {
  for (const d of clusterCgroupDirs(rec)) {
    for (const sub of walkDirs(d).reverse()) {
      try {
        rmdirSync(sub);
      } catch {
        // busy or gone: reported below
      }
    }
    try {
      rmdirSync(join(d, ".."));
    } catch {
      // another cluster's cgroups are still there
    }
  }
  return clusterCgroupDirs(rec);
}
