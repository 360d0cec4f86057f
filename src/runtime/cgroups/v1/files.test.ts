import { test } from "node:test";
import assert from "node:assert/strict";
import type { LinuxResources } from "../../spec/oci.ts";
import { GantryError } from "../../../common/errors.ts";
import * as blkio from "./blkio.ts";
import * as cpu from "./cpu.ts";
import * as cpuset from "./cpuset.ts";
import * as devices from "./devices.ts";
import * as hugetlb from "./hugetlb.ts";
import * as memory from "./memory.ts";
import * as netCls from "./net-cls.ts";
import * as netPrio from "./net-prio.ts";
import * as pids from "./pids.ts";
import { v1Files } from "./driver.ts";
import type { V1Host } from "./driver.ts";

const pairs = (files: Array<{ file: string; value: string }>) => files.map((f) => [f.file, f.value]);
const unlimited = { currentLimit: 9223372036854771712, swapAccounting: true };

test("v1 cpu: shares, CFS period before quota, burst, realtime, idle", () => {
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { shares: 513, quota: 200000, period: 100000 } })), [
    ["cpu.shares", "513"],
    ["cpu.cfs_period_us", "100000"],
    ["cpu.cfs_quota_us", "200000"],
  ]);
  assert.deepEqual(pairs(cpu.toFiles({ cpu: { quota: -1, burst: 5000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 1 } })), [
    ["cpu.cfs_quota_us", "-1"],
    ["cpu.cfs_burst_us", "5000"],
    ["cpu.rt_period_us", "1000000"],
    ["cpu.rt_runtime_us", "950000"],
    ["cpu.idle", "1"],
  ]);
  assert.deepEqual(cpu.toFiles({ cpu: { shares: 0, quota: 0 } }), []);
  assert.deepEqual(cpu.toFiles(undefined), []);
});

test("v1 cpuset: cpus and mems go in as given", () => {
  assert.deepEqual(pairs(cpuset.toFiles({ cpu: { cpus: "0-1", mems: "0" } })), [
    ["cpuset.cpus", "0-1"],
    ["cpuset.mems", "0"],
  ]);
});

test("v1 memory: limit, memsw (OCI swap is memory+swap), swappiness 7, soft limit, OOM killer", () => {
  const r: LinuxResources = { memory: { limit: 1073741824, swap: 1293942784, swappiness: 7, reservation: 536870912, disableOOMKiller: true } };
  assert.deepEqual(pairs(memory.toFiles(r, unlimited)), [
    // the current limit (unlimited) is above the new memsw: the limit must come down first
    ["memory.limit_in_bytes", "1073741824"],
    ["memory.memsw.limit_in_bytes", "1293942784"],
    ["memory.soft_limit_in_bytes", "536870912"],
    ["memory.swappiness", "7"],
    ["memory.oom_control", "1"],
  ]);
});

test("v1 memory: raising writes memsw before the limit, lowering the limit before memsw", () => {
  const r: LinuxResources = { memory: { limit: 1073741824, swap: 1293942784 } };
  assert.deepEqual(pairs(memory.toFiles(r, { currentLimit: 268435456, swapAccounting: true })), [
    ["memory.memsw.limit_in_bytes", "1293942784"],
    ["memory.limit_in_bytes", "1073741824"],
  ]);
  assert.deepEqual(pairs(memory.toFiles(r, { currentLimit: 2147483648, swapAccounting: true })), [
    ["memory.limit_in_bytes", "1073741824"],
    ["memory.memsw.limit_in_bytes", "1293942784"],
  ]);
  // swap -1 is unlimited: always safe to write first
  assert.deepEqual(pairs(memory.toFiles({ memory: { limit: 1 << 20, swap: -1 } }, { currentLimit: 0, swapAccounting: true })), [
    ["memory.memsw.limit_in_bytes", "-1"],
    ["memory.limit_in_bytes", "1048576"],
  ]);
});

test("v1 memory: unlimited memory means unlimited swap only where swap is accounted; kernel memory is skipped", () => {
  assert.deepEqual(pairs(memory.toFiles({ memory: { limit: -1 } }, unlimited)), [
    ["memory.memsw.limit_in_bytes", "-1"],
    ["memory.limit_in_bytes", "-1"],
  ]);
  assert.deepEqual(pairs(memory.toFiles({ memory: { limit: -1 } }, { ...unlimited, swapAccounting: false })), [["memory.limit_in_bytes", "-1"]]);
  assert.deepEqual(pairs(memory.toFiles({ memory: { kernel: 1 << 20, kernelTCP: 1 << 20 } }, unlimited)), [["memory.kmem.tcp.limit_in_bytes", "1048576"]]);
});

