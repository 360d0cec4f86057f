// makeCgroupDirs against another runtime removing the shared parent (/gantry) at the same
// time, as happens when one runtime's last container goes while another's starts. A plain
// directory tree behaves like cgroupfs here: rmdir of a parent with a child fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { GantryError } from "../../common/errors.ts";
import { makeCgroupDirs, removeCgroupTree, type CgroupDirOps } from "./cgroup-fs.ts";

test("a shared parent removed and made again by someone else never fails a create", async () => {
  const root = mkdtempSync(join(tmpdir(), "gantry-cgdirs-"));
  const parent = join(root, "gantry");
  // The other runtime: makes the parent and removes it again, as fast as it can.
  const other = new Worker(
    `const { mkdirSync, rmdirSync } = require("node:fs");
     const { workerData } = require("node:worker_threads");
     for (;;) {
       try { mkdirSync(workerData.parent); } catch {}
       try { rmdirSync(workerData.parent); } catch {}
     }`,
    { eval: true, workerData: { parent } },
  );
  let failures = 0;
  try {
    await new Promise((r) => setTimeout(r, 20)); // let it get going
    for (let i = 0; i < 3000; i++) {
      const leaf = join(parent, `c${i}`);
      try {
        makeCgroupDirs(leaf);
        rmdirSync(leaf);
      } catch {
        failures++;
      }
    }
  } finally {
    await other.terminate();
    rmSync(root, { recursive: true, force: true });
  }
  assert.equal(failures, 0);
});

// removeCgroupTree against a fake cgroupfs: the kernel keeps a cgroup busy (EBUSY) for a
// while after its last task is gone, and delete must not return before the directory is.
function fakeCgroupFs(tree: Record<string, string[]>, busyTimes: Record<string, number>) {
  const removed: string[] = [];
  const rmdirCalls: string[] = [];
  const sleeps: number[] = [];
  let clock = 0;
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const ops: CgroupDirOps = {
    exists: (d) => d in tree && !removed.includes(d),
    subdirs: (d) => (tree[d] ?? []).filter((n) => !removed.includes(`${d}/${n}`)),
    rmdir: (d) => {
      rmdirCalls.push(d);
      if (!(d in tree) || removed.includes(d)) throw errno("ENOENT");
      if (ops.subdirs(d).length > 0) throw errno("EBUSY");
      if ((busyTimes[d] ?? 0) > 0) {
        busyTimes[d]!--;
        throw errno("EBUSY");
      }
      removed.push(d);
    },
    tasks: () => [4242],
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
  };
  return { ops, removed, rmdirCalls, sleeps };
}

test("an EBUSY cgroup is retried with a growing back-off until it goes", async () => {
  const fs = fakeCgroupFs({ "/cg/c1": ["sub"], "/cg/c1/sub": [] }, { "/cg/c1/sub": 2, "/cg/c1": 3 });
  await removeCgroupTree("/cg/c1", { ops: fs.ops });
  assert.deepEqual(fs.removed, ["/cg/c1/sub", "/cg/c1"], "deepest first, both gone when it returns");
  assert.equal(fs.rmdirCalls.filter((d) => d === "/cg/c1").length, 5, "one try before its sub-cgroups are looked for, then 4");
  assert.deepEqual(fs.sleeps, [5, 10, 5, 10, 20]);
});

test("a cgroup that stays busy is a SYSCALL_FAILED error naming it, after the bound and not before", async () => {
  const fs = fakeCgroupFs({ "/cg/stuck": [] }, { "/cg/stuck": Number.POSITIVE_INFINITY });
  await assert.rejects(removeCgroupTree("/cg/stuck", { ops: fs.ops, timeoutMs: 1000 }), (err: unknown) => {
    assert.ok(err instanceof GantryError);
    assert.equal(err.code, "SYSCALL_FAILED");
    assert.equal(err.details.path, "/cg/stuck");
    assert.equal(err.details.errno, "EBUSY");
    assert.match(err.message, /^rmdir \/cg\/stuck: EBUSY \(still busy after 1000 ms; tasks in it: 4242\)$/);
    return true;
  });
  const waited = fs.sleeps.reduce((a, b) => a + b, 0);
  assert.equal(waited, 1000, "it waited the whole bound");
  assert.ok(Math.max(...fs.sleeps) <= 200, "the back-off is capped");
  assert.deepEqual(fs.removed, []);
});

test("timeoutMs 0 tries once (a shared ancestor another container keeps busy); a gone cgroup is fine", async () => {
  const fs = fakeCgroupFs({ "/cg/shared": [] }, { "/cg/shared": 1 });
  await assert.rejects(removeCgroupTree("/cg/shared", { ops: fs.ops, timeoutMs: 0 }), /rmdir \/cg\/shared: EBUSY$/);
  assert.equal(fs.rmdirCalls.length, 1);
  assert.deepEqual(fs.sleeps, []);
  await removeCgroupTree("/cg/never-made", { ops: fs.ops });
  assert.equal(fs.rmdirCalls.length, 2, "one rmdir, ENOENT: nothing to remove");
  assert.deepEqual(fs.sleeps, []);
});

test("errors other than EBUSY are not retried", async () => {
  const fs = fakeCgroupFs({ "/cg/x": [] }, {});
  fs.ops.rmdir = (d) => {
    fs.rmdirCalls.push(d);
    throw Object.assign(new Error("EACCES"), { code: "EACCES" });
  };
  await assert.rejects(removeCgroupTree("/cg/x", { ops: fs.ops }), (err: unknown) => err instanceof GantryError && err.details.errno === "EACCES" && /^rmdir \/cg\/x: EACCES$/.test(err.message));
  assert.equal(fs.rmdirCalls.length, 1);
});
