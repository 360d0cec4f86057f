// A container's OCI config.json, built the way dockerd builds it (moby daemon/oci_linux.go
// and oci/defaults.go): Docker's default capabilities, mounts, masked and read-only paths;
// HostConfig's namespace modes (host, container:NAME by /proc/PID/ns path), capabilities,
// privileged mode, ulimits, devices, and resources (resources.ts). Pure apart from the
// device stat, so it is unit-tested.
import { lstatSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { GantryError, invalidArgument } from "../common/errors.ts";
import type { IdMapping, LinuxDevice, OciConfig, OciMount } from "../runtime/index.ts";
import type { ContainerConfig, HostConfig } from "./api-types.ts";
import { toLinuxResources } from "./resources.ts";
import { seccompFor } from "./seccomp-profile.ts";

/** Docker's default capability set (oci/caps/defaults.go). */
export const DEFAULT_CAPS = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

export const ALL_CAPS = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
  "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
  "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];
const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const RLIMITS: Record<string, string> = {
  core: "RLIMIT_CORE", cpu: "RLIMIT_CPU", data: "RLIMIT_DATA", fsize: "RLIMIT_FSIZE", locks: "RLIMIT_LOCKS",
  memlock: "RLIMIT_MEMLOCK", msgqueue: "RLIMIT_MSGQUEUE", nice: "RLIMIT_NICE", nofile: "RLIMIT_NOFILE", nproc: "RLIMIT_NPROC",
  rss: "RLIMIT_RSS", rtprio: "RLIMIT_RTPRIO", rttime: "RLIMIT_RTTIME", sigpending: "RLIMIT_SIGPENDING", stack: "RLIMIT_STACK",
  as: "RLIMIT_AS",
};

export interface SpecInputs {
  id: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** Resolved process pieces (image config merged with the create request). */
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  rootfs: string;
  /** Host files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: { hostname: string; hosts: string; resolvConf: string };
  /** The pid of a container named by container:NAME (throws when it is not running). */
  pidOfContainer: (name: string) => number;
  /** Extra mounts (volumes, binds, tmpfs) already resolved. */
  mounts?: OciMount[];
  /** HostConfig.Tmpfs is already among `mounts` (resolved by src/volume). */
  tmpfsInMounts?: boolean;
  /** The host's devices for privileged mode (default: walk /dev; tests pass a fake). */
  hostDevices?: () => LinuxDevice[];
  /** The capabilities the daemon holds (its bounding set); default: all. */
  availableCaps?: readonly string[];
  /** The image's /etc/group, for GroupAdd names. */
  groupFile?: string;
  /** Host path of an init binary for --init. */
  initPath?: string;
  /** A user namespace of its own with these maps (--userns-remap, --userns=auto). */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

const normCap = (c: string): string => {
  const u = c.toUpperCase();
  return u === "ALL" ? "ALL" : u.startsWith("CAP_") ? u : `CAP_${u}`;
};

/** Docker's TweakCapabilities: drop then add, "ALL" on either side. "ALL" and privileged mode
 * mean every capability the daemon can give (`available`, its bounding set). */
export function capabilities(hc: HostConfig, available: readonly string[] = ALL_CAPS): string[] {
  if (hc.Privileged) return [...available];
  const add = (hc.CapAdd ?? []).map(normCap);
  const drop = (hc.CapDrop ?? []).map(normCap);
  for (const c of [...add, ...drop]) {
    if (c !== "ALL" && !ALL_CAPS.includes(c)) throw invalidArgument(`invalid capability: ${c}`);
  }
  let caps = drop.includes("ALL") ? [] : DEFAULT_CAPS.filter((c) => !drop.includes(c));
  if (add.includes("ALL")) caps = available.filter((c) => !drop.includes(c) || add.includes(c));
  for (const c of add) if (c !== "ALL" && !caps.includes(c)) caps.push(c);
  return caps;
}

/** The kernel's dev_t split (glibc's major()/minor()). */
function majorMinor(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return { major: Number((d >> 8n) & 0xfffn), minor: Number((d & 0xffn) | ((d >> 12n) & 0xfff00n)) };
}

function deviceFromHost(pathOnHost: string, pathInContainer: string, perms: string): { device: LinuxDevice; rule: { allow: true; type: string; major: number; minor: number; access: string } } {
  let st;
  try {
    st = statSync(pathOnHost);
  } catch {
    throw invalidArgument(`error gathering device information while adding custom device "${pathOnHost}": no such file or directory`);
  }
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  if (!type) throw invalidArgument(`error gathering device information while adding custom device "${pathOnHost}": not a device node`);
  const { major, minor } = majorMinor(st.rdev);
  if (!/^[rwm]{1,3}$/.test(perms)) throw invalidArgument(`invalid device cgroup permissions "${perms}" for ${pathOnHost}`);
  return {
    device: { type, path: pathInContainer, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid },
    rule: { allow: true, type, major, minor, access: perms },
  };
}

/** The directories under /dev the container gets its own filesystems for, and the nodes the
 * runtime makes itself (the pty multiplexer of its devpts, the console). */
const HOST_DEV_SKIP = new Set(["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/ptmx", "/dev/console", "/dev/.lxc", "/dev/.udev"]);

/** Every character and block device under the host's /dev, as Docker gives a privileged
 * container (runc's HostDevices): symlinks are not followed, unreadable entries skipped. */
export function hostDevices(dir = "/dev"): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (HOST_DEV_SKIP.has(path)) continue;
    if (e.isDirectory()) {
      out.push(...hostDevices(path));
      continue;
    }
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    try {
      const st = lstatSync(path);
      out.push({
        type: e.isBlockDevice() ? "b" : "c",
        path,
        ...majorMinor(st.rdev),
        fileMode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
      });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** A namespace mode: "" / "private" → new, "host" → none, "container:NAME" → join by path. */
function namespaceFor(
  type: "pid" | "ipc" | "uts" | "network",
  mode: string | undefined,
  procName: string,
  inputs: SpecInputs,
  what: string,
): { type: string; path?: string } | undefined {
  const m = mode ?? "";
  if (m === "host") return undefined;
  if (m.startsWith("container:")) {
    const pid = inputs.pidOfContainer(m.slice("container:".length));
    return { type, path: `/proc/${pid}/ns/${procName}` };
  }
  if (m === "" || m === "private" || m === "shareable" || (type === "network" && ["none", "default", "bridge"].includes(m))) return { type };
  // A user network's name (any non-blank text, as dockerd takes): a fresh namespace the
  // engine attaches to that network (create checked that the network exists).
  if (type === "network" && m.trim() !== "") return { type };
  throw invalidArgument(`invalid ${what} mode: ${m}`);
}

/** HostConfig.SecurityOpt ("key=value", or the old "key:value"), refused when Gantry cannot honour it. */
export function securityOptions(hc: HostConfig): { noNewPrivileges: boolean; seccompOption?: string } {
  let noNewPrivileges = false;
  let seccompOption: string | undefined;
  for (const opt of hc.SecurityOpt ?? []) {
    const [k, v] = opt.includes("=") ? [opt.slice(0, opt.indexOf("=")), opt.slice(opt.indexOf("=") + 1)] : opt.split(":");
    if (k === "no-new-privileges") noNewPrivileges = v === undefined || v === "" || v === "true";
    else if (k === "seccomp") seccompOption = v ?? "";
    else if (k === "apparmor" && v === "unconfined") continue;
    else if (k === "label" && v === "disable") continue;
    else {
      throw new GantryError("UNSUPPORTED_OPTION", `security option ${JSON.stringify(opt)} is not supported`, {
        hint: "Gantry accepts no-new-privileges, seccomp=unconfined|builtin|PROFILE-JSON, apparmor=unconfined and label=disable",
      });
    }
  }
  return { noNewPrivileges, ...(seccompOption !== undefined ? { seccompOption } : {}) };
}

/** Create-time check of the security options: a bad seccomp profile fails `docker create`. */
export function checkSecurityOptions(hc: HostConfig, availableCaps?: readonly string[]): void {
  seccompFor(securityOptions(hc).seccompOption, !!hc.Privileged, capabilities(hc, availableCaps));
}

/** Where the container's cgroup goes: /gantry/<id>, or --cgroup-parent/<id> (Docker's cgroupfs
 * rule; the node agent puts pod containers in kubepods/<qos>/pod<uid>). */
export function cgroupsPathOf(hc: HostConfig, id: string): string {
  const parent = (hc.CgroupParent ?? "").trim();
  if (!parent) return `/gantry/${id}`;
  const parts = parent.split("/").filter(Boolean);
  if (parts.some((p) => p === ".." || p === ".")) throw invalidArgument(`invalid cgroup parent ${JSON.stringify(parent)}: it may not contain "." or ".."`);
  return `/${[...parts, id].join("/")}`;
}

export function buildOciSpec(inputs: SpecInputs): OciConfig {
  const { hostConfig: hc, config } = inputs;
  const caps = capabilities(hc, inputs.availableCaps);
  const { noNewPrivileges, seccompOption } = securityOptions(hc);
  // No default rlimits: the container inherits the daemon's (containerd would raise NOFILE, which
  // needs CAP_SYS_RESOURCE that a daemon in a container may lack).
  const rlimits: { type: string; soft: number; hard: number }[] = [];
  for (const u of hc.Ulimits ?? []) {
    const type = RLIMITS[u.Name];
    if (!type) throw invalidArgument(`invalid ulimit type: ${u.Name}`);
    if (u.Soft > u.Hard) throw invalidArgument(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
    const i = rlimits.findIndex((r) => r.type === type);
    const entry = { type, soft: u.Soft < 0 ? 2 ** 53 - 1 : u.Soft, hard: u.Hard < 0 ? 2 ** 53 - 1 : u.Hard };
    if (i >= 0) rlimits[i] = entry;
    else rlimits.push(entry);
  }

  const namespaces: { type: string; path?: string }[] = [{ type: "mount" }];
  const pidNs = namespaceFor("pid", hc.PidMode, "pid", inputs, "PID");
  const ipcNs = namespaceFor("ipc", hc.IpcMode, "ipc", inputs, "IPC");
  const utsNs = namespaceFor("uts", hc.UTSMode, "uts", inputs, "UTS");
  const netNs = namespaceFor("network", hc.NetworkMode, "net", inputs, "network");
  for (const ns of [pidNs, ipcNs, utsNs, netNs]) if (ns) namespaces.push(ns);
  namespaces.push({ type: "cgroup" });
  if (inputs.userns) {
    // UsernsMode container:ID joins that container's user namespace (the maps stay in the
    // spec: the runtime becomes the namespace's root with them); otherwise a new one.
    const joined = (hc.UsernsMode ?? "").startsWith("container:");
    namespaces.push(joined ? { type: "user", path: `/proc/${inputs.pidOfContainer(hc.UsernsMode!.slice("container:".length))}/ns/user` } : { type: "user" });
  }

  const resources = toLinuxResources(hc);
  const devices: LinuxDevice[] = [];
  const deviceRules: NonNullable<NonNullable<OciConfig["linux"]>["resources"]>["devices"] = [{ allow: false, access: "rwm" }];
  if (hc.Privileged) {
    deviceRules.push({ allow: true, access: "rwm" });
    devices.push(...(inputs.hostDevices ?? hostDevices)());
  }
  for (const d of hc.Devices ?? []) {
    const { device, rule } = deviceFromHost(d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || "rwm");
    devices.push(device);
    deviceRules.push(rule);
  }
  deviceRules.push(...deviceCgroupRules(hc.DeviceCgroupRules));
  resources.devices = deviceRules;

  const ro = hc.Privileged ? [] : ["ro"];
  const shmSize = hc.ShmSize && hc.ShmSize > 0 ? hc.ShmSize : 64 * 1024 * 1024;
  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", ...ro] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", ...ro] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shmSize}`] },
    { destination: "/etc/resolv.conf", type: "bind", source: inputs.etcFiles.resolvConf, options: ["rbind", "rprivate"] },
    { destination: "/etc/hostname", type: "bind", source: inputs.etcFiles.hostname, options: ["rbind", "rprivate"] },
    { destination: "/etc/hosts", type: "bind", source: inputs.etcFiles.hosts, options: ["rbind", "rprivate"] },
    ...(inputs.mounts ?? []),
  ];
  for (const [dst, opts] of inputs.tmpfsInMounts ? [] : Object.entries(hc.Tmpfs ?? {})) {
    mounts.push({ destination: dst, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", ...opts.split(",").filter(Boolean)] });
  }
  let args = inputs.args;
  if (hc.Init) {
    if (!inputs.initPath) {
      throw new GantryError("UNSUPPORTED_OPTION", "--init needs an init binary (tini or catatonit) on the host", {
        hint: "apt-get install tini, or run without --init",
      });
    }
    mounts.push({ destination: "/sbin/docker-init", type: "bind", source: inputs.initPath, options: ["rbind", "ro"] });
    args = ["/sbin/docker-init", "--", ...args];
  }

  const seccomp = seccompFor(seccompOption, !!hc.Privileged, caps);

  const spec: OciConfig = {
    ociVersion: "1.2.0",
    process: {
      terminal: !!config.Tty,
      user: { uid: inputs.user.uid, gid: inputs.user.gid, additionalGids: withGroupAdd([inputs.user.gid, ...inputs.user.additionalGids], hc.GroupAdd, inputs.groupFile) },
      args,
      env: inputs.env,
      cwd: inputs.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      ...(rlimits.length ? { rlimits } : {}),
      noNewPrivileges,
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
      ...(config.Tty && hc.ConsoleSize && hc.ConsoleSize[0] > 0 ? { consoleSize: { height: hc.ConsoleSize[0], width: hc.ConsoleSize[1] } } : {}),
    },
    root: { path: inputs.rootfs, readonly: !!hc.ReadonlyRootfs },
    mounts,
    linux: {
      namespaces: namespaces as NonNullable<OciConfig["linux"]>["namespaces"],
      cgroupsPath: cgroupsPathOf(hc, inputs.id),
      resources,
      devices,
      maskedPaths: hc.Privileged ? [] : MASKED_PATHS,
      readonlyPaths: hc.Privileged ? [] : READONLY_PATHS,
      ...(hc.Sysctls && Object.keys(hc.Sysctls).length ? { sysctl: hc.Sysctls } : {}),
      ...(inputs.userns ? { uidMappings: inputs.userns.uidMappings, gidMappings: inputs.userns.gidMappings } : {}),
      ...(seccomp ? { seccomp } : {}),
    },
  };
  if (utsNs && !utsNs.path) spec.hostname = config.Hostname || inputs.id.slice(0, 12);
  if (config.Domainname && utsNs && !utsNs.path) spec.domainname = config.Domainname;
  return spec;
}

/** The supplementary groups as dockerd sets them (moby's getUser): the user's own group, the
 * groups /etc/group lists it in, then HostConfig.GroupAdd (`--group-add`) by number or by
 * name from the image's /etc/group (`groupFile`, its text). */
function withGroupAdd(gids: number[], groupAdd: string[] | null | undefined, groupFile = ""): number[] {
  const out = [...new Set(gids)];
  const byName = new Map(groupFile.split("\n").map((l) => l.split(":")).filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!)).map((f) => [f[0]!, Number(f[2])]));
  for (const g of groupAdd ?? []) {
    const gid = /^\d+$/.test(g) ? Number(g) : byName.get(g);
    if (gid === undefined) throw invalidArgument(`Unable to find group ${g}: no matching entries in group file`);
    if (!out.includes(gid)) out.push(gid);
  }
  return out;
}

const DEVICE_RULE_RE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** HostConfig.DeviceCgroupRules (`--device-cgroup-rule 'c 42:* rmw'`) as allow rules of the
 * devices cgroup; a "*" major or minor is left out (any). Refuses a malformed rule as dockerd. */
export function deviceCgroupRules(rules: string[] | null | undefined): Array<{ allow: true; type: string; major?: number; minor?: number; access: string }> {
  return (rules ?? []).map((r) => {
    const m = DEVICE_RULE_RE.exec(r);
    if (!m) throw invalidArgument(`invalid device cgroup format '${r}'`);
    return { allow: true, type: m[1]!, ...(m[2] !== "*" ? { major: Number(m[2]) } : {}), ...(m[3] !== "*" ? { minor: Number(m[3]) } : {}), access: m[4]! };
  });
}
