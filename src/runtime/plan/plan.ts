// planCreate/planExec: turn a validated OCI config into the ordered steps the C helper
// executes (native/src/child.c documents each op). Pure: no I/O except what the caller
// passes in, so every ordering decision is unit-tested.
import { GantryError } from "../../common/errors.ts";
import type { IdMapping, LinuxDevice, LinuxSeccomp, NamespaceType, OciConfig, OciHook, OciProcess } from "../spec/oci.ts";
import { CAPABILITIES, CLONE, MS, RLIMITS } from "./linux-constants.ts";
import { parseMountOptions, propagationFlag } from "./mount-options.ts";
import { planSeccomp } from "./seccomp.ts";
import type { PlanStep } from "./plan-ops.ts";

export const PID_PLACEHOLDER = "__GANTRY_PID__";

const NS_FLAGS: Record<NamespaceType, number> = {
  user: CLONE.NEWUSER,
  pid: CLONE.NEWPID,
  network: CLONE.NEWNET,
  ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS,
  mount: CLONE.NEWNS,
  cgroup: CLONE.NEWCGROUP,
  time: CLONE.NEWTIME,
};

/** /proc/PID/ns/<name> for each namespace type. */
export const NS_PROC_NAMES: Record<NamespaceType, string> = {
  user: "user",
  pid: "pid",
  network: "net",
  ipc: "ipc",
  uts: "uts",
  mount: "mnt",
  cgroup: "cgroup",
  time: "time",
};

/** setns order: user first (it grants the rights to enter the rest), mount last (it changes path lookup). */
const JOIN_ORDER: NamespaceType[] = ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"];

export interface CgroupMountSource {
  version: 1 | 2;
  /** hierarchy directory name under /sys/fs/cgroup (v1) → the container's host cgroup dir */
  hierarchies: Record<string, string>;
  /** v2: the container's unified cgroup dir */
  unified?: string;
}

/** Engine monitor mode: the helper stays, owns stdio, writes json-file logs, serves attach. */
export interface MonitorPlan {
  logPath: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  attachSocket: string;
  openStdin?: boolean;
  /** false: the exit file is not fsynced before its rename (a container nothing keeps past
   * its exit, as `run --rm`: only a power loss could lose the file, and nothing would read it) */
  exitFileSync?: boolean;
}

/**
 * A mount the monitor makes in the caller's mount namespace before the container's exists,
 * e.g. an engine's overlay root filesystem: one process fewer per container than mount(8).
 */
export type HostMount = PlainHostMount | IdmappedOverlayMount;

export interface PlainHostMount {
  idmapped?: undefined;
  source: string;
  target: string;
  type: string;
  flags?: number;
  data?: string;
  /** the monitor's working directory for the mount, so `data` may use relative paths */
  cwd?: string;
  /** monitor and foreground modes: unmount (lazily) once the container has exited or failed */
  unmountOnExit?: boolean;
}

/**
 * An overlay whose lower dirs are idmapped mounts shifted by a user namespace's maps (the
 * native helper's "idmapped-overlay" step): a user-namespaced container's root filesystem
 * over lower dirs that stay shared and unchanged on disk. The upper dir holds host ids.
 */
export interface IdmappedOverlayMount {
  idmapped: true;
  target: string;
  /** top first, as overlay's lowerdir= lists them */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  unmountOnExit?: boolean;
}

/** uid_map / gid_map text: one "inside outside count" line per mapping. */
export function idMapText(m: readonly IdMapping[]): string {
  return m.map((x) => `${x.containerID} ${x.hostID} ${x.size}`).join("\n") + "\n";
}

/** The monitor's step for one host mount. */
export function hostMountStep(m: HostMount): PlanStep {
  const unmount = m.unmountOnExit ? "unmount-on-exit" : "";
  if (m.idmapped) return ["idmapped-overlay", m.target, m.upperdir, m.workdir, idMapText(m.uidMappings), idMapText(m.gidMappings), unmount, ...m.lowerdirs];
  return ["host-mount", m.source, m.target, m.type, String(m.flags ?? 0), m.data ?? "", m.cwd ?? "", unmount];
}

