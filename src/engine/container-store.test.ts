import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerStore, type ContainerRecord } from "./container-store.ts";

const record = (id: string): ContainerRecord => ({
  Id: id,
  Name: `/c-${id}`,
  Created: new Date().toISOString(),
  Path: "true",
  Args: [],
  Config: {},
  HostConfig: {},
  Image: "sha256:x",
  State: { Status: "created", Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: "", FinishedAt: "" },
  RestartCount: 0,
  ManuallyStopped: false,
  MonitorPid: 0,
  Rootfs: "",
  LogPath: "",
  Warnings: [],
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

describe("ContainerStore", () => {
  it("saves records that a new store loads, state changes included", () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-cstore-"));
    try {
      const dir = join(root, "engine", "containers");
      const a = new ContainerStore(dir);
      const rec = record("aaa");
      a.save(rec);
      rec.State = { ...rec.State, Status: "running", Pid: 42 }; // a state-only change (not fsynced)
      a.save(rec);
      const loaded = new ContainerStore(dir).loadAll();
      assert.equal(loaded.length, 1);
      assert.equal(loaded[0]!.State.Status, "running");
      assert.equal(loaded[0]!.State.Pid, 42);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, "aaa", "container.json"), "utf8")), rec);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("saveAsync: writes of one container land in order, the last state wins, a sync save queues behind", async () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-cstore-"));
    try {
      const dir = join(root, "engine", "containers");
      const s = new ContainerStore(dir);
      const rec = record("ddd");
      s.save(rec);
      const onDisk = () => (JSON.parse(readFileSync(join(dir, "ddd", "container.json"), "utf8")) as ContainerRecord).State;
      const first = s.saveAsync({ ...rec, State: { ...rec.State, Status: "running", Pid: 1 } });
      const second = s.saveAsync({ ...rec, State: { ...rec.State, Status: "running", Pid: 2 } });
      const third = s.saveAsync({ ...rec, State: { ...rec.State, Status: "running", Pid: 3 } });
      assert.equal(s.get("ddd").State.Pid, 3, "memory has the last state at once");
      // A sync save while a write is on the thread pool must not be overtaken by it.
      s.save({ ...rec, State: { ...rec.State, Status: "exited", Pid: 0, ExitCode: 7 } });
      await Promise.all([first, second, third]);
      await s.flush();
      assert.equal(onDisk().Status, "exited");
      assert.equal(onDisk().ExitCode, 7);
      assert.deepEqual(new ContainerStore(dir).loadAll()[0]!.State, s.get("ddd").State);
      // Removed while a write is on its way: the directory goes and is not made again.
      const late = s.saveAsync({ ...rec, State: { ...rec.State, Status: "running", Pid: 9 } });
      s.remove("ddd");
      await late;
      await s.flush();
      assert.ok(!existsSync(join(dir, "ddd")));
      assert.deepEqual(readdirSync(join(root, "engine", "trash")), []);
      assert.deepEqual(new ContainerStore(dir).loadAll(), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("takes a removed container's directory away at once and deletes its files after", async () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-cstore-"));
    try {
      const dir = join(root, "engine", "containers");
      const s = new ContainerStore(dir);
      s.save(record("bbb"));
      writeFileSync(join(dir, "bbb", "bbb-json.log"), "log\n");
      s.remove("bbb");
      assert.ok(!existsSync(join(dir, "bbb")));
      assert.equal(s.find("bbb"), undefined);
      await until(() => readdirSync(join(root, "engine", "trash")).length === 0);
      assert.deepEqual(new ContainerStore(dir).loadAll(), []);
      s.remove("bbb"); // already gone: nothing to do
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("empties the trash a stopped daemon left when it loads", () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-cstore-"));
    try {
      const dir = join(root, "engine", "containers");
      const left = join(root, "engine", "trash", "ccc-1-0");
      mkdirSync(left, { recursive: true });
      writeFileSync(join(left, "container.json"), JSON.stringify(record("ccc")));
      const s = new ContainerStore(dir);
      assert.deepEqual(s.loadAll(), []);
      assert.ok(!existsSync(join(root, "engine", "trash")));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
