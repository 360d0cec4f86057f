// The cgroup v1 driver: one directory per mounted hierarchy per container (cpu, memory,
// ... each its own tree), plus the unified v2 directory on hybrid hosts.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { GantryError } from "../../../common/errors.ts";
import type { LinuxResources } from "../../spec/oci.ts";
import {
  collectPids,
  makeCgroupDirs,
  parseKeyValues,
  pollUntil,
  readCgroupFile,
  readNumber,
  readOptional,
  removeAncestorIfEmpty,
  removeLeafCgroup,
  removeDirsNow,
  writeCgroupFiles,
  writeCgroupValue,
} from "../cgroup-fs.ts";
import { checkMemoryBeforeUpdate } from "../memory-check.ts";
import { emulateDeviceRules } from "../devices/ebpf.ts";
import { deviceRules } from "../devices/rules.ts";
import { cgroupDir, forgetCgroupMounts, readCgroupMounts, readOwnCgroups, unifiedMount, v1Hierarchies } from "../hierarchy.ts";
import type { V1Hierarchy } from "../hierarchy.ts";
import type { CgroupDriver, CgroupFile, CgroupManager, CgroupStats, DriverOpenOptions } from "../types.ts";
import { enableControllers } from "../v2/subtree.ts";
import * as v2hugetlb from "../v2/hugetlb.ts";
import * as blkio from "./blkio.ts";
import * as cpu from "./cpu.ts";
import * as cpuset from "./cpuset.ts";
import * as devices from "./devices.ts";
import * as hugetlb from "./hugetlb.ts";
import * as memory from "./memory.ts";
import { hierarchyBase, mountV1Hierarchy } from "./mount-hierarchy.ts";
import * as netCls from "./net-cls.ts";
import * as netPrio from "./net-prio.ts";
import * as pids from "./pids.ts";
import { readV1Stats } from "./stats.ts";
import { readV2Hugetlb } from "../v2/stats.ts";

export interface V1Host {
  memory: memory.MemoryHost;
  blkio: blkio.BlkioHost;
}

export interface ControllerFiles {
  controller: string;
  files: CgroupFile[];
}

/** Every write for `resources`, grouped by controller, in order. Pure: unit-tested with exact values. */
export function v1Files(resources: LinuxResources | undefined, host: V1Host): ControllerFiles[] {
  if (!resources) return [];
  if (resources.unified && Object.keys(resources.unified).length > 0) {
    throw new GantryError("UNSUPPORTED_OPTION", "linux.resources.unified needs cgroup v2, and this host's cgroups are v1", {
      path: "linux.resources.unified",
      hint: "express the limits with the typed linux.resources fields, or run on a cgroup v2 host",
    });
  }
  if (resources.rdma && Object.keys(resources.rdma).length > 0) {
    throw new GantryError("UNSUPPORTED_OPTION", "linux.resources.rdma is not implemented by Gantry", { path: "linux.resources.rdma" });
  }
  const groups: ControllerFiles[] = [
    // Devices first: the tightest restriction is in place before anything else changes.
    { controller: devices.controller, files: devices.toFiles(resources) },
    { controller: cpuset.controller, files: cpuset.toFiles(resources) },
    { controller: cpu.controller, files: cpu.toFiles(resources) },
    { controller: memory.controller, files: memory.toFiles(resources, host.memory) },
    { controller: pids.controller, files: pids.toFiles(resources) },
    { controller: blkio.controller, files: blkio.toFiles(resources, host.blkio) },
    { controller: hugetlb.controller, files: hugetlb.toFiles(resources) },
    { controller: netCls.controller, files: netCls.toFiles(resources) },
    { controller: netPrio.controller, files: netPrio.toFiles(resources) },
  ];
  return groups.filter((g) => g.files.length > 0);
}

/** Hierarchies that are mounted on demand when a config needs them. */
const mountOnDemand = new Set(["net_cls", "net_prio"]);

interface Placed {
  hierarchy: V1Hierarchy;
  dir: string;
}

export class V1Cgroup implements CgroupManager {
  readonly version = 1 as const;
  readonly paths: Record<string, string> = {};
  private created: string[];
  private readonly knownCreated: boolean;
  private readonly placed: Placed[] = [];
  private unified: { mountPoint: string; dir: string } | undefined;
  /** Opened from recorded paths (adopt): the hierarchies' mount points are not known yet. */
  private adopted = false;

