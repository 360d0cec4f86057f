// Cgroup v1 on the real host: limits read back from /sys/fs/cgroup, a real process placed,
// frozen, counted and removed. Root only; everything made is removed even on failure.
import { test, after } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../../src/common/errors.ts";
import { detectCgroupVersion, openCgroups } from "../../src/runtime/cgroups/index.ts";
import { devicesAlreadySet } from "../../src/runtime/cgroups/v1/driver.ts";
import type { CgroupManager } from "../../src/runtime/cgroups/index.ts";
import { defer, killAndReap, prefix, procCgroup, read, realBlockDevice, shellInCgroup, sweep, v1SkipReason, waitFor } from "./host.ts";

const skip = v1SkipReason();
after(() => {
  if (!skip) sweep();
});

/** Opens a fresh cgroup and destroys it after the test (after its processes are killed). */
function open(t: TestContext, name: string, resources?: Parameters<typeof openCgroups>[0]["resources"]): CgroupManager {
  const cg = openCgroups({ cgroupsPath: `/${prefix}-${name}/c`, containerId: name, create: true, resources });
  defer(t, () => cg.destroy());
  return cg;
}

test("v1: limits are written into the real files before any process joins", (t) => {
  if (skip) return t.skip(skip);
  const dev = realBlockDevice();
  const cg = open(t, "limits", {
    cpu: { shares: 513, quota: 200000, period: 100000, cpus: "0", mems: "0" },
    memory: { limit: 1073741824, swap: 1293942784, swappiness: 7, reservation: 536870912 },
    pids: { limit: 42 },
    blockIO: dev ? { throttleReadBpsDevice: [{ ...dev, rate: 1048576 }], throttleWriteIOPSDevice: [{ ...dev, rate: 77 }] } : undefined,
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 136, access: "rw" },
    ],
  });
  const p = cg.paths;
  assert.equal(read(join(p.cpu!, "cpu.shares")), "513");
  assert.equal(read(join(p.cpu!, "cpu.cfs_quota_us")), "200000");
  assert.equal(read(join(p.cpu!, "cpu.cfs_period_us")), "100000");
  assert.equal(read(join(p.cpuset!, "cpuset.cpus")), "0");
  assert.equal(read(join(p.memory!, "memory.limit_in_bytes")), "1073741824");
  assert.equal(read(join(p.memory!, "memory.memsw.limit_in_bytes")), "1293942784");
  assert.equal(read(join(p.memory!, "memory.swappiness")), "7");
  assert.equal(read(join(p.memory!, "memory.soft_limit_in_bytes")), "536870912");
  assert.equal(read(join(p.pids!, "pids.max")), "42");
  assert.equal(read(join(p.devices!, "devices.list")), "c 1:3 rwm\nc 136:* rw");
  if (dev) {
    assert.equal(read(join(p.blkio!, "blkio.throttle.read_bps_device")), `${dev.major}:${dev.minor} 1048576`);
    assert.equal(read(join(p.blkio!, "blkio.throttle.write_iops_device")), `${dev.major}:${dev.minor} 77`);
  }
  assert.equal(cg.pids().length, 0);
  assert.equal(cg.deviceFilter(undefined), undefined, "v1 needs no eBPF program");
});

test("v1: the host probes as v1 (hybrid), its unified mount as cgroup2", (t) => {
  if (skip) return t.skip(skip);
  assert.equal(detectCgroupVersion(), 1);
  if (existsSync("/sys/fs/cgroup/unified/cgroup.procs")) assert.equal(detectCgroupVersion("/sys/fs/cgroup/unified"), 2);
});

test("v1: an update with unchanged device rules leaves devices.list alone", (t) => {
  if (skip) return t.skip(skip);
  const devices = [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 5, minor: 1, access: "rw" },
  ];
  const cg = open(t, "devupdate", { devices });
  const dir = cg.paths.devices!;
  assert.equal(devicesAlreadySet(dir, { devices }), true);
  assert.equal(devicesAlreadySet(dir, { devices: devices.slice(0, 2) }), false);
  cg.apply({ devices: devices.slice(0, 2) });
  assert.equal(read(join(dir, "devices.list")), "c 1:3 rwm");
});

