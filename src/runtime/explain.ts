// `explain`: the kernel steps a container was set up with, recorded at create from the exact
// plan the native helper executed (plus the cgroup files TypeScript wrote before it), never
// reconstructed from the config afterwards. The helper says how many plan steps it executed
// before it reported the pid ("pid N DONE", native/src/monitor.c); the steps after the wait
// for `start` ran when `start` succeeded (the child's exec closed the start connection).
// Pure: create stores the raw inputs (storedExplain), and they are described on reading
// (explainRecord); runtime.ts keeps them beside the container's state.
import { CAPABILITIES, CLONE, MS, RLIMITS } from "./plan/linux-constants.ts";
import type { PlanRecord } from "./plan/wire.ts";
import type { CgroupJournalEntry } from "./cgroups/cgroup-fs.ts";

/** One step as `explain` shows it: `step` names it, the other fields are its values. */
export interface ExplainStep {
  step: string;
  /** who did it: the runtime (TypeScript, before the helper ran), the helper's monitor on the
   * host, or the container's first process before its exec */
  by: "runtime" | "monitor" | "container";
  /** done at create, at `start` (steps after the wait for start), or by a later `update` */
  when: "create" | "start" | "update";
  /** set when read (Runtime.explain): whether it has run yet */
  done?: boolean;
  [field: string]: unknown;
}

export interface ExplainRecord {
  /** the container's host pid when the record was made */
  pid: number;
  recordedAt: string;
  steps: ExplainStep[];
}

export interface ExplainInput {
  plan: readonly PlanRecord[];
  /** plan steps the helper executed before reporting the pid */
  stepsDone: number;
  pid: number;
  /** the cgroup directories TypeScript made and files it wrote, in order (cgroups/cgroup-fs.ts) */
  cgroupJournal: readonly CgroupJournalEntry[];
}

/**
 * What create stores (explain.json): the plan as sent and the journal, described only when
 * someone asks (explainRecord), so a container's start pays for one small write and no more.
 * Environment values and seccomp rule conditions are left out of the stored plan: explain
 * shows variable names and rule counts, and values may be secrets.
 */
export interface StoredExplain extends ExplainInput {
  recordedAt: string;
  /** later cgroup writes (update), each batch with its time */
  updates?: { at: string; journal: CgroupJournalEntry[] }[];
}

export function storedExplain(input: ExplainInput): StoredExplain {
  const plan = input.plan.map((r): PlanRecord => (r[0] === "env" ? ["env", ...r.slice(1).map((e) => e.split("=", 1)[0]!)] : r[0] === "seccomp-rule" ? ["seccomp-rule", r[1]!, r[2]!] : r));
  return { plan, stepsDone: input.stepsDone, pid: input.pid, cgroupJournal: input.cgroupJournal, recordedAt: new Date().toISOString() };
}

const byValue = (table: Record<string, number>) => new Map(Object.entries(table).map(([k, v]) => [v, k]));
const CAP_NAMES = byValue(CAPABILITIES);
const RLIMIT_NAMES = byValue(RLIMITS);

/** Names of the bits set in `value`, from a table of single-bit constants; leftover bits in hex. */
export function flagNames(value: bigint, table: Record<string, number>, prefix: string): string[] {
  const names: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(table)) {
    const b = BigInt(bit);
    if (b && (value & b) === b) {
      names.push(prefix + name);
      rest &= ~b;
    }
  }
  if (rest) names.push("0x" + rest.toString(16));
  return names;
}

const cloneFlags = (v: string) => flagNames(BigInt(v), CLONE, "CLONE_");
const mountFlags = (v: string) => flagNames(BigInt(v), MS, "MS_");

function capNames(mask: string): string[] {
  const out: string[] = [];
  const m = BigInt(mask);
  for (let bit = 0n; m >> bit; bit++) if ((m >> bit) & 1n) out.push(CAP_NAMES.get(Number(bit)) ?? `CAP_${bit}`);
  return out;
}

