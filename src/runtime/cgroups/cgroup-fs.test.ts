// makeCgroupDirs against another runtime removing the shared parent (/gantry) at the same
// time, as happens when one runtime's last container goes while another's starts. A plain
// directory tree behaves like cgroupfs here: rmdir of a parent with a child fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { makeCgroupDirs } from "./cgroup-fs.ts";

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
