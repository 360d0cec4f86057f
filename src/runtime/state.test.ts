import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateDir, type ContainerRecord } from "./state.ts";

describe("StateDir", () => {
  it("saveStarted writes the record as save would, the text create wrote with started changed", () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-state-"));
    try {
      const state = new StateDir(root);
      // A path with the very text replaced in it (escaped in JSON, so never matched).
      const rec: ContainerRecord = {
        id: "c1",
        bundle: '/tmp/"started":false',
        rootfs: "/r",
        pid: 42,
        pidStartTime: 7,
        created: "2026-12-05T00:00:00Z",
        started: false,
        config: { ociVersion: "1.0.2", annotations: { started: "false" } } as ContainerRecord["config"],
        cgroupPath: "",
        cgroupCreatedDirs: [],
        cgroupPaths: {},
        owner: "root",
      };
      state.reserve("c1");
      state.save(rec);
      rec.started = true;
      state.saveStarted(rec);
      const text = readFileSync(join(root, "c1", "state.json"), "utf8");
      assert.equal(text, JSON.stringify(rec) + "\n");
      assert.deepEqual(state.load("c1"), rec);
      // Without a text kept (another process created it): a plain save.
      const other = new StateDir(root);
      rec.pid = 43;
      other.saveStarted(rec);
      assert.deepEqual(other.load("c1"), rec);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