/** libseccomp's action values (plan/seccomp.ts makes them) back to the OCI names. */
export function seccompActionName(v: string): string {
  const n = Number(v) >>> 0;
  const data = n & 0xffff;
  switch ((n & 0xffff0000) >>> 0) {
    case 0x00000000:
      return "SCMP_ACT_KILL";
    case 0x80000000:
      return "SCMP_ACT_KILL_PROCESS";
    case 0x00030000:
      return "SCMP_ACT_TRAP";
    case 0x00050000:
      return `SCMP_ACT_ERRNO(${data})`;
    case 0x7ff00000:
      return `SCMP_ACT_TRACE(${data})`;
    case 0x7fff0000:
      return "SCMP_ACT_ALLOW";
    case 0x7ffc0000:
      return "SCMP_ACT_LOG";
    default:
      return "0x" + n.toString(16);
  }
}

const NS_OF_FLAG: Record<string, string> = { NEWNS: "mnt", NEWUTS: "uts", NEWIPC: "ipc", NEWUSER: "user", NEWPID: "pid", NEWNET: "net", NEWCGROUP: "cgroup", NEWTIME: "time" };

function namespacesOf(flags: string): string[] {
  const v = BigInt(flags);
  return Object.entries(CLONE).filter(([, bit]) => (v & BigInt(bit)) !== 0n).map(([k]) => NS_OF_FLAG[k]!);
}

/** A plan step before its time is known: `index` is its place in the plan. */
interface PlannedStep {
  index: number;
  step: string;
  by: ExplainStep["by"];
  [field: string]: unknown;
}

