// The shapes shared by both cgroup versions: the manager the runtime drives, the
// driver that makes managers for one version, and the stats `events --stats` prints.
import type { LinuxResources } from "../spec/oci.ts";
import type { DeviceFilterProgram } from "./devices/ebpf.ts";

/** One write into a cgroup file: `value` goes into `<cgroup dir>/<file>`. */
export interface CgroupFile {
  /** File name inside the cgroup directory, e.g. "cpu.shares". */
  file: string;
  value: string;
  /** The OCI field the value comes from, so an error can name what the user asked for. */
  field: string;
}

/** One container's cgroup(s). The runtime calls exactly this. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** Controller (or "unified") -> absolute directory of the container's cgroup. */
  readonly paths: Record<string, string>;
  /**
   * Directories this manager created (ancestors first). The runtime can keep them in its
   * state and hand them back to `openCgroups({ createdDirs })`, so a later `delete` removes
   * exactly these and nothing it did not create.
   */
  readonly createdDirs: readonly string[];
  /** Every cgroup.procs file the container's pid must be written to. */
  procsFiles(): string[];
  /** Writes limits (also used by `update`). Undefined leaves everything as it is. */
  apply(resources: LinuxResources | undefined): void;
  /**
   * v2 only: linux.resources.devices as an eBPF program that the C helper must load
   * (BPF_PROG_TYPE_CGROUP_DEVICE) and attach (BPF_CGROUP_DEVICE) to `paths.unified`; v2
   * has no device files, so `apply` cannot enforce devices by itself. Undefined on v1
   * (apply writes devices.allow/deny) or when the config has no device rules.
   */
  deviceFilter(resources: LinuxResources | undefined): DeviceFilterProgram | undefined;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  isFrozen(): boolean;
  /** All pids in the cgroup and its descendants. */
  pids(): number[];
  stats(): CgroupStats;
  oomKillCount(): number;
  /**
   * Removes every directory it created (the container's own sub-cgroups too); no-op if gone.
   * `onlyIfEmpty`: one rmdir per directory and no waiting — false when one is still busy
   * (a process is left in it), with the rest left for a later destroy.
   */
  destroy(opts?: { onlyIfEmpty?: boolean }): Promise<boolean>;
}

/** Makes managers for one cgroup version; chosen by probing the host. */
export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Opens (and with `create`, makes) the cgroup at `cgroupPath` as resolved by `resolveCgroupPath`. */
  open(opts: DriverOpenOptions): CgroupManager;
}

export interface DriverOpenOptions {
  /** Normalised cgroup path: absolute ("/gantry/x") or relative to our own cgroup ("x/y"). */
  cgroupPath: string;
  create: boolean;
  resources?: LinuxResources;
  createdDirs?: readonly string[];
  /**
   * Without create: the `paths` of the manager that created it (kept in the container's
   * state). The directories are then taken from here instead of being found through
   * /proc/self/mountinfo, which lists every mount of the host (a daemon's holds each
   * container's rootfs); only `apply` (update), which needs the hierarchies themselves,
   * reads it.
   */
  knownPaths?: Readonly<Record<string, string>>;
}

// Stats, keyed the way runc's `events --stats` JSON is (types/events.go), so tools that read
// runc's output read ours. Numbers are plain JS numbers: byte counts stay exact below 2^53.

export interface MemoryEntry {
  limit: number;
  usage?: number;
  max?: number;
  failcnt: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface CgroupStats {
  cpu: {
    /** Nanoseconds. */
    usage: { total: number; percpu?: number[]; kernel: number; user: number };
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: {
    cache: number;
    usage: MemoryEntry;
    swap: MemoryEntry;
    raw: Record<string, number>;
  };
  pids: { current: number; limit: number };
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
  oomKillCount: number;
}
