// OCI linux.seccomp → helper steps for libseccomp. Actions and operators become
// libseccomp's numeric values here, so the helper only forwards numbers.
import { GantryError } from "../../common/errors.ts";
import type { LinuxSeccomp } from "../spec/oci.ts";
import type { PlanStep } from "./plan-ops.ts";

const EPERM = 1;

function actionValue(action: string, errnoRet: number | undefined, path: string): number {
  switch (action) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return 0x00000000;
    case "SCMP_ACT_KILL_PROCESS":
      return 0x80000000;
    case "SCMP_ACT_TRAP":
      return 0x00030000;
    case "SCMP_ACT_ERRNO":
      return (0x00050000 | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case "SCMP_ACT_TRACE":
      return (0x7ff00000 | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case "SCMP_ACT_ALLOW":
      return 0x7fff0000;
    case "SCMP_ACT_LOG":
      return 0x7ffc0000;
    case "SCMP_ACT_NOTIFY":
      throw new GantryError("UNSUPPORTED_OPTION", `${path}: SCMP_ACT_NOTIFY needs a seccomp listener, which Gantry does not support`, { path });
    default:
      throw new GantryError("INVALID_SPEC", `${path}: unknown seccomp action ${JSON.stringify(action)}`, { path });
  }
}

const ARCHES: Record<string, string> = {
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_X86_64: "x86_64",
  SCMP_ARCH_X32: "x32",
  SCMP_ARCH_ARM: "arm",
  SCMP_ARCH_AARCH64: "aarch64",
  SCMP_ARCH_MIPS: "mips",
  SCMP_ARCH_MIPS64: "mips64",
  SCMP_ARCH_MIPS64N32: "mips64n32",
  SCMP_ARCH_MIPSEL: "mipsel",
  SCMP_ARCH_MIPSEL64: "mipsel64",
  SCMP_ARCH_MIPSEL64N32: "mipsel64n32",
  SCMP_ARCH_PPC: "ppc",
  SCMP_ARCH_PPC64: "ppc64",
  SCMP_ARCH_PPC64LE: "ppc64le",
  SCMP_ARCH_S390: "s390",
  SCMP_ARCH_S390X: "s390x",
  SCMP_ARCH_RISCV64: "riscv64",
};

const OPS: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

const FLAGS = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"] as const;
const isFlag = (f: string): f is (typeof FLAGS)[number] => (FLAGS as readonly string[]).includes(f);

export function planSeccomp(seccomp: LinuxSeccomp): PlanStep[] {
  const base = "linux.seccomp";
  const defaultAction = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet, `${base}.defaultAction`);
  if (seccomp.listenerPath) {
    throw new GantryError("UNSUPPORTED_OPTION", `${base}.listenerPath: seccomp user notification is not supported`);
  }
  const steps: PlanStep[] = [["seccomp-init", String(defaultAction)]];
  for (const [i, arch] of (seccomp.architectures ?? []).entries()) {
    const name = ARCHES[arch];
    if (!name) throw new GantryError("INVALID_SPEC", `${base}.architectures[${i}]: unknown architecture ${arch}`);
    steps.push(["seccomp-arch", name]);
  }
  for (const [i, flag] of (seccomp.flags ?? []).entries()) {
    if (!isFlag(flag)) throw new GantryError("UNSUPPORTED_OPTION", `${base}.flags[${i}]: unsupported seccomp flag ${flag}`);
    steps.push(["seccomp-flag", flag]);
  }
  for (const [i, rule] of (seccomp.syscalls ?? []).entries()) {
    const path = `${base}.syscalls[${i}]`;
    const action = actionValue(rule.action, rule.errnoRet, `${path}.action`);
    // libseccomp cannot filter a syscall with its own default action: nothing to add.
    if (action === defaultAction) continue;
    const conds = (rule.args ?? []).map((a, k) => {
      const op = OPS[a.op];
      if (op === undefined) throw new GantryError("INVALID_SPEC", `${path}.args[${k}].op: unknown operator ${a.op}`);
      return [String(a.index), String(op), String(a.value), String(a.valueTwo ?? 0)];
    });
    // libseccomp ANDs conditions but refuses two on the same argument; as runc does, such
    // conditions become separate rules (OR), which is what profiles that list them mean.
    const indexes = conds.map((c) => c[0]);
    const sameArgTwice = new Set(indexes).size !== indexes.length;
    const groups = sameArgTwice ? conds.map((c) => [c]) : [conds];
    for (const name of rule.names) {
      for (const group of groups) steps.push(["seccomp-rule", String(action), name, ...group.flat()]);
    }
  }
  steps.push(["seccomp-load"]);
  return steps;
}