/** The plan's steps as explain shows them; seccomp's many records become one step where the filter is loaded. */
function planSteps(plan: readonly PlanRecord[], pid: number): PlannedStep[] {
  const out: PlannedStep[] = [];
  let by: ExplainStep["by"] = "monitor";
  let seccomp: { defaultAction: string; architectures: string[]; flags: string[]; rules: number; syscalls: Set<string> } | undefined;
  const pidText = (s: string) => s.replaceAll("$PID", String(pid));
  for (const [index, rec] of plan.entries()) {
    const [op, ...a] = rec;
    const add = (step: string, fields: Record<string, unknown> = {}) => out.push({ index, step, by, ...fields });
    switch (op) {
      case "child":
        by = "container";
        break;
      case "mode":
      case "exit-file":
      case "log":
      case "attach-socket":
      case "stdio":
      case "start-socket":
      case "console-socket":
      case "end":
        break; // the monitor's own bookkeeping, no kernel state of the container
      case "host-mount":
        add("mount", { source: a[0], target: a[1], type: a[2], flags: mountFlags(a[3]!), data: a[4], namespace: "host" });
        break;
      case "idmapped-overlay":
        add("idmapped-overlay", { target: a[0], upperdir: a[1], workdir: a[2], uidMap: a[3]!.trimEnd().split("\n"), gidMap: a[4]!.trimEnd().split("\n"), lowerdirs: a.slice(6) });
        break;
      case "bpf-device-filter":
        add("bpf-device-filter", { cgroup: a[0], instructions: a[1]!.length / 16 });
        break;
      case "setns":
        add("setns", { path: a[0], namespace: namespacesOf(a[1]!)[0] });
        break;
      case "clone":
        add("clone", { flags: cloneFlags(a[0]!), namespaces: namespacesOf(a[0]!) });
        break;
      case "clone-into-cgroup":
        // The clone itself placed the child (clone3 CLONE_INTO_CGROUP), or the monitor wrote its pid.
        add("cgroup-write", { path: `${a[0]!}/cgroup.procs`, value: String(pid) });
        break;
      case "join-cgroup":
        // "0" written by the container's process before its other steps (or by the joiner that clones it).
        out.push({ index, step: "cgroup-write", by: "container", path: a[0], value: "0" });
        break;
      case "write-after-clone": {
        const path = pidText(a[0]!);
        const m = /\/(uid_map|gid_map)$/.exec(path);
        if (m) add(m[1] === "uid_map" ? "uid-map" : "gid-map", { path, map: a[1]!.trimEnd().split("\n") });
        else add("cgroup-write", { path, value: pidText(a[1]!) });
        break;
      }
      case "hook":
        add("hook", { phase: a[0], path: a[3], args: a.slice(5, 5 + Number(a[4])) });
        break;
      case "user":
        add("user", { uid: Number(a[0]), gid: Number(a[1]), groups: a[2] ? a[2].split(",").map(Number) : [] });
        break;
      case "unshare":
        add("unshare", { flags: cloneFlags(a[0]!), namespaces: namespacesOf(a[0]!) });
        break;
      case "setsid":
      case "loopback-up":
      case "no-new-privs":
      case "lookup":
        add(op);
        break;
      case "wait-start":
        add("wait-start");
        break;
      case "write":
        add("write", { path: a[0], value: a[1] });
        break;
      case "sysctl":
        add("sysctl", { key: a[0], value: a[1], path: `/proc/sys/${a[0]!.replaceAll(".", "/")}` });
        break;
      case "rootfs":
        add("rootfs", { path: a[0] });
        break;
      case "mount":
        add("mount", { source: a[0], target: a[1], type: a[2], flags: mountFlags(a[3]!), data: a[4], in: a[6] === "root" ? "rootfs" : "/" });
        break;
      case "mknod":
        add("mknod", { path: a[0], type: a[1], major: Number(a[2]), minor: Number(a[3]), mode: "0" + Number(a[4]).toString(8) });
        break;
      case "bind-dev":
        add("bind-dev", { source: a[0], target: a[1] });
        break;
      case "symlink":
        add("symlink", { target: a[0], link: a[1] });
        break;
      case "pivot-root":
      case "chroot":
        add(op, { path: a[0] });
        break;
      case "mask":
      case "readonly":
        add(op, { path: a[0] });
        break;
      case "remount":
        add("remount", { path: a[0], flags: mountFlags(a[1]!) });
        break;
      case "console":
        add("console", { rows: Number(a[1]), cols: Number(a[2]) });
        break;
      case "hostname":
      case "domainname":
        add(op, { name: a[0] });
        break;
      case "rlimit":
        add("rlimit", { resource: RLIMIT_NAMES.get(Number(a[0])) ?? a[0], soft: a[1], hard: a[2] });
        break;
      case "umask":
        add("umask", { mask: "0" + Number(a[0]).toString(8) });
        break;
      case "chdir":
        add("chdir", { path: a[0] });
        break;
      case "caps":
        add("capabilities", { bounding: capNames(a[0]!), effective: capNames(a[1]!), permitted: capNames(a[2]!), inheritable: capNames(a[3]!), ambient: capNames(a[4]!) });
        break;
      case "seccomp-init":
        seccomp = { defaultAction: seccompActionName(a[0]!), architectures: [], flags: [], rules: 0, syscalls: new Set() };
        break;
      case "seccomp-arch":
        seccomp?.architectures.push(a[0]!);
        break;
      case "seccomp-flag":
        seccomp?.flags.push(a[0]!);
        break;
      case "seccomp-rule":
        if (seccomp) {
          seccomp.rules++;
          seccomp.syscalls.add(a[1]!);
        }
        break;
      case "seccomp-load":
        if (seccomp) add("seccomp", { defaultAction: seccomp.defaultAction, architectures: seccomp.architectures, flags: seccomp.flags, rules: seccomp.rules, syscalls: seccomp.syscalls.size });
        seccomp = undefined;
        break;
      case "argv":
        add("argv", { args: a });
        break;
      case "env":
        // names only: values may be secrets, and explain is about the kernel
        add("env", { names: a.map((e) => e.split("=")[0]) });
        break;
      case "exec":
        add("exec", { preserveFds: Number(a[0]) });
        break;
      default:
        add(op, { args: a });
    }
  }
  return out;
}

function journalSteps(journal: readonly CgroupJournalEntry[], when: ExplainStep["when"]): ExplainStep[] {
  return journal.map((e): ExplainStep =>
    e.op === "mkdir" ? { step: "cgroup-mkdir", by: "runtime", when, path: e.path } : { step: "cgroup-write", by: "runtime", when, path: e.path, value: e.value },
  );
}

/** The steps in order: the runtime's cgroup work, the plan's steps, then later updates. */
export function explainRecord(stored: StoredExplain): ExplainRecord {
  const runtime = journalSteps(stored.cgroupJournal, "create");
  const steps = planSteps(stored.plan, stored.pid).map(({ index, ...s }): ExplainStep => ({ ...s, step: s.step, by: s.by, when: index < stored.stepsDone ? "create" : "start" }));
  const updates = (stored.updates ?? []).flatMap((u) => journalSteps(u.journal, "update").map((s) => ({ ...s, at: u.at })));
  return { pid: stored.pid, recordedAt: stored.recordedAt, steps: [...runtime, ...steps, ...updates] };
}