  constructor(
    private readonly cgroupPath: string,
    create: boolean,
    createdDirs: readonly string[] | undefined,
  ) {
    this.created = [...(createdDirs ?? [])];
    this.knownCreated = createdDirs !== undefined || create;
  }

  get createdDirs(): readonly string[] {
    return this.created;
  }

  /** Finds (and with create, makes) the container's directory in every mounted hierarchy. */
  place(create: boolean): void {
    const mounts = readCgroupMounts();
    // Our own cgroups matter only to a relative cgroupsPath (the default is absolute).
    const own = this.cgroupPath.startsWith("/") ? new Map<string, string>() : readOwnCgroups();
    for (const h of v1Hierarchies(mounts)) {
      if (this.placed.some((p) => p.hierarchy.mountPoint === h.mountPoint)) continue;
      const dir = cgroupDir(h.mountPoint, h.root, own.get(h.controllers[0] ?? ""), this.cgroupPath);
      this.placed.push({ hierarchy: h, dir });
      for (const c of h.controllers) this.paths[c] = dir;
      if (create) this.makeDir(h, dir);
    }
    const u = unifiedMount(mounts);
    if (u && !this.unified) {
      // Hybrid host: runc also puts the container in the v2 tree, which is where hugetlb
      // lives on these hosts and what systemd and cgroup namespaces look at.
      const dir = cgroupDir(u.mountPoint, u.root, own.get(""), this.cgroupPath);
      this.unified = { mountPoint: u.mountPoint, dir };
      this.paths.unified = dir;
      if (create) this.created.push(...makeCgroupDirs(dir));
    }
  }

  /** The directories a create recorded (its `paths`), taken without reading mountinfo. */
  adopt(paths: Readonly<Record<string, string>>): void {
    const controllersOf = new Map<string, string[]>();
    for (const [controller, dir] of Object.entries(paths)) {
      this.paths[controller] = dir;
      if (controller === "unified") this.unified = { mountPoint: "", dir };
      else controllersOf.set(dir, [...(controllersOf.get(dir) ?? []), controller]);
    }
    for (const [dir, controllers] of controllersOf) this.placed.push({ hierarchy: { mountPoint: "", root: "", controllers }, dir });
    this.adopted = true;
  }

  /** Adopted paths lack the hierarchies' mount points: what needs them places from mountinfo first. */
  private placeFromMounts(): void {
    if (!this.adopted) return;
    this.adopted = false;
    this.placed.length = 0;
    this.unified = undefined;
    for (const key of Object.keys(this.paths)) delete this.paths[key];
    this.place(false);
  }

  private makeDir(h: V1Hierarchy, dir: string): void {
    this.created.push(...makeCgroupDirs(dir));
    // A new cpuset cgroup starts with empty cpus and mems, and a process cannot join it
    // until both are set: copy the parent's values down every level, as runc does.
    if (h.controllers.includes("cpuset")) fillCpusets(h.mountPoint, dir);
  }

  procsFiles(): string[] {
    const dirs = new Set(this.placed.map((p) => p.dir));
    if (this.unified) dirs.add(this.unified.dir);
    return [...dirs].map((d) => join(d, "cgroup.procs"));
  }

