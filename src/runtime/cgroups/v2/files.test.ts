import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../../../common/errors.ts";
import * as cpu from "./cpu.ts";
import * as cpuset from "./cpuset.ts";
import * as hugetlb from "./hugetlb.ts";
import * as io from "./io.ts";
import * as memory from "./memory.ts";
import * as pids from "./pids.ts";
import * as unified from "./unified.ts";
import { V2Cgroup, v2Files } from "./driver.ts";
import { ancestorsOf } from "./subtree.ts";

const pairs = (files: Array<{ file: string; value: string }>) => files.map((f) => [f.file, f.value]);
const isCode = (code: string) => (e: unknown) => e instanceof GantryError && e.code === code;

test("shares -> cpu.weight by runc's linear formula 1 + ((shares - 2) * 9999) / 262142", () => {
  // 1 + (511 * 9999) / 262142 = 1 + 19.49.. -> 20
  assert.equal(cpu.sharesToWeight(513), 20);
  assert.equal(cpu.sharesToWeight(2), 1);
  assert.equal(cpu.sharesToWeight(262144), 10000);
  assert.equal(cpu.sharesToWeight(1024), 39);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { shares: 513 } })), [["cpu.weight", "20"]]);
  // out-of-range shares are clamped as v1 would
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { shares: 1 } })), [["cpu.weight", "1"]]);
});

test("v2 cpu.max is 'quota period', 'max period' without a quota, quota alone without a period", () => {
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { quota: 200000, period: 100000 } })), [["cpu.max", "200000 100000"]]);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { quota: -1, period: 100000 } })), [["cpu.max", "max 100000"]]);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { period: 50000 } })), [["cpu.max", "max 50000"]]);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { quota: 150000 } })), [["cpu.max", "150000"]]);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { burst: 1000, idle: 0 } })), [
    ["cpu.max.burst", "1000"],
    ["cpu.idle", "0"],
  ]);
  assert.throws(() => cpu.toFiles({ cpu: { realtimeRuntime: 1000 } }), isCode("UNSUPPORTED_OPTION"));
});

test("v2 memory: memory.max, swap.max = swap - limit, memory.low, oom.group", () => {
  assert.deepEqual(pairs(memory.toFiles({ memory: { limit: 1073741824, swap: 1293942784, reservation: 536870912 } })), [
    ["memory.swap.max", "220200960"],
    ["memory.max", "1073741824"],
    ["memory.low", "536870912"],
    ["memory.oom.group", "1"],
  ]);
  assert.deepEqual(pairs(memory.toFiles({ memory: { limit: -1 } })), [
    ["memory.swap.max", "max"],
    ["memory.max", "max"],
    ["memory.oom.group", "1"],
  ]);
  assert.equal(memory.swapMax(1000, -1), "max");
  assert.equal(memory.swapMax(1000, 1000), "0");
  assert.equal(memory.swapMax(1000, 0), undefined);
  assert.throws(() => memory.swapMax(1000, 500), isCode("INVALID_SPEC"));
  assert.throws(() => memory.swapMax(0, 500), isCode("INVALID_SPEC"));
  assert.throws(() => memory.toFiles({ memory: { swappiness: 7 } }), isCode("UNSUPPORTED_OPTION"));
  assert.throws(() => memory.toFiles({ memory: { disableOOMKiller: true } }), isCode("UNSUPPORTED_OPTION"));
  assert.deepEqual(memory.toFiles({ memory: { kernel: 1 << 20, kernelTCP: 1 << 20 } }), []);
});

test("v2 io: io.weight converted from blkio scale, one io.max line per device", () => {
  assert.equal(io.blkioToIoWeight(10), 1);
  assert.equal(io.blkioToIoWeight(1000), 10000);
  assert.equal(io.blkioToIoWeight(500), 4950);
  const files = io.toFiles({
    blockIO: {
      weight: 500,
      weightDevice: [{ major: 8, minor: 0, weight: 1000 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
      throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 0 }],
    },
  });
  assert.deepEqual(pairs(files), [
    ["io.weight", "default 4950"],
    ["io.weight", "8:0 10000"],
    ["io.max", "8:0 rbps=1048576 wbps=2097152 riops=100"],
    ["io.max", "8:16 wiops=max"],
  ]);
  assert.throws(() => io.toFiles({ blockIO: { leafWeight: 10 } }), isCode("UNSUPPORTED_OPTION"));
});

test("v2 pids, cpuset, hugetlb", () => {
  assert.deepEqual(pairs(pids.toFiles({ pids: { limit: 42 } })), [["pids.max", "42"]]);
  assert.deepEqual(pairs(pids.toFiles({ pids: { limit: -1 } })), [["pids.max", "max"]]);
  assert.deepEqual(pairs(cpuset.toFiles({ cpu: { cpus: "1", mems: "0" } })), [
    ["cpuset.cpus", "1"],
    ["cpuset.mems", "0"],
  ]);
  assert.deepEqual(pairs(hugetlb.toFiles({ hugepageLimits: [{ pageSize: "1GB", limit: 1073741824 }] })), [["hugetlb.1GB.max", "1073741824"]]);
});

test("v2 unified: raw keys pass through, path tricks and control files are refused", () => {
  assert.deepEqual(pairs(unified.toFiles({ unified: { "memory.high": "1073741824", "cpu.weight.nice": "5" } })), [
    ["memory.high", "1073741824"],
    ["cpu.weight.nice", "5"],
  ]);
  for (const key of ["../memory.max", "memory/../x", "cgroup.procs", "cgroup.subtree_control", "noext"]) {
    assert.throws(() => unified.toFiles({ unified: { [key]: "1" } }), isCode("INVALID_SPEC"), key);
  }
  assert.equal(unified.controllerOf("memory.swap.max"), "memory");
});

test("v2Files: order is cpuset, cpu, memory, io, pids, hugetlb, then unified; v1-only settings refused", () => {
  const files = v2Files({ unified: { "memory.high": "5" }, pids: { limit: 3 }, cpu: { shares: 513, cpus: "0" } });
  assert.deepEqual(pairs(files), [
    ["cpuset.cpus", "0"],
    ["cpu.weight", "20"],
    ["pids.max", "3"],
    ["memory.high", "5"],
  ]);
  assert.throws(() => v2Files({ network: { classID: 1 } }), isCode("UNSUPPORTED_OPTION"));
  assert.deepEqual(v2Files(undefined), []);
});

test("subtree_control is written at the mount point and each level above the container", () => {
  assert.deepEqual(ancestorsOf("/sys/fs/cgroup", "/sys/fs/cgroup/gantry/a/b"), ["/sys/fs/cgroup", "/sys/fs/cgroup/gantry", "/sys/fs/cgroup/gantry/a"]);
  assert.deepEqual(ancestorsOf("/sys/fs/cgroup", "/sys/fs/cgroup/x"), ["/sys/fs/cgroup"]);
});

test("v2 deviceFilter hands the C helper the eBPF program for the config's device rules", () => {
  const cg = new V2Cgroup("/sys/fs/cgroup", "/sys/fs/cgroup/gantry/x", undefined);
  assert.equal(cg.deviceFilter({}), undefined);
  const prog = cg.deviceFilter({ devices: [{ allow: false, access: "rwm" }] });
  assert.equal(prog?.instructions.length, 8 * 8); // prologue of 6, then "return 0"
  assert.equal(prog?.license, "Apache-2.0");
});
