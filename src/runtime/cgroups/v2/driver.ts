// The cgroup v2 driver: one directory in the unified hierarchy per container.
import { join } from "node:path";
import { GantryError } from "../../../common/errors.ts";
import type { LinuxResources } from "../../spec/oci.ts";
import {
  collectPids,
  makeCgroupDirs,
  parseKeyValues,
  pollUntil,
  readOptional,
  removeAncestorIfEmpty,
  removeLeafCgroup,
  removeDirsNow,
  writeCgroupFiles,
  writeCgroupValue,
} from "../cgroup-fs.ts";
import { checkMemoryBeforeUpdate } from "../memory-check.ts";
import { deviceFilterProgram } from "../devices/ebpf.ts";
import type { DeviceFilterProgram } from "../devices/ebpf.ts";
import { deviceRules } from "../devices/rules.ts";
import { cgroupDir, readCgroupMounts, readOwnCgroups, unifiedMount } from "../hierarchy.ts";
import type { CgroupDriver, CgroupFile, CgroupManager, CgroupStats, DriverOpenOptions } from "../types.ts";
import * as cpu from "./cpu.ts";
import * as cpuset from "./cpuset.ts";
import * as hugetlb from "./hugetlb.ts";
import * as io from "./io.ts";
import * as memory from "./memory.ts";
import * as pids from "./pids.ts";
import { readV2Stats } from "./stats.ts";
import { enableControllers } from "./subtree.ts";
import { controllerOf, toFiles as unifiedFiles } from "./unified.ts";
import { unsupportedOnV2 } from "./unsupported.ts";

/** Every file to write for `resources`, in order. Pure: the exact values are unit-tested. */
export function v2Files(resources: LinuxResources | undefined): CgroupFile[] {
  if (!resources) return [];
  if (resources.network?.classID !== undefined || resources.network?.priorities?.length) {
    throw unsupportedOnV2("network", "net_cls and net_prio exist only in cgroup v1 (use eBPF or nftables cgroup matching)");
  }
  if (resources.rdma && Object.keys(resources.rdma).length > 0) {
    throw new GantryError("UNSUPPORTED_OPTION", "linux.resources.rdma is not implemented by Gantry", { path: "linux.resources.rdma" });
  }
  // Unified last: raw keys may deliberately override what the typed fields set.
  return [cpuset, cpu, memory, io, pids, hugetlb].flatMap((c) => c.toFiles(resources)).concat(unifiedFiles(resources));
}

/** Controllers enabled at creation when the kernel offers them, so stats can read their counters. */
const usefulControllers = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "misc"];

export class V2Cgroup implements CgroupManager {
  readonly version = 2 as const;
  readonly paths: Record<string, string>;
  readonly createdDirs: readonly string[];
  /** False when opened without a record of what was created: destroy then removes only the leaf. */
  private readonly knownCreated: boolean;

  /** `mountPoint` as a function: looked up only when needed (apply), see DriverOpenOptions.knownPaths. */
  constructor(
    private readonly mount: string | (() => string),
    readonly dir: string,
    createdDirs: readonly string[] | undefined,
  ) {
    this.paths = { unified: dir };
    this.createdDirs = createdDirs ?? [];
    this.knownCreated = createdDirs !== undefined;
  }

  procsFiles(): string[] {
    return [join(this.dir, "cgroup.procs")];
  }

  apply(resources: LinuxResources | undefined): void {
    const files = v2Files(resources);
    checkMemoryBeforeUpdate(resources, this.dir, "memory.current");
    // devices are not in this list: v2 enforces them with the eBPF program from
    // devices/ebpf.ts, which the C helper must load and attach to this directory.
    const byController = new Map<string, CgroupFile[]>();
    for (const f of files) {
      const c = controllerOf(f.file);
      byController.set(c, [...(byController.get(c) ?? []), f]);
    }
    const needed = [...byController.keys()].filter((c) => c !== "cgroup");
    enableControllers(typeof this.mount === "string" ? this.mount : this.mount(), this.dir, needed, true);
    for (const [c, list] of byController) writeCgroupFiles(this.dir, c, list);
  }

  deviceFilter(resources: LinuxResources | undefined): DeviceFilterProgram | undefined {
    const rules = deviceRules(resources);
    return rules ? deviceFilterProgram(rules) : undefined;
  }