/**
 * How the container's process gets into its cgroups without the kernel's global cgroup attach
 * lock (a write of a pid to cgroup.procs takes it, and its first taker after a quiet spell
 * waits an RCU grace period: ~8 ms of every `run` here, runc pays it too): created in its v2
 * group (clone3 CLONE_INTO_CGROUP), and moving itself into each v1 hierarchy ("0" to tasks
 * moves the writing thread, which the kernel does without that lock). The monitor falls back
 * to writing the pid where the kernel cannot (no clone3, a namespace joiner in between).
 */
export function cgroupPlacement(procsFiles: readonly string[], mounts: Pick<CgroupMountSource, "unified">): PlanStep[] {
  return procsFiles.map((f): PlanStep => {
    const dir = f.replace(/\/cgroup\.procs$/, "");
    return dir === mounts.unified ? ["clone-into-cgroup", dir] : ["join-cgroup", `${dir}/tasks`];
  });
}

export interface CreatePlanOptions {
  mode: "detach" | "foreground" | "monitor";
  hostMounts?: HostMount[];
  monitor?: MonitorPlan;
  rootfs: string;
  /** where `start` connects; without one the process does not wait for start (run) */
  startSocket?: string;
  terminal: "none" | "socket" | "monitor";
  consoleSocket?: string;
  cgroupProcsFiles: string[];
  cgroupMounts: CgroupMountSource;
  /** OCI state JSON given to hooks on stdin, with PID_PLACEHOLDER for the pid. */
  hookState: string;
  capLastCap: number;
  exitFile?: string;
  noPivot?: boolean;
  preserveFds?: number;
  /** Host path existence and type, for choosing what a bind mount's destination must be. */
  isDirectory: (hostPath: string) => boolean | undefined;
  /** The runtime runs in a user namespace that is not the host's (rootless): no mknod, host devices are bound. */
  rootless?: boolean;
  /** cgroup v2: the device rules as a BPF program the monitor attaches to this cgroup dir. */
  deviceFilter?: { cgroupDir: string; instructions: Buffer; license: string };
}

