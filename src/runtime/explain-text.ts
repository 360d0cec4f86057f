// One line per `explain` step for a terminal: what the step did, with its values, in the
// words of the syscall or file it stands for. The JSON (explain.ts) is the data; this is
// only its reading.
import type { ExplainStep } from "./explain.ts";

const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(",") : "-");
const str = (v: unknown) => String(v ?? "");

function flagsText(v: unknown): string {
  return Array.isArray(v) && v.length ? ` (${v.join("|")})` : "";
}

export function describeStep(s: ExplainStep): string {
  switch (s.step) {
    case "cgroup-mkdir":
      return `mkdir ${str(s.path)}`;
    case "cgroup-write":
      return `write ${JSON.stringify(str(s.value))} > ${str(s.path)}`;
    case "mount": {
      const what = s.type ? `${str(s.source)} on ${str(s.target)} type ${str(s.type)}` : s.source ? `${str(s.source)} on ${str(s.target)}` : str(s.target);
      const where = s.namespace === "host" ? " [host]" : s.in === "rootfs" ? " [in rootfs]" : "";
      return `mount(${what}${s.data ? `, "${str(s.data)}"` : ""})${flagsText(s.flags)}${where}`;
    }
    case "idmapped-overlay":
      return `overlay on ${str(s.target)} over ${(s.lowerdirs as string[]).length} idmapped lower dir(s), uid_map ${list(s.uidMap)}`;
    case "bpf-device-filter":
      return `bpf(BPF_PROG_LOAD, ${str(s.instructions)} insns) + attach BPF_CGROUP_DEVICE to ${str(s.cgroup)}`;
    case "setns":
      return `setns(${str(s.path)}, ${str(s.namespace)})${s.sharedWith ? `  joins ${str(s.sharedWith)}` : ""}`;
    case "clone":
    case "unshare":
      return `${s.step}(${(s.flags as string[]).length ? (s.flags as string[]).join("|") : "0"})  new namespaces: ${list(s.namespaces)}`;
    case "uid-map":
    case "gid-map":
      return `write ${str(s.path)}: ${(s.map as string[]).join("; ")}`;
    case "hook":
      return `hook ${str(s.phase)} ${str(s.path)} ${list(s.args)}`;
    case "user":
      return `setgroups(${list(s.groups)}) setgid(${str(s.gid)}) setuid(${str(s.uid)})`;
    case "sysctl":
      return `sysctl ${str(s.key)}=${str(s.value)} (write ${str(s.path)})`;
    case "write":
      return `write ${JSON.stringify(str(s.value))} > ${str(s.path)}`;
    case "rootfs":
      return `open rootfs ${str(s.path)}`;
    case "mknod":
      return `mknod ${str(s.path)} ${str(s.type)} ${str(s.major)}:${str(s.minor)} mode ${str(s.mode)}`;
    case "bind-dev":
      return `bind host ${str(s.source)} on ${str(s.target)}`;
    case "symlink":
      return `symlink ${str(s.link)} -> ${str(s.target)}`;
    case "pivot-root":
      return `pivot_root(${str(s.path)}) and detach the old root`;
    case "chroot":
      return `chroot(${str(s.path)})`;
    case "mask":
      return `mask ${str(s.path)}`;
    case "readonly":
      return `remount ${str(s.path)} read-only`;
    case "remount":
      return `remount ${str(s.path)}${flagsText(s.flags)}`;
    case "console":
      return `open a pty (${str(s.rows)}x${str(s.cols)})`;
    case "hostname":
      return `sethostname(${JSON.stringify(str(s.name))})`;
    case "domainname":
      return `setdomainname(${JSON.stringify(str(s.name))})`;
    case "rlimit":
      return `setrlimit(${str(s.resource)}, soft ${str(s.soft)}, hard ${str(s.hard)})`;
    case "umask":
      return `umask(${str(s.mask)})`;
    case "chdir":
      return `chdir(${str(s.path)})`;
    case "capabilities":
      return `capabilities kept (bounding): ${list(s.bounding)}; effective ${(s.effective as string[]).length}, ambient ${list(s.ambient)}`;
    case "no-new-privs":
      return "prctl(PR_SET_NO_NEW_PRIVS, 1)";
    case "seccomp":
      return `seccomp filter: default ${str(s.defaultAction)}, ${str(s.rules)} rules over ${str(s.syscalls)} syscalls, arch ${list(s.architectures)}${(s.flags as string[]).length ? `, flags ${list(s.flags)}` : ""}`;
    case "setsid":
      return "setsid()";
    case "loopback-up":
      return "ip link set lo up";
    case "argv":
      return `argv ${JSON.stringify(s.args)}`;
    case "env":
      return `environment: ${(s.names as string[]).length} variables (${list(s.names)})`;
    case "lookup":
      return "find the program on the container's PATH";
    case "wait-start":
      return "wait for start";
    case "exec":
      return "execve (every other fd closed on exec)";
    default:
      return `${s.step} ${JSON.stringify(Object.fromEntries(Object.entries(s).filter(([k]) => !["step", "by", "when", "done"].includes(k))))}`;
  }
}
