import { test } from "node:test";
import assert from "node:assert/strict";
import type { BpfInsn } from "./ebpf.ts";
import { deviceFilterInstructions, deviceFilterProgram, emulateDeviceRules, encodeInstructions } from "./ebpf.ts";
import { deviceRules } from "./rules.ts";
import type { LinuxResources } from "../../spec/oci.ts";

const R = 2; // BPF_DEVCG_ACC_READ
const W = 4;
const M = 1;
const CHAR = 2;
const BLOCK = 1;

/** A tiny interpreter for exactly the opcodes the generator emits, to test what programs decide. */
function run(insns: readonly BpfInsn[], ctx: { type: number; access: number; major: number; minor: number }): number {
  const mem = [((ctx.access << 16) | ctx.type) >>> 0, ctx.major >>> 0, ctx.minor >>> 0];
  const reg = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; pc < insns.length && steps < 1000; pc++, steps++) {
    const i = insns[pc]!;
    switch (i.code) {
      case 0x61: reg[i.dst] = mem[i.off / 4]!; break;
      case 0x54: reg[i.dst] = (reg[i.dst]! & i.imm) >>> 0; break;
      case 0x74: reg[i.dst] = reg[i.dst]! >>> i.imm; break;
      case 0xb4: reg[i.dst] = i.imm >>> 0; break;
      case 0xbc: reg[i.dst] = reg[i.src]!; break;
      case 0x15: if (reg[i.dst] === i.imm >>> 0) pc += i.off; break;
      case 0x55: if (reg[i.dst] !== i.imm >>> 0) pc += i.off; break;
      case 0x5d: if (reg[i.dst] !== reg[i.src]) pc += i.off; break;
      case 0x95: return reg[0]!;
      default: throw new Error(`opcode ${i.code.toString(16)}`);
    }
  }
  throw new Error("program fell off the end");
}

const program = (devices: LinuxResources["devices"]) => deviceFilterInstructions(deviceRules({ devices }) ?? []);
const dev = (type: number, major: number, minor: number, access: number) => ({ type, major, minor, access });

test("docker-like rules: deny all, allow /dev/null and ptys; everything else is denied", () => {
  const p = program([
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 136, access: "rwm" },
    { allow: true, type: "c", major: 5, minor: 1, access: "rw" },
  ]);
  assert.equal(run(p, dev(CHAR, 1, 3, R | W)), 1);
  assert.equal(run(p, dev(CHAR, 1, 3, M)), 1);
  assert.equal(run(p, dev(CHAR, 136, 7, R | W)), 1);
  assert.equal(run(p, dev(CHAR, 5, 1, R | W)), 1);
  assert.equal(run(p, dev(CHAR, 5, 1, M)), 0); // mknod not granted
  assert.equal(run(p, dev(CHAR, 5, 1, R | M)), 0); // every requested bit must be granted
  assert.equal(run(p, dev(BLOCK, 1, 3, R)), 0); // type matters
  assert.equal(run(p, dev(CHAR, 1, 5, R)), 0);
  assert.equal(run(p, dev(BLOCK, 8, 0, R)), 0);
});

test("allow all then deny one device: a deny hits when any requested bit is denied", () => {
  const p = program([
    { allow: true, access: "rwm" },
    { allow: false, type: "b", major: 8, minor: 0, access: "w" },
  ]);
  assert.equal(run(p, dev(BLOCK, 8, 0, R)), 1);
  assert.equal(run(p, dev(BLOCK, 8, 0, W)), 0);
  assert.equal(run(p, dev(BLOCK, 8, 0, R | W)), 0);
  assert.equal(run(p, dev(CHAR, 8, 0, W)), 1);
});

test("rules combine as in v1: identical allows merge, a later deny narrows, an 'a' resets", () => {
  const rules = deviceRules({
    devices: [
      { allow: true, type: "c", major: 1, minor: 3, access: "r" },
      { allow: true, type: "c", major: 1, minor: 3, access: "w" },
      { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
      { allow: false, type: "c", major: 1, minor: 5, access: "w" },
      { allow: true, type: "c", major: 1, minor: 9, access: "r" },
      { allow: false, type: "c", major: 1, minor: 9, access: "r" },
    ],
  })!;
  assert.deepEqual(emulateDeviceRules(rules), {
    defaultAllow: false,
    exceptions: [
      { type: "c", major: 1, minor: 3, access: R | W },
      { type: "c", major: 1, minor: 5, access: R | M },
    ],
  });
  const p = deviceFilterInstructions(rules);
  assert.equal(run(p, dev(CHAR, 1, 3, R | W)), 1);
  assert.equal(run(p, dev(CHAR, 1, 5, W)), 0);
  assert.equal(run(p, dev(CHAR, 1, 5, R)), 1);
  assert.equal(run(p, dev(CHAR, 1, 9, R)), 0);
  const reset = deviceRules({ devices: [{ allow: true, type: "c", major: 1, minor: 3, access: "r" }, { allow: true, type: "a", access: "rwm" }] })!;
  assert.deepEqual(emulateDeviceRules(reset), { defaultAllow: true, exceptions: [] });
  assert.equal(run(deviceFilterInstructions(reset), dev(BLOCK, 8, 0, R | W | M)), 1);
});

test("no rules at all denies everything (the deny-all start, as on v1)", () => {
  const p = program([]);
  assert.equal(p.length, 8);
  assert.equal(run(p, dev(CHAR, 1, 3, R)), 0);
});

test("exact encoding of the /dev/null rule", () => {
  const { instructions, license } = deviceFilterProgram(deviceRules({ devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }] })!);
  assert.equal(license, "Apache-2.0");
  assert.equal(
    instructions.toString("hex").match(/.{16}/g)!.join(" "),
    [
      "6112000000000000", // r2 = *(u32 *)(r1 + 0)
      "54020000ffff0000", // w2 &= 0xffff
      "6113000000000000", // r3 = *(u32 *)(r1 + 0)
      "7403000010000000", // w3 >>= 16
      "6114040000000000", // r4 = *(u32 *)(r1 + 4)
      "6115080000000000", // r5 = *(u32 *)(r1 + 8)
      "5502040002000000", // if r2 != 2 (char) goto +4
      "5504030001000000", // if r4 != 1 goto +3
      "5505020003000000", // if r5 != 3 goto +2
      "b400000001000000", // w0 = 1
      "9500000000000000", // exit
      "b400000000000000", // w0 = 0
      "9500000000000000", // exit
    ].join(" "),
  );
  assert.equal(encodeInstructions([{ code: 0x5d, dst: 1, src: 3, off: -2, imm: 0 }]).toString("hex"), "5d31feff00000000");
});