test("v1 pids: a positive limit is written, 0 and -1 are max", () => {
  assert.deepEqual(pairs(pids.toFiles({ pids: { limit: 42 } })), [["pids.max", "42"]]);
  assert.deepEqual(pairs(pids.toFiles({ pids: { limit: 0 } })), [["pids.max", "max"]]);
  assert.deepEqual(pairs(pids.toFiles({ pids: { limit: -1 } })), [["pids.max", "max"]]);
});

test("v1 blkio: weights in CFQ or BFQ files, one throttle write per device", () => {
  const r: LinuxResources = {
    blockIO: {
      weight: 300,
      leafWeight: 200,
      weightDevice: [{ major: 8, minor: 0, weight: 400, leafWeight: 100 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteBpsDevice: [{ major: 8, minor: 16, rate: 2097152 }],
      throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 0 }],
    },
  };
  assert.deepEqual(pairs(blkio.toFiles(r, { weightPrefix: "blkio." })), [
    ["blkio.weight", "300"],
    ["blkio.leaf_weight", "200"],
    ["blkio.weight_device", "8:0 400"],
    ["blkio.leaf_weight_device", "8:0 100"],
    ["blkio.throttle.read_bps_device", "8:0 1048576"],
    ["blkio.throttle.write_bps_device", "8:16 2097152"],
    ["blkio.throttle.read_iops_device", "8:0 100"],
    ["blkio.throttle.write_iops_device", "8:0 0"],
  ]);
  assert.deepEqual(pairs(blkio.toFiles({ blockIO: { weight: 300 } }, { weightPrefix: "blkio.bfq." })), [["blkio.bfq.weight", "300"]]);
});

test("v1 hugetlb, net_cls, net_prio", () => {
  assert.deepEqual(pairs(hugetlb.toFiles({ hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }] })), [["hugetlb.2MB.limit_in_bytes", "4194304"]]);
  assert.throws(() => hugetlb.toFiles({ hugepageLimits: [{ pageSize: "../2MB", limit: 1 }] }), (e: unknown) => e instanceof GantryError && e.code === "INVALID_SPEC");
  assert.deepEqual(pairs(netCls.toFiles({ network: { classID: 0x100001 } })), [["net_cls.classid", "1048577"]]);
  assert.deepEqual(pairs(netPrio.toFiles({ network: { priorities: [{ name: "eth0", priority: 5 }, { name: "lo", priority: 2 }] } })), [
    ["net_prio.ifpriomap", "eth0 5"],
    ["net_prio.ifpriomap", "lo 2"],
  ]);
});

test("v1 devices: deny all first, then the rules in order, wildcards as *", () => {
  const r: LinuxResources = {
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 136, access: "rw" },
      { allow: false, type: "b", major: 8, minor: -1, access: "mwr" },
    ],
  };
  assert.deepEqual(pairs(devices.toFiles(r)), [
    ["devices.deny", "a"],
    ["devices.deny", "a"],
    ["devices.allow", "c 1:3 rwm"],
    ["devices.allow", "c 136:* rw"],
    ["devices.deny", "b 8:* rwm"],
  ]);
  assert.deepEqual(devices.toFiles({}), []);
  assert.throws(() => devices.toFiles({ devices: [{ allow: true, type: "x", access: "r" }] }), /devices\[0\]\.type/);
  assert.throws(() => devices.toFiles({ devices: [{ allow: true, type: "c", access: "rx" }] }), /devices\[0\]\.access/);
});

test("v1 refuses unified with a clear error and groups files by controller", () => {
  const host: V1Host = { memory: unlimited, blkio: { weightPrefix: "blkio." } };
  assert.throws(
    () => v1Files({ unified: { "memory.high": "1G" } }, host),
    (e: unknown) => e instanceof GantryError && e.code === "UNSUPPORTED_OPTION" && /needs cgroup v2/.test(e.message),
  );
  const groups = v1Files({ cpu: { shares: 513, cpus: "0" }, pids: { limit: 5 } }, host);
  assert.deepEqual(groups.map((g) => g.controller), ["cpuset", "cpu", "pids"]);
  assert.deepEqual(v1Files(undefined, host), []);
});