const DEFAULT_DEVICES: LinuxDevice[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

export function defaultDevices(): LinuxDevice[] {
  return DEFAULT_DEVICES.map((d) => ({ ...d }));
}

function namespaceSets(config: OciConfig) {
  const created = new Set<NamespaceType>();
  const joined: { type: NamespaceType; path: string }[] = [];
  const seen = new Set<string>();
  for (const [i, ns] of (config.linux?.namespaces ?? []).entries()) {
    const type = ns.type as NamespaceType;
    if (seen.has(type)) {
      throw new GantryError("INVALID_SPEC", `linux.namespaces[${i}].type: namespace "${type}" is listed twice`, {
        path: `linux.namespaces[${i}].type`,
      });
    }
    seen.add(type);
    if (type === "time") {
      throw new GantryError("UNSUPPORTED_OPTION", `linux.namespaces[${i}]: time namespaces are not supported`, {
        path: `linux.namespaces[${i}].type`,
      });
    }
    if (ns.path) joined.push({ type, path: ns.path });
    else created.add(type);
  }
  joined.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  return { created, joined };
}

function capMask(names: readonly string[] | undefined, path: string, lastCap: number): bigint {
  let mask = 0n;
  for (const [i, name] of (names ?? []).entries()) {
    const bit = CAPABILITIES[name];
    if (bit === undefined) {
      // runc and crun accept unknown names silently; a typo would then silently drop a
      // capability the user meant to keep, so Gantry refuses it.
      throw new GantryError("INVALID_SPEC", `${path}[${i}]: unknown capability ${JSON.stringify(name)}`, {
        path: `${path}[${i}]`,
        hint: "capability names look like CAP_NET_ADMIN",
      });
    }
    if (bit <= lastCap) mask |= 1n << BigInt(bit);
  }
  return mask;
}

export function planProcessSecurity(
  process: OciProcess,
  seccomp: LinuxSeccomp | undefined,
  capLastCap: number,
  base = "process",
): { user: PlanStep[]; beforeStart: PlanStep[]; afterStart: PlanStep[] } {
  const user: PlanStep[] = [];
  const beforeStart: PlanStep[] = [];
  const afterStart: PlanStep[] = [];
  for (const [i, rl] of (process.rlimits ?? []).entries()) {
    const res = RLIMITS[rl.type];
    if (res === undefined) {
      throw new GantryError("INVALID_SPEC", `${base}.rlimits[${i}].type: unknown rlimit ${JSON.stringify(rl.type)}`, {
        path: `${base}.rlimits[${i}].type`,
      });
    }
    if (rl.soft > rl.hard) {
      throw new GantryError("INVALID_SPEC", `${base}.rlimits[${i}]: soft limit ${rl.soft} exceeds hard limit ${rl.hard}`);
    }
    user.push(["rlimit", String(res), BigInt(rl.soft).toString(), BigInt(rl.hard).toString()]);
  }
  const seccompSteps = seccomp ? planSeccomp(seccomp) : [];
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN in effect, and switching
  // to a non-root uid clears the effective set: load it before the user step (runc's order).
  if (!process.noNewPrivileges) user.push(...seccompSteps);
  const u = process.user;
  user.push(["user", String(u.uid), String(u.gid), (u.additionalGids ?? []).join(",")]);
  user.push(["umask", String(u.umask ?? 0o022)]);
  user.push(["chdir", process.cwd]);

  const caps = process.capabilities;
  const permitted = capMask(caps?.permitted, `${base}.capabilities.permitted`, capLastCap);
  const inheritable = capMask(caps?.inheritable, `${base}.capabilities.inheritable`, capLastCap);
  // The kernel only raises an ambient capability that is also permitted and inheritable;
  // runc skips the others rather than failing, and so do we (runc's default spec lists
  // ambient capabilities without an inheritable set).
  const ambient = capMask(caps?.ambient, `${base}.capabilities.ambient`, capLastCap) & permitted & inheritable;
  const hex = (m: bigint) => "0x" + m.toString(16);
  const capsStep: PlanStep = [
    "caps",
    hex(capMask(caps?.bounding, `${base}.capabilities.bounding`, capLastCap)),
    hex(capMask(caps?.effective, `${base}.capabilities.effective`, capLastCap)),
    hex(permitted),
    hex(inheritable),
    hex(ambient),
  ];
  if (process.noNewPrivileges) {
    // With no_new_privs, loading a filter needs no privilege: do it as late as possible
    // so the filter need not allow the runtime's own setup calls (runc's order).
    beforeStart.push(capsStep, ["no-new-privs"]);
    afterStart.push(...seccompSteps);
  } else {
    beforeStart.push(capsStep);
  }
  return { user, beforeStart, afterStart };
}

function hookSteps(phase: "runtime" | "container", hooks: readonly OciHook[] | undefined, state: string): PlanStep[] {
  return (hooks ?? []).map((h) => {
    const args = h.args ?? [h.path];
    return ["hook", phase, String(h.timeout ?? 0), state, h.path, String(args.length), ...args, ...(h.env ?? [])];
  });
}

function clean(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return "/" + parts.join("/");
}

function planCgroupMount(dest: string, flags: number, src: CgroupMountSource, cgroupns: boolean): PlanStep[] {
  const ro = (flags & MS.RDONLY) !== 0;
  const base = flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC);
  if (src.version === 2) {
    if (cgroupns) return [["mount", "cgroup", dest, "cgroup2", String(flags), "", "dir", "root"]];
    const steps: PlanStep[] = [["mount", src.unified ?? "/sys/fs/cgroup", dest, "", String(MS.BIND | MS.REC), "", "dir", "root"]];
    if (ro || base) steps.push(["mount", "", dest, "", String(MS.BIND | MS.REMOUNT | flags), "", "none", "root"]);
    return steps;
  }
  // v1: a tmpfs with one bind per hierarchy, showing the container its own cgroups
  // (what runc does on v1 hosts).
  const steps: PlanStep[] = [["mount", "tmpfs", dest, "tmpfs", String(base), "mode=755", "dir", "root"]];
  for (const [name, hostDir] of Object.entries(src.hierarchies).sort()) {
    const d = `${dest}/${name}`;
    steps.push(["mount", hostDir, d, "", String(MS.BIND | MS.REC), "", "dir", "root"]);
    steps.push(["mount", "", d, "", String(MS.BIND | MS.REMOUNT | base | (ro ? MS.RDONLY : 0)), "", "none", "root"]);
  }
  if (ro) steps.push(["mount", "", dest, "", String(MS.REMOUNT | MS.RDONLY | base), "mode=755", "none", "root"]);
  return steps;
}

