// The seccomp filter a container gets, as Docker decides it: none when privileged or with
// `--security-opt seccomp=unconfined`; the user's profile with `seccomp=<JSON>` (the docker CLI
// reads the file and sends its content); otherwise Gantry's builtin profile.
//
// The builtin profile is a deny-list of our own design (not Docker's allow-list): every syscall
// is allowed except the ones that reach kernel state a container must not touch, which fail with
// EPERM. Most groups are tied to the capability the kernel itself checks for them, and a group
// is lifted when the container holds that capability (--cap-add SYS_ADMIN allows mount and
// unshare, SYS_PTRACE allows ptrace, ...), as Docker's profile does. The filter covers the
// native architecture and its compat ABIs, so a 32-bit syscall cannot get around it.
import { invalidArgument, type GantryError } from "../common/errors.ts";
import type { LinuxSeccomp } from "../runtime/index.ts";

type Rule = NonNullable<LinuxSeccomp["syscalls"]>[number];

const EPERM = 1;
const ENOSYS = 38;

/** Denied unless the container holds the capability (the one the kernel checks for them). */
const BY_CAPABILITY: { caps: string[]; names: string[] }[] = [
  {
    caps: ["CAP_SYS_ADMIN"],
    names: [
      // mounts and the new mount API
      "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
      // new namespaces and joining others (namespace flags of clone are filtered below)
      "unshare", "setns",
      "quotactl", "quotactl_fd", "lookup_dcookie", "swapon", "swapoff", "fanotify_init",
    ],
  },
  { caps: ["CAP_SYS_ADMIN", "CAP_BPF"], names: ["bpf"] },
  { caps: ["CAP_SYS_ADMIN", "CAP_PERFMON"], names: ["perf_event_open"] },
  { caps: ["CAP_SYS_BOOT"], names: ["reboot", "kexec_load", "kexec_file_load"] },
  { caps: ["CAP_SYS_MODULE"], names: ["init_module", "finit_module", "delete_module"] },
  { caps: ["CAP_SYS_PTRACE"], names: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise", "userfaultfd"] },
  { caps: ["CAP_SYS_TIME"], names: ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64"] },
  { caps: ["CAP_SYS_PACCT"], names: ["acct"] },
  { caps: ["CAP_SYS_RAWIO"], names: ["iopl", "ioperm"] },
  { caps: ["CAP_SYS_NICE"], names: ["mbind", "set_mempolicy", "migrate_pages", "move_pages"] },
  { caps: ["CAP_SYS_TTY_CONFIG"], names: ["vhangup"] },
  { caps: ["CAP_SYSLOG"], names: ["syslog"] },
  // the "shocker" escape: a file handle opens any inode of the host's filesystem (making a
  // handle, name_to_handle_at, is harmless and stays allowed)
  { caps: ["CAP_DAC_READ_SEARCH"], names: ["open_by_handle_at"] },
];

/** Denied whatever the capabilities: not namespaced (the kernel keyring), obsolete, or unused. */
const ALWAYS = [
  "keyctl", "add_key", "request_key",
  "create_module", "get_kernel_syms", "query_module", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl",
  "vm86", "vm86old", "afs_syscall", "tuxcall", "security", "getpmsg", "putpmsg", "vserver",
  "io_uring_setup", "io_uring_enter", "io_uring_register",
];

/** clone's namespace flags: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/** The architectures a filter must cover on this machine: the native one and its compat ABIs. */
function nativeArchitectures(): string[] {
  switch (process.arch) {
    case "x64":
      return ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
    case "arm64":
      return ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
    case "ppc64":
      return ["SCMP_ARCH_PPC64LE"];
    case "s390x":
      return ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"];
    case "riscv64":
      return ["SCMP_ARCH_RISCV64"];
    default:
      return [];
  }
}

/** personality(2) may only select the values programs use: PER_LINUX (0), PER_LINUX32 (0x8),
 * UNAME26 (0x20000), both, and the query 0xffffffff. Every other 32-bit value either has a bit
 * other than 3 and 17 set while bit 31 is clear, or has bit 31 set and some other bit clear;
 * each such bit is one masked comparison, and the rules are alternatives (OR). */
function personalityRules(): Rule[] {
  const rules: Rule[] = [];
  const top = 0x80000000;
  for (let bit = 0; bit < 31; bit++) {
    const b = 2 ** bit;
    if (bit !== 3 && bit !== 17) rules.push(deny(["personality"], [{ index: 0, op: "SCMP_CMP_MASKED_EQ", value: top + b, valueTwo: b }]));
    rules.push(deny(["personality"], [{ index: 0, op: "SCMP_CMP_MASKED_EQ", value: top + b, valueTwo: top }]));
  }
  return rules;
}

function deny(names: string[], args?: Rule["args"], errnoRet = EPERM): Rule {
  return { names, action: "SCMP_ACT_ERRNO", errnoRet, ...(args ? { args } : {}) };
}

/** Gantry's builtin profile for a container holding `caps` (CAP_* names). */
export function builtinSeccompProfile(caps: readonly string[]): LinuxSeccomp {
  const has = (c: string) => caps.includes(c);
  const syscalls: Rule[] = [deny(ALWAYS)];
  for (const group of BY_CAPABILITY) if (!group.caps.some(has)) syscalls.push(deny(group.names));
  syscalls.push(...personalityRules());
  if (!has("CAP_SYS_ADMIN")) {
    // clone's flags are in a register, so each namespace flag is one masked comparison; clone3
    // passes them in memory, which seccomp cannot read: ENOSYS makes libc fall back to clone.
    const flagsArg = process.arch === "s390x" ? 1 : 0;
    for (const flag of CLONE_NS_FLAGS) syscalls.push(deny(["clone"], [{ index: flagsArg, op: "SCMP_CMP_MASKED_EQ", value: flag, valueTwo: flag }]));
    syscalls.push(deny(["clone3"], undefined, ENOSYS));
  }
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: nativeArchitectures(), syscalls };
}

// ---- user profiles (Docker's profile JSON) ----

const ACTIONS = new Set([
  "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
]);
const OPS = new Set(["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]);
const FLAGS = new Set(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]);

interface ProfileFilter {
  caps?: string[];
  arches?: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function badProfile(path: string, problem: string): GantryError {
  return invalidArgument(`invalid seccomp profile: ${path}: ${problem}`);
}

function stringArray(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw badProfile(path, "must be an array of strings");
  return v as string[];
}

function checkAction(v: unknown, path: string): string {
  if (typeof v !== "string" || !ACTIONS.has(v)) throw badProfile(path, `unknown action ${JSON.stringify(v)}`);
  return v;
}

function errnoOf(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) throw badProfile(path, "must be an errno number");
  return v;
}

/** Docker's includes/excludes: the rule applies when the container holds every listed cap and
 * runs on a listed architecture (includes), and none of the excluded ones. */
function ruleApplies(rule: Record<string, unknown>, caps: readonly string[], arch: string, path: string): boolean {
  for (const key of ["includes", "excludes"] as const) {
    const f = rule[key];
    if (f === undefined || f === null) continue;
    if (!isObject(f)) throw badProfile(`${path}.${key}`, "must be an object");
    const filter = f as ProfileFilter;
    const fcaps = stringArray(filter.caps, `${path}.${key}.caps`).map((c) => (c.startsWith("CAP_") ? c : `CAP_${c}`));
    const arches = stringArray(filter.arches, `${path}.${key}.arches`);
    if (key === "includes") {
      if (!fcaps.every((c) => caps.includes(c))) return false;
      if (arches.length && !arches.includes(arch)) return false;
    } else {
      if (fcaps.some((c) => caps.includes(c))) return false;
      if (arches.includes(arch)) return false;
    }
  }
  return true;
}

/** Go's GOARCH names, which Docker profiles use in includes.arches. */
function goArch(): string {
  return ({ x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<string, string>)[process.arch] ?? process.arch;
}

/** Parses a profile in Docker's JSON format into linux.seccomp, evaluating its
 * capability and architecture conditions for this container. */
export function parseSeccompProfile(text: string, caps: readonly string[]): LinuxSeccomp {
  if (!text.trimStart().startsWith("{")) {
    throw invalidArgument(`invalid seccomp profile: expected the profile's JSON, got ${JSON.stringify(text.slice(0, 40))}`, {
      hint: "the docker CLI reads the file of --security-opt seccomp=PATH and sends its content; API clients must do the same",
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`invalid seccomp profile: not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw invalidArgument("invalid seccomp profile: the profile must be a JSON object");
  const defaultAction = checkAction(raw.defaultAction, "defaultAction");
  const defaultErrnoRet = errnoOf(raw.defaultErrnoRet, "defaultErrnoRet");
  let architectures = stringArray(raw.architectures, "architectures");
  // archMap: {architecture, subArchitectures}; Docker uses the entry of the native architecture.
  if (raw.archMap !== undefined && raw.archMap !== null) {
    if (!Array.isArray(raw.archMap)) throw badProfile("archMap", "must be an array");
    const native = nativeArchitectures()[0];
    for (const [i, m] of (raw.archMap as unknown[]).entries()) {
      if (!isObject(m) || typeof m.architecture !== "string") throw badProfile(`archMap[${i}]`, "needs an architecture");
      if (m.architecture === native) architectures = [...architectures, m.architecture, ...stringArray(m.subArchitectures, `archMap[${i}].subArchitectures`)];
    }
  }
  const flags = stringArray(raw.flags, "flags");
  for (const [i, f] of flags.entries()) if (!FLAGS.has(f)) throw badProfile(`flags[${i}]`, `unsupported flag ${f}`);
  if (raw.listenerPath) throw badProfile("listenerPath", "seccomp user notification is not supported");
  if (raw.syscalls !== undefined && raw.syscalls !== null && !Array.isArray(raw.syscalls)) throw badProfile("syscalls", "must be an array");
  const syscalls: Rule[] = [];
  for (const [i, s] of ((raw.syscalls as unknown[] | undefined) ?? []).entries()) {
    const path = `syscalls[${i}]`;
    if (!isObject(s)) throw badProfile(path, "must be an object");
    const names = stringArray(s.names, `${path}.names`);
    if (typeof s.name === "string" && s.name) names.push(s.name);
    if (!names.length) throw badProfile(path, "names no syscall (names is empty)");
    const action = checkAction(s.action, `${path}.action`);
    const errnoRet = errnoOf(s.errnoRet, `${path}.errnoRet`);
    if (s.args !== undefined && s.args !== null && !Array.isArray(s.args)) throw badProfile(`${path}.args`, "must be an array");
    const args = ((s.args as unknown[] | null | undefined) ?? []).map((a, k) => {
      const ap = `${path}.args[${k}]`;
      if (!isObject(a)) throw badProfile(ap, "must be an object");
      if (typeof a.index !== "number" || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw badProfile(`${ap}.index`, "must be 0 to 5");
      if (typeof a.value !== "number" || (a.valueTwo !== undefined && typeof a.valueTwo !== "number")) throw badProfile(ap, "value and valueTwo must be numbers");
      if (typeof a.op !== "string" || !OPS.has(a.op)) throw badProfile(`${ap}.op`, `unknown operator ${JSON.stringify(a.op)}`);
      return { index: a.index, value: a.value, ...(a.valueTwo !== undefined ? { valueTwo: a.valueTwo as number } : {}), op: a.op };
    });
    if (!ruleApplies(s, caps, goArch(), path)) continue;
    syscalls.push({ names, action, ...(errnoRet !== undefined ? { errnoRet } : {}), ...(args.length ? { args } : {}) });
  }
  return {
    defaultAction,
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures: [...new Set(architectures)] } : {}),
    ...(flags.length ? { flags } : {}),
    syscalls,
  };
}

/** What `--security-opt seccomp=VALUE` and privileged mode leave: no filter, the builtin
 * profile, or the user's profile (VALUE is the profile's JSON, as the docker CLI sends it). */
export function seccompFor(option: string | undefined, privileged: boolean, caps: readonly string[]): LinuxSeccomp | undefined {
  // Checked even when unused, so a bad file fails at create rather than never.
  const custom = option !== undefined && !["unconfined", "builtin", ""].includes(option) ? parseSeccompProfile(option, caps) : undefined;
  // Privileged containers run unconfined whatever the option (moby's WithSeccomp).
  if (privileged || option === "unconfined") return undefined;
  return custom ?? builtinSeccompProfile(caps);
}