  async freeze(): Promise<void> {
    await this.setFrozen(true);
  }

  async thaw(): Promise<void> {
    await this.setFrozen(false);
  }

  private async setFrozen(frozen: boolean): Promise<void> {
    const file = join(this.dir, "cgroup.freeze");
    if (readOptional(file) === undefined) {
      throw new GantryError("KERNEL_FEATURE_MISSING", `cannot ${frozen ? "freeze" : "thaw"}: ${file} does not exist (the v2 freezer needs Linux 5.2)`, { path: file });
    }
    writeCgroupValue(file, frozen ? "1" : "0", frozen ? "freeze" : "thaw");
    // The write only asks; cgroup.events says "frozen 1" once every task has stopped.
    const done = await pollUntil(() => this.isFrozen() === frozen, 5000);
    if (!done) {
      throw new GantryError("TIMEOUT", `${this.dir} did not become ${frozen ? "frozen" : "thawed"} within 5s`, { path: file });
    }
  }

  isFrozen(): boolean {
    return parseKeyValues(readOptional(join(this.dir, "cgroup.events"))).frozen === 1;
  }

  pids(): number[] {
    return collectPids(this.dir);
  }

  stats(): CgroupStats {
    return readV2Stats(this.dir);
  }

  oomKillCount(): number {
    return parseKeyValues(readOptional(join(this.dir, "memory.events"))).oom_kill ?? 0;
  }

  async destroy(opts: { onlyIfEmpty?: boolean } = {}): Promise<boolean> {
    // Without a record only the container's own cgroup goes; with one, exactly what was made.
    const leaf = this.knownCreated ? this.createdDirs.includes(this.dir) : true;
    if (leaf && !(await removeLeafCgroup(this.dir, !!opts.onlyIfEmpty))) return false;
    for (const d of [...this.createdDirs].reverse()) {
      if (d === this.dir) continue;
      // An ancestor may by now hold other containers' cgroups: leave it then.
      removeAncestorIfEmpty(d);
    }
    return true;
  }
}

export interface V2Mount {
  mountPoint: string;
  /** mountinfo root of the cgroup2 mount. */
  root: string;
}

/** Opens a cgroup in the given cgroup2 mount; tests point it at /sys/fs/cgroup/unified. */
export function openV2Cgroup(mount: V2Mount, opts: DriverOpenOptions): V2Cgroup {
  const dir = cgroupDir(mount.mountPoint, mount.root, opts.cgroupPath.startsWith("/") ? undefined : readOwnCgroups().get(""), opts.cgroupPath);
  if (!opts.create) {
    if (readOptional(join(dir, "cgroup.procs")) === undefined) {
      throw new GantryError("NOT_FOUND", `cgroup ${dir} does not exist`, { path: dir });
    }
    return new V2Cgroup(mount.mountPoint, dir, opts.createdDirs);
  }
  const created = makeCgroupDirs(dir);
  const cg = new V2Cgroup(mount.mountPoint, dir, [...(opts.createdDirs ?? []), ...created]);
  try {
    enableControllers(mount.mountPoint, dir, usefulControllers, false);
    cg.apply(opts.resources);
  } catch (err) {
    // Leave nothing behind when the limits cannot be set; the error is what matters.
    removeDirsNow(created);
    throw err;
  }
  return cg;
}

function hostUnifiedMount(): V2Mount {
  const m = unifiedMount(readCgroupMounts());
  if (!m) throw new GantryError("KERNEL_FEATURE_MISSING", "no cgroup2 filesystem is mounted", { path: "/proc/self/mountinfo" });
  return m;
}

export function v2Driver(mount?: V2Mount): CgroupDriver {
  return {
    version: 2,
    open(opts) {
      const known = opts.create || mount ? undefined : opts.knownPaths?.unified;
      if (known) {
        if (readOptional(join(known, "cgroup.procs")) === undefined) throw new GantryError("NOT_FOUND", `cgroup ${known} does not exist`, { path: known });
        return new V2Cgroup(() => hostUnifiedMount().mountPoint, known, opts.createdDirs);
      }
      const m = mount ?? hostUnifiedMount();
      return openV2Cgroup({ mountPoint: m.mountPoint, root: m.root }, opts);
    },
  };
}