test("v1: a new cpuset cgroup gets its parent's cpus and mems at every created level", (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "cpuset");
  const parent = join(cg.paths.cpuset!, "..");
  const root = "/sys/fs/cgroup/cpuset";
  assert.equal(read(join(parent, "cpuset.cpus")), read(join(root, "cpuset.cpus")));
  assert.equal(read(join(cg.paths.cpuset!, "cpuset.cpus")), read(join(root, "cpuset.cpus")));
  assert.equal(read(join(cg.paths.cpuset!, "cpuset.mems")), read(join(root, "cpuset.mems")));
});

test("v1: a real process joins via cgroup.procs, is listed, frozen, thawed, counted in stats", async (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "proc", { pids: { limit: 10 }, memory: { limit: 268435456 } });
  // Burns a little CPU once inside, so cpuacct has something to count, then sleeps.
  const child = await shellInCgroup(t, cg, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 600");
  await waitFor(() => read(`/proc/${child.pid}/comm`) === "sleep");

  const lines = procCgroup(child.pid);
  const path = `/${prefix}-proc/c`;
  for (const c of ["memory", "pids", "freezer", "cpu", "cpuacct", "devices", "blkio", "cpuset", "name=systemd", ""]) {
    assert.equal(lines.get(c), path, `/proc/${child.pid}/cgroup line for ${c || "v2"}`);
  }
  assert.deepEqual(cg.pids(), [child.pid]);

  await cg.freeze();
  assert.equal(cg.isFrozen(), true);
  assert.equal(read(join(cg.paths.freezer!, "freezer.state")), "FROZEN");
  await cg.thaw();
  assert.equal(cg.isFrozen(), false);
  assert.equal(read(join(cg.paths.freezer!, "freezer.state")), "THAWED");

  const s = cg.stats();
  assert.equal(s.pids.current, 1);
  assert.equal(s.pids.limit, 10);
  assert.equal(s.memory.usage.limit, 268435456);
  // v1 does not move a process's earlier charges with it (memory.move_charge_at_immigrate is 0)
  assert.equal(typeof s.memory.usage.usage, "number");
  assert.ok(s.cpu.usage.total > 0, "cpu time of the shell loop");
  assert.ok(s.cpu.usage.user + s.cpu.usage.kernel > 0);
  assert.equal(cg.oomKillCount(), 0);

  // onlyIfEmpty does not wait for the process: false, and its cgroups are still there.
  assert.equal(await cg.destroy({ onlyIfEmpty: true }), false);
  assert.equal(existsSync(join(cg.paths.memory!, "cgroup.procs")), true);
  assert.deepEqual(cg.pids(), [child.pid]);
  await killAndReap(child);
  assert.equal(await cg.destroy(), true);
  for (const dir of Object.values(cg.paths)) assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.equal(await cg.destroy({ onlyIfEmpty: true }), true); // a second destroy is a no-op
});

test("v1: exceeding the memory limit is an OOM kill that oomKillCount sees", async (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "oom", { memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } });
  // The shell waits for a line, so it is in the cgroup before `tail /dev/zero` grows without bound.
  const child = await shellInCgroup(t, cg, "exec tail /dev/zero");
  if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
  const signal = child.signalCode;
  assert.equal(signal, "SIGKILL");
  assert.equal(cg.oomKillCount(), 1);
  assert.equal(cg.stats().oomKillCount, 1);
});

