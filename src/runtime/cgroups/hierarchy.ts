// Where the cgroup hierarchies are mounted, and which cgroup this process is in. Read from
// /proc/self/mountinfo rather than assumed: hosts mount v1 controllers differently (most
// co-mount cpu,cpuacct; the dev machines mount them apart) and v2 may sit at
// /sys/fs/cgroup or /sys/fs/cgroup/unified.
import { readFileSync, statfsSync } from "node:fs";
import { join, posix } from "node:path";

export interface MountEntry {
  mountPoint: string;
  /** The path inside the filesystem that is mounted (mountinfo field 4). */
  root: string;
  fsType: string;
  superOptions: string[];
}

/** A v1 hierarchy: one mount carrying one or more controllers (or a named one like name=systemd). */
export interface V1Hierarchy {
  mountPoint: string;
  root: string;
  /** Controller names on this mount, e.g. ["cpu", "cpuacct"] or ["name=systemd"]. */
  controllers: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    // id parent maj:min root mountpoint options [optional fields...] - fstype source superoptions
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const right = line.slice(sep + 3).split(" ");
    if (left.length < 5 || right.length < 3) continue;
    out.push({
      root: unescapeMountField(left[3] ?? ""),
      mountPoint: unescapeMountField(left[4] ?? ""),
      fsType: right[0] ?? "",
      superOptions: (right[2] ?? "").split(","),
    });
  }
  return out;
}

/** Options on a cgroup v1 mount that are not controller names. */
const nonControllerOptions = new Set(["rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "xattr", "clone_children", "noprefix", "cpuset_v2_mode", "favordynmods"]);

/** Every v1 hierarchy mounted, first mount of each wins (bind mounts repeat them). */
export function v1Hierarchies(mounts: readonly MountEntry[]): V1Hierarchy[] {
  const seen = new Set<string>();
  const out: V1Hierarchy[] = [];
  for (const m of mounts) {
    if (m.fsType !== "cgroup") continue;
    const controllers = m.superOptions.filter((o) => !nonControllerOptions.has(o) && !o.startsWith("release_agent="));
    const key = controllers.slice().sort().join(",");
    if (controllers.length === 0 || seen.has(key)) continue;
    seen.add(key);
    out.push({ mountPoint: m.mountPoint, root: m.root, controllers });
  }
  return out;
}

/** The first cgroup2 mount, if any. */
export function unifiedMount(mounts: readonly MountEntry[]): MountEntry | undefined {
  return mounts.find((m) => m.fsType === "cgroup2");
}

/**
 * /proc/self/cgroup: "id:controllers:path" per line. Keys are each controller name (and
 * "name=systemd"); the v2 line "0::/path" has key "".
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === "") out.set("", path);
    else for (const c of controllers.split(",")) out.set(c, path);
  }
  return out;
}

/**
 * The directory of `cgroupPath` inside one hierarchy. Absolute paths are relative to the
 * hierarchy root; relative ones to the cgroup this process is in (runc's cgroupfs rules).
 * `ownPath` is our cgroup as /proc/self/cgroup shows it, which is relative to the root of
 * our cgroup namespace; the mount's root says which part of the hierarchy is mounted.
 */
export function cgroupDir(mountPoint: string, mountRoot: string, ownPath: string | undefined, cgroupPath: string): string {
  if (cgroupPath.startsWith("/")) return join(mountPoint, cgroupPath);
  let base = ownPath ?? "/";
  if (mountRoot !== "/" && (base === mountRoot || base.startsWith(mountRoot + "/"))) base = base.slice(mountRoot.length) || "/";
  return join(mountPoint, posix.join(base, cgroupPath));
}

export function readMounts(): MountEntry[] {
  return parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
}

let cgroupMounts: MountEntry[] | undefined;

/**
 * The cgroup and cgroup2 entries of mountinfo, read once per process (as runc's libcontainer
 * does): mountinfo lists every mount of the host, a daemon's every container's rootfs among
 * them, and creating a container's cgroups would read it all each time. The hierarchies
 * themselves stay put; what mounts one (net_cls/net_prio on demand) calls forgetCgroupMounts.
 */
export function readCgroupMounts(): MountEntry[] {
  return (cgroupMounts ??= readMounts().filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2"));
}

export function forgetCgroupMounts(): void {
  cgroupMounts = undefined;
}

export function readOwnCgroups(): Map<string, string> {
  return parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8"));
}

/** statfs f_type of a cgroup2 filesystem (linux/magic.h). */
const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * 2 when /sys/fs/cgroup itself is cgroup2 (a unified host); 1 otherwise, including hybrid
 * hosts where cgroup2 is only at /sys/fs/cgroup/unified with few or no controllers.
 */
export function detectCgroupVersion(root = "/sys/fs/cgroup"): 1 | 2 {
  try {
    return Number(statfsSync(root).type) === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}
