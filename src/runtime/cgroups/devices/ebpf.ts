// Device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program, for cgroup v2 (which has no
// devices.allow file: the kernel asks an eBPF program attached to the cgroup instead).
//
// This file only produces the instruction bytes; loading (bpf(BPF_PROG_LOAD)) and attaching
// (bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) on the cgroup directory fd) is the C helper's job.
//
// Semantics are v1's, so a config means the same on both versions: start from "deny
// everything", apply the rules in order the way the v1 kernel code does (an "a" rule resets
// the default and clears the list; a rule with the default's verdict removes access bits
// from an identical exception; any other rule adds or widens an exception), then emit one
// block per exception. Exceptions all have the same verdict (the opposite of the default),
// so their order in the program does not matter.
import type { DeviceRule } from "./rules.ts";

// include/uapi/linux/bpf.h
const BPF_DEVCG_ACC_MKNOD = 1;
const BPF_DEVCG_ACC_READ = 2;
const BPF_DEVCG_ACC_WRITE = 4;
const BPF_DEVCG_DEV_BLOCK = 1;
const BPF_DEVCG_DEV_CHAR = 2;

// Opcodes: class | op | source (include/uapi/linux/bpf_common.h, bpf.h).
const LDX_MEM_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT = 0x95; // BPF_JMP | BPF_EXIT

export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** An exception after emulation: the device(s) and the access bits it grants or denies. */
export interface DeviceException {
  type: "c" | "b";
  major: number | null;
  minor: number | null;
  access: number;
}

export interface EmulatedDevices {
  defaultAllow: boolean;
  exceptions: DeviceException[];
}

function accessBits(access: string): number {
  let bits = 0;
  if (access.includes("r")) bits |= BPF_DEVCG_ACC_READ;
  if (access.includes("w")) bits |= BPF_DEVCG_ACC_WRITE;
  if (access.includes("m")) bits |= BPF_DEVCG_ACC_MKNOD;
  return bits;
}

const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

/** Runs the rules through v1's list semantics (security/device_cgroup.c), starting from deny-all. */
export function emulateDeviceRules(rules: readonly DeviceRule[]): EmulatedDevices {
  let defaultAllow = false;
  let exceptions: DeviceException[] = [];
  for (const r of rules) {
    if (r.type === "a") {
      defaultAllow = r.allow;
      exceptions = [];
      continue;
    }
    const bits = accessBits(r.access);
    const same = exceptions.find((e) => e.type === r.type && e.major === r.major && e.minor === r.minor);
    if (r.allow === defaultAllow) {
      // Agreeing with the default narrows an identical exception (dev_exception_rm).
      if (same) {
        same.access &= ~bits;
        if (same.access === 0) exceptions = exceptions.filter((e) => e !== same);
      }
    } else if (same) same.access |= bits; // dev_exception_add merges access of identical entries
    else exceptions.push({ type: r.type, major: r.major, minor: r.minor, access: bits });
  }
  return { defaultAllow, exceptions };
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });

/**
 * The program as instructions. Registers: R1 = ctx (struct bpf_cgroup_dev_ctx {u32
 * access_type; u32 major; u32 minor}), R2 = device type, R3 = requested access, R4 = major,
 * R5 = minor. Returns 1 to allow, 0 to deny.
 */
export function deviceFilterInstructions(rules: readonly DeviceRule[]): BpfInsn[] {
  const { defaultAllow, exceptions } = emulateDeviceRules(rules);
  const out: BpfInsn[] = [
    insn(LDX_MEM_W, 2, 1, 0, 0), // R2 = access_type
    insn(ALU32_AND_K, 2, 0, 0, 0xffff), // low 16 bits: BPF_DEVCG_DEV_*
    insn(LDX_MEM_W, 3, 1, 0, 0), // R3 = access_type
    insn(ALU32_RSH_K, 3, 0, 0, 16), // high 16 bits: BPF_DEVCG_ACC_*
    insn(LDX_MEM_W, 4, 1, 4, 0), // R4 = major
    insn(LDX_MEM_W, 5, 1, 8, 0), // R5 = minor
  ];
  const verdict = defaultAllow ? 0 : 1;
  for (const e of exceptions) {
    // Jumps say "skip to the next block"; their offsets are filled once the block's length is known.
    const block: BpfInsn[] = [insn(JMP_JNE_K, 2, 0, 0, e.type === "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK)];
    if (e.access !== ALL_ACCESS) {
      block.push(insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, e.access));
      // Allow exceptions must cover every requested bit (match_exception); deny exceptions
      // hit when any requested bit is denied (match_exception_partial).
      block.push(defaultAllow ? insn(JMP_JEQ_K, 1, 0, 0, 0) : insn(JMP_JNE_X, 1, 3, 0, 0));
    }
    if (e.major !== null) block.push(insn(JMP_JNE_K, 4, 0, 0, e.major | 0));
    if (e.minor !== null) block.push(insn(JMP_JNE_K, 5, 0, 0, e.minor | 0));
    block.push(insn(ALU32_MOV_K, 0, 0, 0, verdict), insn(JMP_EXIT, 0, 0, 0, 0));
    const nextBlock = block.length;
    block.forEach((ins, i) => {
      if (ins.code === JMP_JNE_K || ins.code === JMP_JNE_X || ins.code === JMP_JEQ_K) ins.off = nextBlock - (i + 1);
    });
    out.push(...block);
  }
  out.push(insn(ALU32_MOV_K, 0, 0, 0, defaultAllow ? 1 : 0), insn(JMP_EXIT, 0, 0, 0, 0));
  return out;
}

/** struct bpf_insn encoding: u8 code; u8 dst:4 (low), src:4 (high); s16 off; s32 imm (little-endian hosts). */
export function encodeInstructions(insns: readonly BpfInsn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    buf.writeUInt8(ins.code, i * 8);
    buf.writeUInt8((ins.src << 4) | ins.dst, i * 8 + 1);
    buf.writeInt16LE(ins.off, i * 8 + 2);
    buf.writeInt32LE(ins.imm, i * 8 + 4);
  });
  return buf;
}

export interface DeviceFilterProgram {
  /** Ready for bpf_attr.insns; insn_cnt = instructions.length / 8. */
  instructions: Buffer;
  /** bpf_attr.license; cgroup device programs use no GPL-only helpers. */
  license: string;
}

/** What the C helper loads as BPF_PROG_TYPE_CGROUP_DEVICE and attaches with BPF_CGROUP_DEVICE. */
export function deviceFilterProgram(rules: readonly DeviceRule[]): DeviceFilterProgram {
  return { instructions: encodeInstructions(deviceFilterInstructions(rules)), license: "Apache-2.0" };
}
