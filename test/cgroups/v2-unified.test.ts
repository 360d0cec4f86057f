// The v2 driver's mechanics on the real kernel, on the hybrid hosts' /sys/fs/cgroup/unified:
// mkdir, subtree_control, cgroup.procs, cgroup.freeze, rmdir. (The exact values it writes
// for each controller are in the pure tests under src/runtime/cgroups/v2.)
import { test, after } from "node:test";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../../src/common/errors.ts";
import { openV2Cgroup, v2Driver } from "../../src/runtime/cgroups/v2/driver.ts";
import type { V2Cgroup } from "../../src/runtime/cgroups/v2/driver.ts";
import type { LinuxResources } from "../../src/runtime/spec/oci.ts";
import { defer, killAndReap, prefix, procCgroup, read, sleeper, sweep, unifiedRoot, v2SkipReason } from "./host.ts";

const skip = v2SkipReason();
after(() => {
  if (!skip) sweep();
});

const mount = { mountPoint: unifiedRoot, root: "/" };
const controllers = (dir: string) => read(join(dir, "cgroup.controllers")).split(/\s+/).filter(Boolean);

function open(t: TestContext, name: string, resources?: LinuxResources): V2Cgroup {
  const cg = openV2Cgroup(mount, { cgroupPath: `/${prefix}-v2${name}/mid/c`, create: true, resources });
  defer(t, () => cg.destroy());
  return cg;
}

test("v2 on unified: create nested, add a process, freeze, thaw, destroy", async (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "proc");
  assert.equal(cg.version, 2);
  assert.deepEqual(cg.procsFiles(), [join(cg.dir, "cgroup.procs")]);
  assert.deepEqual(cg.createdDirs, [`${unifiedRoot}/${prefix}-v2proc`, `${unifiedRoot}/${prefix}-v2proc/mid`, cg.dir]);

  const child = await sleeper();
  defer(t, () => killAndReap(child));
  writeFileSync(cg.procsFiles()[0]!, String(child.pid));
  assert.equal(procCgroup(child.pid).get(""), `/${prefix}-v2proc/mid/c`);
  assert.deepEqual(cg.pids(), [child.pid]);

  await cg.freeze();
  assert.equal(cg.isFrozen(), true);
  assert.match(read(join(cg.dir, "cgroup.events")), /^frozen 1$/m);
  await cg.thaw();
  assert.equal(cg.isFrozen(), false);
  assert.match(read(join(cg.dir, "cgroup.events")), /^frozen 0$/m);

  const s = cg.stats();
  assert.equal(typeof s.cpu.usage.total, "number");
  assert.equal(cg.oomKillCount(), 0);

  await killAndReap(child);
  await cg.destroy();
  for (const d of cg.createdDirs) assert.equal(existsSync(d), false, `${d} removed`);
  await cg.destroy();
});

test("v2 on unified: needed controllers are enabled in every ancestor's subtree_control", (t) => {
  if (skip) return t.skip(skip);
  if (!controllers(unifiedRoot).includes("hugetlb")) return t.skip("hugetlb is not bound to this cgroup2 mount");
  const cg = open(t, "huge", { hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }] });
  for (const level of [unifiedRoot, `${unifiedRoot}/${prefix}-v2huge`, `${unifiedRoot}/${prefix}-v2huge/mid`]) {
    assert.ok(read(join(level, "cgroup.subtree_control")).split(" ").includes("hugetlb"), `${level} enables hugetlb`);
  }
  assert.equal(read(join(cg.dir, "hugetlb.2MB.max")), "4194304");
  // unified keys are written raw, after the typed fields
  cg.apply({ unified: { "hugetlb.2MB.max": "2097152" } });
  assert.equal(read(join(cg.dir, "hugetlb.2MB.max")), "2097152");
  assert.deepEqual(cg.stats().hugetlb["2MB"], { usage: 0, max: 2097152, failcnt: 0 });
});

test("v2 on unified: a controller the mount lacks is KERNEL_FEATURE_MISSING, and nothing is left behind", (t) => {
  if (skip) return t.skip(skip);
  if (controllers(unifiedRoot).includes("pids")) return t.skip("pids is available on this cgroup2 mount");
  const path = `/${prefix}-v2missing/c`;
  assert.throws(
    () => openV2Cgroup(mount, { cgroupPath: path, create: true, resources: { pids: { limit: 5 } } }),
    (e: unknown) => e instanceof GantryError && e.code === "KERNEL_FEATURE_MISSING" && /the cgroup v2 pids controller is not available in \/sys\/fs\/cgroup\/unified/.test(e.message),
  );
  assert.equal(existsSync(`${unifiedRoot}/${prefix}-v2missing`), false);
});

test("v2 on unified: opening without create needs the directory; v1-only settings are refused", (t) => {
  if (skip) return t.skip(skip);
  assert.throws(() => openV2Cgroup(mount, { cgroupPath: `/${prefix}-v2absent`, create: false }), (e: unknown) => e instanceof GantryError && e.code === "NOT_FOUND");
  const cg = open(t, "refuse");
  assert.throws(() => cg.apply({ network: { classID: 1 } }), (e: unknown) => e instanceof GantryError && e.code === "UNSUPPORTED_OPTION");
  const again = openV2Cgroup(mount, { cgroupPath: `/${prefix}-v2refuse/mid/c`, create: false });
  assert.equal(again.dir, cg.dir);
});

test("v2: reopened from the path its create recorded: same directory and process, update finds the mount itself", async (t) => {
  if (skip) return t.skip(skip);
  const cg = open(t, "known");
  const child = await sleeper();
  defer(t, () => killAndReap(child));
  writeFileSync(cg.procsFiles()[0]!, String(child.pid));
  const known = v2Driver().open({ cgroupPath: `/${prefix}-v2known/mid/c`, create: false, createdDirs: cg.createdDirs, knownPaths: { ...cg.paths } });
  assert.deepEqual(known.paths, cg.paths);
  assert.deepEqual(known.pids(), [child.pid]);
  // apply enables controllers from the mount down: the lazily found mount must be the right one
  const [controller] = controllers(unifiedRoot);
  if (controller === "hugetlb") {
    known.apply({ hugepageLimits: [{ pageSize: "2MB", limit: 2097152 }] });
    assert.equal(read(join(cg.dir, "hugetlb.2MB.max")), "2097152");
  } else if (controller === "pids") {
    known.apply({ pids: { limit: 9 } });
    assert.equal(read(join(cg.dir, "pids.max")), "9");
  }
  assert.throws(
    () => v2Driver().open({ cgroupPath: `/${prefix}-v2gone`, create: false, knownPaths: { unified: `${unifiedRoot}/${prefix}-v2gone` } }),
    (e: unknown) => e instanceof GantryError && e.code === "NOT_FOUND",
  );
});

test("v2: a destroy that made the shared parent leaves a sibling being created (empty, no task yet) alone", async (t) => {
  if (skip) return t.skip(skip);
  const first = openV2Cgroup(mount, { cgroupPath: `/${prefix}-v2shared/a`, create: true });
  defer(t, () => first.destroy());
  const second = openV2Cgroup(mount, { cgroupPath: `/${prefix}-v2shared/b`, create: true });
  defer(t, () => second.destroy());
  assert.ok(first.createdDirs.includes(`${unifiedRoot}/${prefix}-v2shared`), "the first container made the parent");
  await first.destroy();
  assert.equal(existsSync(first.dir), false);
  assert.equal(existsSync(second.dir), true, "another container's cgroup is kept");
});