/** rootfsPropagation values applied to the new / after pivot_root (see planCreate). */
const AFTER_PIVOT_PROPAGATION = new Set(["shared", "rshared", "unbindable", "runbindable"]);

/** The uid/gid maps give the namespace a root (container id 0). */
function mapsRoot(m: { containerID: number; size: number }[] | undefined): boolean {
  return (m ?? []).some((x) => x.containerID === 0 && x.size > 0);
}

export function planCreate(config: OciConfig, opts: CreatePlanOptions): PlanStep[] {
  const linux = config.linux ?? {};
  // Without a process (allowed at create) the child waits for start and then ends.
  const process = config.process;
  const { created, joined } = namespaceSets(config);
  const hasMountNs = created.has("mount") || joined.some((j) => j.type === "mount");
  const newUserns = created.has("user");
  const inUserns = newUserns || joined.some((j) => j.type === "user");
  if (newUserns && !(linux.uidMappings?.length && linux.gidMappings?.length)) {
    throw new GantryError("INVALID_SPEC", "linux.uidMappings: a new user namespace needs uidMappings and gidMappings", {
      path: "linux.uidMappings",
    });
  }
  if (!newUserns && (linux.uidMappings?.length || linux.gidMappings?.length) && !joined.some((j) => j.type === "user")) {
    throw new GantryError("INVALID_SPEC", "linux.uidMappings: mappings given but no new user namespace is requested", {
      path: "linux.uidMappings",
    });
  }
  if (config.hostname && !created.has("uts") && !joined.some((j) => j.type === "uts")) {
    throw new GantryError("INVALID_SPEC", "hostname: setting a hostname needs a new uts namespace", { path: "hostname" });
  }
  if (linux.sysctl) {
    for (const key of Object.keys(linux.sysctl)) {
      if (!/^[a-z0-9_]+(\.[A-Za-z0-9_\-]+)+$/.test(key)) {
        throw new GantryError("INVALID_SPEC", `linux.sysctl: invalid sysctl name ${JSON.stringify(key)}`, { path: "linux.sysctl" });
      }
    }
  }

  // ---- monitor section ----
  const steps: PlanStep[] = [["mode", opts.mode]];
  if (opts.exitFile) steps.push(["exit-file", opts.exitFile, opts.monitor?.exitFileSync === false ? "no-fsync" : "fsync"]);
  for (const m of opts.hostMounts ?? []) {
    if (m.unmountOnExit && opts.mode === "detach") {
      throw new GantryError("INVALID_ARGUMENT", `host mount on ${m.target}: unmount-on-exit needs a monitor that stays (monitor or foreground mode)`);
    }
    steps.push(hostMountStep(m));
  }
  if (opts.mode === "monitor") {
    const m = opts.monitor;
    if (!m) throw new GantryError("INTERNAL", "monitor mode needs log and attach paths");
    steps.push(["log", m.logPath, String(m.logMaxSize ?? 0), String(m.logMaxFiles ?? 1)]);
    steps.push(["attach-socket", m.attachSocket]);
    // With a terminal the pty carries everything; otherwise the monitor owns pipes.
    if (!process?.terminal) steps.push(["stdio", "pipes", m.openStdin ? "open" : "closed"]);
  }
  if (opts.startSocket) steps.push(["start-socket", opts.startSocket]);
  if (opts.terminal === "socket") {
    if (!opts.consoleSocket) throw new GantryError("INVALID_ARGUMENT", "process.terminal is true: --console-socket is required");
    steps.push(["console-socket", opts.consoleSocket]);
  }
  if (opts.deviceFilter) {
    const f = opts.deviceFilter;
    steps.push(["bpf-device-filter", f.cgroupDir, f.instructions.toString("hex"), f.license]);
  }
  for (const j of joined) steps.push(["setns", j.path, String(NS_FLAGS[j.type])]);
  let cloneFlags = 0;
  for (const t of created) if (t !== "cgroup") cloneFlags |= NS_FLAGS[t];
  steps.push(["clone", String(cloneFlags)]);
  if (newUserns) {
    steps.push(["write-after-clone", "/proc/$PID/uid_map", idMapText(linux.uidMappings!)]);
    steps.push(["write-after-clone", "/proc/$PID/gid_map", idMapText(linux.gidMappings!)]);
  }
  steps.push(...cgroupPlacement(opts.cgroupProcsFiles, opts.cgroupMounts));
  const hooks = config.hooks ?? {};
  steps.push(...hookSteps("runtime", hooks.prestart, opts.hookState));
  steps.push(...hookSteps("runtime", hooks.createRuntime, opts.hookState));

  // ---- child section ----
  steps.push(["child"]);
  // After clone(CLONE_NEWUSER) the child keeps the host's uid and gid, which the maps
  // usually leave unmapped; a filesystem mounted inside the namespace (the /dev tmpfs)
  // then refuses to create files for it (EOVERFLOW). Become the namespace's root first,
  // as runc does; the process's own user is set later.
  // A joined user namespace likewise: after setns the host's root is unmapped there.
  if (inUserns && mapsRoot(linux.uidMappings) && mapsRoot(linux.gidMappings)) steps.push(["user", "0", "0", ""]);
  // The cgroup namespace must be created after the child sits in its cgroup, so that
  // the namespace's root is the container's cgroup, not the host's.
  if (created.has("cgroup")) steps.push(["unshare", String(CLONE.NEWCGROUP)]);
  steps.push(["setsid"]);
  // A new network namespace has lo down: up, as runc and crun do, so a container without a
  // network (docker --network none) still reaches 127.0.0.1 without a CNI plugin run.
  if (created.has("network")) steps.push(["loopback-up"]);
  if (process?.oomScoreAdj !== undefined) steps.push(["write", "/proc/self/oom_score_adj", String(process.oomScoreAdj)]);
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) steps.push(["sysctl", key, value]);

  const rootfs = opts.rootfs;
  if (hasMountNs) {
    const prop = linux.rootfsPropagation ?? "rslave";
    const propFlag = propagationFlag(prop);
    if (propFlag === undefined) {
      throw new GantryError("INVALID_SPEC", `linux.rootfsPropagation: unknown propagation ${JSON.stringify(prop)}`, {
        path: "linux.rootfsPropagation",
      });
    }
    // pivot_root refuses a shared parent (the host's / usually is), and an unbindable
    // rootfs cannot be bound onto itself: both are applied after pivot_root, below.
    steps.push(["mount", "", "/", "", String(AFTER_PIVOT_PROPAGATION.has(prop) ? MS.SLAVE | MS.REC : propFlag), "", "none", "abs"]);
    steps.push(["mount", rootfs, rootfs, "", String(MS.BIND | MS.REC), "", "none", "abs"]);
  }
  steps.push(["rootfs", rootfs]);

  let devBound = false;
  if (hasMountNs) {
    for (const [i, m] of (config.mounts ?? []).entries()) {
      const path = `mounts[${i}]`;
      if (!m.destination.startsWith("/")) {
        throw new GantryError("INVALID_SPEC", `${path}.destination: must be an absolute path, got ${JSON.stringify(m.destination)}`, { path: `${path}.destination` });
      }
      const dest = clean(m.destination);
      const o = parseMountOptions(m.options);
      if (o.unsupported.length) {
        throw new GantryError("UNSUPPORTED_OPTION", `${path}.options: unsupported mount option(s) ${o.unsupported.join(", ")}`, { path: `${path}.options` });
      }
      const isBind = (o.flags & MS.BIND) !== 0 || m.type === "bind";
      if (dest === "/dev" && isBind) devBound = true;
      if (m.type === "cgroup" || m.type === "cgroup2") {
        steps.push(...planCgroupMount(dest, o.flags, opts.cgroupMounts, created.has("cgroup")));
        continue;
      }
      if (m.type === "sysfs" && !isBind && opts.rootless && !created.has("network")) {
        // sysfs may only be mounted by the user namespace that owns the network namespace:
        // rootless with the daemon's network (--network host), bind the host's /sys as runc does.
        steps.push(["mount", "/sys", dest, "", String(MS.BIND | MS.REC), "", "dir", "root"]);
        steps.push(["mount", "", dest, "", String(MS.BIND | MS.REMOUNT | (o.flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC))), "", "none", "root"]);
        continue;
      }
      if (isBind) {
        const src = m.source ?? "";
        if (!src) throw new GantryError("INVALID_SPEC", `${path}.source: a bind mount needs a source`, { path: `${path}.source` });
        const kind = opts.isDirectory(src);
        if (kind === undefined) {
          throw new GantryError("INVALID_SPEC", `${path}.source: bind source ${src} does not exist`, { path: `${path}.source` });
        }
        const bindFlags = MS.BIND | (o.flags & MS.REC);
        steps.push(["mount", src, dest, "", String(bindFlags), "", kind ? "dir" : "file", "root"]);
        const rest = o.flags & ~(MS.BIND | MS.REC);
        if (rest) steps.push(["mount", "", dest, "", String(MS.BIND | MS.REMOUNT | rest), "", "none", "root"]);
      } else {
        const type = m.type ?? "";
        if (!type) throw new GantryError("INVALID_SPEC", `${path}.type: a non-bind mount needs a filesystem type`, { path: `${path}.type` });
        steps.push(["mount", m.source ?? type, dest, type, String(o.flags), o.data, "dir", "root"]);
      }
      for (const p of o.propagation) steps.push(["mount", "", dest, "", String(p), "", "none", "root"]);
    }
  }

  // Devices: the defaults plus linux.devices, unless /dev comes from the host.
  if (hasMountNs && !devBound) {
    const devices = [...DEFAULT_DEVICES, ...(linux.devices ?? [])];
    const seenDev = new Map<string, LinuxDevice>();
    for (const d of devices) seenDev.set(clean(d.path), d);
    for (const [p, d] of seenDev) {
      if (inUserns || opts.rootless) {
        // Device nodes cannot be created in a user namespace: bind the host's.
        steps.push(["bind-dev", p, p]);
      } else {
        if ((d.type === "c" || d.type === "b" || d.type === "u") && (d.major === undefined || d.minor === undefined)) {
          throw new GantryError("INVALID_SPEC", `linux.devices: ${p} needs major and minor numbers`, { path: "linux.devices" });
        }
        steps.push([
          "mknod", p, d.type === "u" ? "c" : d.type, String(d.major ?? 0), String(d.minor ?? 0),
          String(d.fileMode ?? 0o666), String(d.uid ?? 0), String(d.gid ?? 0),
        ]);
      }
    }
    {
      steps.push(["symlink", "/proc/self/fd", "/dev/fd"]);
      steps.push(["symlink", "/proc/self/fd/0", "/dev/stdin"]);
      steps.push(["symlink", "/proc/self/fd/1", "/dev/stdout"]);
      steps.push(["symlink", "/proc/self/fd/2", "/dev/stderr"]);
      steps.push(["symlink", "pts/ptmx", "/dev/ptmx"]);
    }
  }

  steps.push(...hookSteps("container", hooks.createContainer, opts.hookState));

  if (hasMountNs) {
    if (opts.noPivot) steps.push(["chroot", rootfs]);
    else steps.push(["pivot-root", rootfs]);
    for (const p of linux.maskedPaths ?? []) steps.push(["mask", p]);
    for (const p of linux.readonlyPaths ?? []) steps.push(["readonly", p]);
    if (config.root?.readonly) steps.push(["remount", "/", String(MS.RDONLY)]);
    const prop = linux.rootfsPropagation;
    if (prop && AFTER_PIVOT_PROPAGATION.has(prop)) steps.push(["mount", "", "/", "", String(propagationFlag(prop)), "", "none", "abs"]);
  } else {
    steps.push(["chroot", rootfs]);
  }

  if (process?.terminal) {
    const size = process.consoleSize;
    steps.push(["console", opts.terminal === "socket" ? "socket" : "monitor", String(size?.height ?? 0), String(size?.width ?? 0)]);
  }
  if (config.hostname !== undefined) steps.push(["hostname", config.hostname]);
  if (config.domainname !== undefined) steps.push(["domainname", config.domainname]);
  if (!process) {
    if (opts.startSocket) steps.push(["wait-start"]);
    steps.push(["end"]);
    return steps;
  }

  const sec = planProcessSecurity(process, linux.seccomp, opts.capLastCap);
  steps.push(...sec.user, ...sec.beforeStart);
  steps.push(["argv", ...process.args]);
  steps.push(["env", ...(process.env ?? [])]);
  steps.push(["lookup"]);
  if (opts.startSocket) steps.push(["wait-start"]);
  steps.push(...sec.afterStart);
  steps.push(...hookSteps("container", hooks.startContainer, opts.hookState));
  steps.push(["exec", String(opts.preserveFds ?? 0)]);
  steps.push(["end"]);
  return steps;
}