  apply(resources: LinuxResources | undefined): void {
    if (!resources) return;
    this.placeFromMounts();
    checkMemoryBeforeUpdate(resources, this.paths.memory, "memory.usage_in_bytes");
    this.mountNeededHierarchies(resources);
    const memDir = this.paths.memory;
    const blkioDir = this.paths.blkio;
    const host: V1Host = {
      memory: {
        currentLimit: memDir ? readNumber(join(memDir, "memory.limit_in_bytes"), Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER,
        swapAccounting: memDir !== undefined && existsSync(join(memDir, "memory.memsw.limit_in_bytes")),
      },
      blkio: {
        // CFQ's blkio.weight if there, else BFQ's; neither: name blkio.weight in the error.
        weightPrefix: blkioDir && !existsSync(join(blkioDir, "blkio.weight")) && existsSync(join(blkioDir, "blkio.bfq.weight")) ? "blkio.bfq." : "blkio.",
      },
    };
    for (const { controller, files } of v1Files(resources, host)) {
      const dir = this.paths[controller];
      if (controller === "devices" && dir && devicesAlreadySet(dir, resources)) continue;
      if (dir) {
        writeCgroupFiles(dir, controller, files);
        continue;
      }
      if (controller === "hugetlb" && this.unified) {
        // Hybrid hosts often bind hugetlb to the v2 tree; set the limit there.
        const { mountPoint, dir: udir } = this.unified;
        enableControllers(mountPoint, udir, ["hugetlb"], true);
        writeCgroupFiles(udir, "hugetlb", v2hugetlb.toFiles(resources));
        continue;
      }
      const first = files[0];
      throw new GantryError("KERNEL_FEATURE_MISSING", `cannot set ${first?.field ?? controller}: the ${controller} cgroup controller is not mounted`, {
        path: "/proc/self/mountinfo",
        hint: `mount it (mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller}) or remove the setting`,
      });
    }
  }

  /** net_cls/net_prio: mounted on first use; a running container's processes are moved in. */
  private mountNeededHierarchies(resources: LinuxResources): void {
    const wanted: string[] = [];
    if (resources.network?.classID !== undefined) wanted.push("net_cls");
    if (resources.network?.priorities?.length) wanted.push("net_prio");
    const missing = wanted.filter((c) => mountOnDemand.has(c) && this.paths[c] === undefined);
    if (missing.length === 0) return;
    // Fresh: another process may have mounted it since this one looked.
    forgetCgroupMounts();
    const existing = v1Hierarchies(readCgroupMounts());
    for (const c of missing) {
      if (existing.some((h) => h.controllers.includes(c))) continue; // mounted since we looked
      mountV1Hierarchy(c, hierarchyBase(existing));
    }
    forgetCgroupMounts();
    const running = this.placed.length > 0 ? this.pids() : [];
    const before = new Set(this.placed.map((p) => p.dir));
    // The new hierarchy needs the container's directory even when opened without create.
    this.place(true);
    for (const p of this.placed) {
      if (before.has(p.dir)) continue;
      for (const pid of running) writeCgroupValue(join(p.dir, "cgroup.procs"), String(pid), "network");
    }
  }

  deviceFilter(): undefined {
    return undefined; // v1 enforces devices through devices.allow/deny, written by apply
  }

  private freezerState(): string {
    return join(this.requireFreezer(), "freezer.state");
  }

  private requireFreezer(): string {
    const dir = this.paths.freezer;
    if (!dir) {
      throw new GantryError("KERNEL_FEATURE_MISSING", "cannot pause: the freezer cgroup controller is not mounted", {
        path: "/proc/self/mountinfo",
        hint: "mount it: mount -t cgroup -o freezer cgroup /sys/fs/cgroup/freezer",
      });
    }
    return dir;
  }

  async freeze(): Promise<void> {
    const file = this.freezerState();
    writeCgroupValue(file, "FROZEN", "freeze");
    // FROZEN is a request; the state reads FREEZING until every task has stopped. A task in
    // an uninterruptible sleep can stall it, and writing FROZEN again retries the freeze.
    let tries = 0;
    const done = await pollUntil(() => readCgroupFile(file) === "FROZEN", 5000, () => {
      if (++tries % 20 === 0) writeCgroupValue(file, "FROZEN", "freeze");
    });
    if (!done) {
      writeCgroupValue(file, "THAWED", "thaw"); // never leave a half-frozen container behind
      throw new GantryError("TIMEOUT", `${dirname(file)} did not freeze within 5s`, { path: file, hint: "a process may be stuck in uninterruptible sleep" });
    }
  }

  async thaw(): Promise<void> {
    const file = this.freezerState();
    writeCgroupValue(file, "THAWED", "thaw");
    const done = await pollUntil(() => readCgroupFile(file) === "THAWED", 5000);
    if (!done) throw new GantryError("TIMEOUT", `${dirname(file)} did not thaw within 5s`, { path: file });
  }

  isFrozen(): boolean {
    const dir = this.paths.freezer;
    return dir !== undefined && readOptional(join(dir, "freezer.state")) === "FROZEN";
  }

  pids(): number[] {
    // Every hierarchy, not one: a process can be moved out of one (runtime-tools'
    // delete_only_create_resources moves the container into its own pids cgroup), and delete
    // must wait for it in all of them before it removes the directories.
    const dirs = [...new Set([...this.placed.map((p) => p.dir), ...(this.unified ? [this.unified.dir] : [])])];
    return [...new Set(dirs.flatMap((d) => collectPids(d)))];
  }

  stats(): CgroupStats {
    const stats = readV1Stats(this.paths);
    // Hybrid hosts with hugetlb bound to the v2 tree count huge pages there.
    if (!this.paths.hugetlb && this.unified) stats.hugetlb = readV2Hugetlb(this.unified.dir);
    return stats;
  }

  oomKillCount(): number {
    const dir = this.paths.memory;
    return dir ? (parseKeyValues(readOptional(join(dir, "memory.oom_control"))).oom_kill ?? 0) : 0;
  }

  async destroy(opts: { onlyIfEmpty?: boolean } = {}): Promise<boolean> {
    const leaves = new Set(this.placed.map((p) => p.dir));
    if (this.unified) leaves.add(this.unified.dir);
    // Without a record (opened by a later command), the container's own cgroup is its.
    const own = [...leaves].filter((leaf) => !this.knownCreated || this.created.includes(leaf));
    if (opts.onlyIfEmpty) {
      // All at once: each is one rmdir on the thread pool.
      if (!(await Promise.all(own.map((leaf) => removeLeafCgroup(leaf, true)))).every(Boolean)) return false;
    } else for (const leaf of own) await removeLeafCgroup(leaf, false);
    for (const d of [...this.created].reverse()) {
      if (leaves.has(d)) continue;
      // A created ancestor (/gantry) may by now hold other containers: then it stays.
      removeAncestorIfEmpty(d);
    }
    return true;
  }
}

/**
 * True when devices.list already shows what the rules would produce. Rewriting starts with
 * "deny all", which a running container would notice on `update` (an open failing in that
 * instant), so an unchanged list is left alone. Only a default-deny list can be compared:
 * in default-allow mode the kernel prints just "a *:* rwm".
 */
export function devicesAlreadySet(dir: string, resources: LinuxResources): boolean {
  const rules = deviceRules(resources);
  if (!rules) return true;
  const target = emulateDeviceRules(rules);
  if (target.defaultAllow) return false;
  const bits = (n: number) => (n & 2 ? "r" : "") + (n & 4 ? "w" : "") + (n & 1 ? "m" : "");
  const want = target.exceptions.map((e) => `${e.type} ${e.major ?? "*"}:${e.minor ?? "*"} ${bits(e.access)}`).sort();
  const have = (readOptional(join(dir, "devices.list")) ?? "").split("\n").filter(Boolean).sort();
  return want.length === have.length && want.every((w, i) => w === have[i]);
}

/** Copies cpuset.cpus/mems from each parent into every level below `mountPoint` that has none. */
export function fillCpusets(mountPoint: string, dir: string): void {
  const levels: string[] = [];
  for (let d = dir; d !== mountPoint && d.startsWith(mountPoint + "/"); d = dirname(d)) levels.unshift(d);
  for (const level of levels) {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      if (readCgroupFile(join(level, file)) !== "") continue;
      writeCgroupValue(join(level, file), readCgroupFile(join(dirname(level), file)), `inherited ${file}`);
    }
  }
}

export function openV1Cgroup(opts: DriverOpenOptions): V1Cgroup {
  const cg = new V1Cgroup(opts.cgroupPath, opts.create, opts.createdDirs);
  const before = cg.createdDirs.length;
  try {
    if (!opts.create && opts.knownPaths && Object.keys(opts.knownPaths).length > 0) cg.adopt(opts.knownPaths);
    else cg.place(opts.create);
    if (!opts.create && cg.procsFiles().every((f) => !existsSync(f))) {
      throw new GantryError("NOT_FOUND", `cgroup ${opts.cgroupPath} does not exist in any hierarchy`, { path: opts.cgroupPath });
    }
    if (opts.create) cg.apply(opts.resources);
  } catch (err) {
    // Undo this call's mkdirs; the error is what the caller needs.
    removeDirsNow(cg.createdDirs.slice(before));
    throw err;
  }
  return cg;
}

export const v1Driver: CgroupDriver = { version: 1, open: openV1Cgroup };
