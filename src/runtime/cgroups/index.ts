// The cgroup layer of the runtime: pick the driver for this host, open a container's cgroup.
import type { LinuxResources } from "../spec/oci.ts";
import { resolveCgroupPath } from "./cgroup-path.ts";
import { cgroupDir, detectCgroupVersion, readCgroupMounts, unifiedMount, v1Hierarchies } from "./hierarchy.ts";
import type { CgroupDriver, CgroupManager } from "./types.ts";
import { v1Driver } from "./v1/driver.ts";
import { v2Driver } from "./v2/driver.ts";

export type { CgroupDriver, CgroupManager, CgroupStats, CgroupFile, MemoryEntry, BlkioEntry } from "./types.ts";
export { detectCgroupVersion } from "./hierarchy.ts";
export { resolveCgroupPath } from "./cgroup-path.ts";
export { delegateCgroups } from "./delegate.ts";
export { journalCgroupWrites, premakeCgroupDirs, dropPremadeCgroupDirs, type CgroupJournalEntry } from "./cgroup-fs.ts";
export { deviceFilterProgram, deviceFilterInstructions, emulateDeviceRules } from "./devices/ebpf.ts";
export type { DeviceFilterProgram } from "./devices/ebpf.ts";
export { deviceRules } from "./devices/rules.ts";
export type { DeviceRule } from "./devices/rules.ts";

export interface OpenCgroupsOptions {
  cgroupsPath: string | undefined;
  containerId: string;
  resources?: LinuxResources;
  /** Make the directories and write `resources` (before any pid is added). */
  create: boolean;
  /** `createdDirs` of the manager that created it, kept in the container's state. */
  createdDirs?: readonly string[];
  /** `paths` of the manager that created it (kept in the container's state); see DriverOpenOptions. */
  knownPaths?: Readonly<Record<string, string>>;
}

let hostVersion: 1 | 2 | undefined;

/** The driver for this host: v2 when /sys/fs/cgroup itself is cgroup2, else v1 (hybrid included).
 * Looked at once per process (as the mounts are, hierarchy.ts): an engine opens a container's
 * cgroups three times per `run`, and what is mounted at /sys/fs/cgroup does not change under it. */
export function hostCgroupDriver(): CgroupDriver {
  return (hostVersion ??= detectCgroupVersion()) === 2 ? v2Driver() : v1Driver;
}

/**
 * The directories a create of these cgroups would make on a v1 host, for premakeCgroupDirs
 * (cgroup-fs.ts); none elsewhere (v2 makes one) or for a relative cgroupsPath.
 */
export function plannedCgroupDirs(opts: Pick<OpenCgroupsOptions, "cgroupsPath" | "containerId">): string[] {
  const cgroupPath = resolveCgroupPath(opts.cgroupsPath, opts.containerId);
  if (!cgroupPath.startsWith("/") || hostCgroupDriver().version !== 1) return [];
  const mounts = readCgroupMounts();
  const dirs = v1Hierarchies(mounts).map((h) => cgroupDir(h.mountPoint, h.root, undefined, cgroupPath));
  const unified = unifiedMount(mounts);
  if (unified) dirs.push(cgroupDir(unified.mountPoint, unified.root, undefined, cgroupPath));
  return dirs;
}

export function openCgroups(opts: OpenCgroupsOptions): CgroupManager {
  const cgroupPath = resolveCgroupPath(opts.cgroupsPath, opts.containerId);
  return hostCgroupDriver().open({ cgroupPath, create: opts.create, resources: opts.resources, createdDirs: opts.createdDirs, knownPaths: opts.knownPaths });
}