export interface ExecPlanOptions {
  /** monitor: the helper stays as the process's monitor, as for an engine's container */
  mode: "detach" | "foreground" | "monitor";
  /** monitor mode: attach socket (and log, "" for none), like a container's */
  monitor?: MonitorPlan;
  exitFile?: string;
  /** the process waits here, its program found, until the caller has attached and connects */
  startSocket?: string;
  targetPid: number;
  /** namespace types to join (the container's, from its config) */
  namespaces: NamespaceType[];
  terminal: "none" | "socket" | "monitor";
  consoleSocket?: string;
  cgroupProcsFiles: string[];
  /** the container's cgroup v2 group (cloned into rather than written to) */
  cgroupUnified?: string;
  capLastCap: number;
  preserveFds?: number;
}

/** exec: join the container's namespaces and cgroups, apply the process settings, exec. */
export function planExec(config: OciConfig, process: OciProcess, opts: ExecPlanOptions): PlanStep[] {
  const steps: PlanStep[] = [["mode", opts.mode]];
  if (opts.mode === "monitor") {
    const m = opts.monitor;
    if (!m || !opts.exitFile || !opts.startSocket) throw new GantryError("INTERNAL", "exec in monitor mode needs attach, exit-file and start socket paths");
    steps.push(["exit-file", opts.exitFile, "fsync"], ["log", m.logPath, "0", "1"], ["attach-socket", m.attachSocket]);
    if (!process.terminal) steps.push(["stdio", "pipes", m.openStdin ? "open" : "closed"]);
  }
  if (opts.startSocket) steps.push(["start-socket", opts.startSocket]);
  if (opts.terminal === "socket") {
    if (!opts.consoleSocket) throw new GantryError("INVALID_ARGUMENT", "--tty needs --console-socket when detached");
    steps.push(["console-socket", opts.consoleSocket]);
  }
  const order = [...opts.namespaces].sort((a, b) => JOIN_ORDER.indexOf(a) - JOIN_ORDER.indexOf(b));
  for (const t of order) steps.push(["setns", `/proc/${opts.targetPid}/ns/${NS_PROC_NAMES[t]}`, String(NS_FLAGS[t])]);
  steps.push(["clone", "0"]);
  // The cgroup placement's files are opened by the monitor, which never leaves the host's
  // namespaces; the joiner moves itself into them before its setns, so the process it
  // clones is born there.
  steps.push(...cgroupPlacement(opts.cgroupProcsFiles, { unified: opts.cgroupUnified }));
  steps.push(["child"]);
  steps.push(["setsid"]);
  if (process.oomScoreAdj !== undefined) steps.push(["write", "/proc/self/oom_score_adj", String(process.oomScoreAdj)]);
  if (process.terminal) {
    steps.push(["console", opts.terminal === "socket" ? "socket" : "monitor", String(process.consoleSize?.height ?? 0), String(process.consoleSize?.width ?? 0)]);
  }
  const sec = planProcessSecurity(process, config.linux?.seccomp, opts.capLastCap);
  steps.push(...sec.user, ...sec.beforeStart);
  steps.push(["argv", ...process.args]);
  steps.push(["env", ...(process.env ?? [])]);
  steps.push(["lookup"]);
  if (opts.startSocket) steps.push(["wait-start"]);
  steps.push(...sec.afterStart);
  steps.push(["exec", String(opts.preserveFds ?? 0)]);
  steps.push(["end"]);
  return steps;
}