test("v1: update raises then lowers memory and memsw in the order the kernel accepts", async (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "update", { memory: { limit: 268435456, swap: 536870912 } });
  const mem = cg.paths.memory!;
  cg.apply({ memory: { limit: 1073741824, swap: 1293942784 } });
  assert.equal(read(join(mem, "memory.limit_in_bytes")), "1073741824");
  assert.equal(read(join(mem, "memory.memsw.limit_in_bytes")), "1293942784");
  cg.apply({ memory: { limit: 134217728, swap: 201326592 } });
  assert.equal(read(join(mem, "memory.limit_in_bytes")), "134217728");
  assert.equal(read(join(mem, "memory.memsw.limit_in_bytes")), "201326592");
  // checkBeforeUpdate refuses a limit below current usage (a live process keeps some charged)
  const child = await shellInCgroup(t, cg, "head -c 4000000 /dev/zero | tail -c 1 >/dev/null; exec sleep 600");
  await waitFor(() => read(`/proc/${child.pid}/comm`) === "sleep");
  const usage = Number(read(join(mem, "memory.usage_in_bytes")));
  assert.ok(usage > 4096);
  assert.throws(
    () => cg.apply({ memory: { limit: 4096, checkBeforeUpdate: true } }),
    (e: unknown) => e instanceof GantryError && e.code === "CONFLICT" && /below the container's current usage/.test(e.message),
  );
  assert.equal(read(join(mem, "memory.limit_in_bytes")), "134217728");
  cg.apply({ memory: { limit: -1, swap: -1 } });
  assert.equal(read(join(mem, "memory.limit_in_bytes")), read("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
});

test("v1: a missing kernel file is KERNEL_FEATURE_MISSING naming the file and the field", (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "missing");
  const file = join(cg.paths.blkio!, "blkio.leaf_weight");
  if (existsSync(file)) return t.skip("this kernel has CFQ leaf weights");
  assert.throws(
    () => cg.apply({ blockIO: { leafWeight: 300 } }),
    (e: unknown) => e instanceof GantryError && e.code === "KERNEL_FEATURE_MISSING" && e.message.includes(file) && e.message.includes("blockIO.leafWeight") && e.message.includes("blkio controller"),
  );
  // blkio weight: CFQ's file, else BFQ's, else the error names blkio.weight
  if (existsSync(join(cg.paths.blkio!, "blkio.bfq.weight")) || existsSync(join(cg.paths.blkio!, "blkio.weight"))) {
    cg.apply({ blockIO: { weight: 300 } });
  } else {
    assert.throws(() => cg.apply({ blockIO: { weight: 300 } }), /blkio\.weight of the blkio controller does not exist \(the kernel has no blkio weight support/);
  }
});

test("v1: creation that fails on a limit leaves no directory behind", (t) => {
  if (skip) return t.skip(skip);
  const path = `/${prefix}-failed/c`;
  assert.throws(() => openCgroups({ cgroupsPath: path, containerId: "x", create: true, resources: { unified: { "memory.high": "1" } } }), /needs cgroup v2/);
  assert.equal(existsSync(`/sys/fs/cgroup/memory${path}`), false);
  assert.equal(existsSync(`/sys/fs/cgroup/memory/${prefix}-failed`), false);
});

test("v1: destroy removes only what it created; a later opener without a record removes only the leaf", async (t) => {
  if (skip) return t.skip(skip);
  const parent = `/sys/fs/cgroup/pids/${prefix}-owned`;
  mkdirSync(parent);
  t.after(() => {
    if (existsSync(parent)) rmdirSync(parent);
  });
  const first = openCgroups({ cgroupsPath: `/${prefix}-owned/c`, containerId: "c", create: true });
  assert.ok(!first.createdDirs.includes(parent));
  await first.destroy();
  assert.equal(existsSync(parent), true, "a parent someone else made stays");
  assert.equal(existsSync(`${parent}/c`), false);

  const made = openCgroups({ cgroupsPath: `/${prefix}-owned/d`, containerId: "d", create: true });
  const later = openCgroups({ cgroupsPath: `/${prefix}-owned/d`, containerId: "d", create: false });
  await later.destroy();
  assert.equal(existsSync(`${parent}/d`), false);
  assert.equal(existsSync(`/sys/fs/cgroup/memory/${prefix}-owned`), true, "ancestor made by `made` stays without its record");
  await openCgroups({ cgroupsPath: `/${prefix}-owned/d`, containerId: "d", create: true, createdDirs: made.createdDirs }).destroy();
  assert.equal(existsSync(`/sys/fs/cgroup/memory/${prefix}-owned`), false, "with the record, the created ancestor goes too");
});

test("v1: reopened from the paths its create recorded: same directories and process, freeze, update, destroy", async (t) => {
  if (skip) return t.skip(skip);
  const made = open(t, "known", { pids: { limit: 10 } });
  const child = await shellInCgroup(t, made, "exec sleep 600");
  const cgroupsPath = `/${prefix}-known/c`;
  const known = openCgroups({ cgroupsPath, containerId: "known", create: false, createdDirs: made.createdDirs, knownPaths: { ...made.paths } });
  assert.deepEqual(known.paths, made.paths);
  assert.deepEqual([...known.procsFiles()].sort(), [...made.procsFiles()].sort());
  assert.deepEqual(known.pids(), [child.pid]);
  await known.freeze();
  assert.equal(read(join(made.paths.freezer!, "freezer.state")), "FROZEN");
  await known.thaw();
  // update needs the hierarchies themselves: it places from mountinfo first, to the same directories
  known.apply({ pids: { limit: 7 } });
  assert.equal(read(join(made.paths.pids!, "pids.max")), "7");
  assert.deepEqual(known.paths, made.paths);
  await killAndReap(child);
  await known.destroy();
  for (const dir of Object.values(made.paths)) assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.throws(
    () => openCgroups({ cgroupsPath, containerId: "known", create: false, knownPaths: { ...made.paths } }),
    (e: unknown) => e instanceof GantryError && e.code === "NOT_FOUND",
    "recorded paths that are gone are NOT_FOUND",
  );
});

test("v1: a destroy that made the shared parent leaves a sibling being created (empty, no task yet) alone", async (t) => {
  if (skip) return t.skip(skip);
  const first = openCgroups({ cgroupsPath: `/${prefix}-shared/a`, containerId: "a", create: true });
  defer(t, () => first.destroy());
  assert.ok(first.createdDirs.includes(`/sys/fs/cgroup/pids/${prefix}-shared`), "the first container made the parent");
  // the second's directories exist, its process has not joined yet (the window between create's mkdir and the clone)
  const second = openCgroups({ cgroupsPath: `/${prefix}-shared/b`, containerId: "b", create: true });
  defer(t, () => second.destroy());
  await first.destroy();
  for (const dir of Object.values(first.paths)) assert.equal(existsSync(dir), false, `${dir} removed`);
  for (const dir of Object.values(second.paths)) assert.equal(existsSync(dir), true, `${dir} (another container's) kept`);
  assert.equal(existsSync(`/sys/fs/cgroup/pids/${prefix}-shared`), true, "the parent stays while it holds another container");
});

test("v1: opening a cgroup that does not exist without create is NOT_FOUND", (t) => {
  if (skip) return t.skip(skip);
  assert.throws(
    () => openCgroups({ cgroupsPath: `/${prefix}-absent/c`, containerId: "c", create: false }),
    (e: unknown) => e instanceof GantryError && e.code === "NOT_FOUND",
  );
});

test("v1: network.classID mounts net_cls on demand and sets the class id", (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "netcls", { network: { classID: 0x100001, priorities: [{ name: "lo", priority: 5 }] } });
  assert.equal(read(join(cg.paths.net_cls!, "net_cls.classid")), "1048577");
  assert.match(read(join(cg.paths.net_prio!, "net_prio.ifpriomap")), /^lo 5$/m);
  assert.ok(cg.procsFiles().includes(join(cg.paths.net_cls!, "cgroup.procs")));
});

test("v1 hybrid: huge page limits go to the v2 tree when hugetlb lives there", (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "huge", { hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }] });
  if (cg.paths.hugetlb) {
    assert.equal(read(join(cg.paths.hugetlb, "hugetlb.2MB.limit_in_bytes")), "4194304");
  } else {
    assert.ok(cg.paths.unified, "hybrid host");
    assert.equal(read(join(cg.paths.unified!, "hugetlb.2MB.max")), "4194304");
    assert.deepEqual(cg.stats().hugetlb["2MB"], { usage: 0, max: 4194304, failcnt: 0 });
  }
});
