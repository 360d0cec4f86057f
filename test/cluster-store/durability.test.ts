// Crash tests on both backends. A child process writes through the store and prints each
// acknowledged write; we kill -9 it mid-stream (and, for etcd, kill -9 etcd itself first),
// reopen the store and check that every acknowledged write is there, and that a watch
// resumed from a revision before the crash delivers every later event exactly once.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type StoreSpec } from "../../src/cluster/store/index.ts";
import { record } from "./_contract.ts";
import { TestEtcd, etcdSkipReason } from "./_etcd.ts";

interface Ack {
  op: "create" | "update";
  key: string;
  rev: number;
  value: string;
}

const WRITER = new URL("./_writer.ts", import.meta.url).pathname;

/**
 * Runs the writer until it has acknowledged `wanted` writes, then calls crash() (which must
 * leave the writer dead) and returns the acknowledged writes.
 */
async function writeUntilCrash(
  spec: StoreSpec,
  wanted: number,
  crash: (kill9: () => Promise<void>) => Promise<void>,
  tag = "",
): Promise<Ack[]> {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, JSON.stringify(spec), "4", tag], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  let buffered = "";
  let stderr = "";
  const acks: Ack[] = [];
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const enough = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      buffered += b.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!; // an unfinished line is not an acknowledgement
      for (const line of lines) acks.push(JSON.parse(line) as Ack);
      if (acks.length >= wanted) resolve();
    });
    void exited.then(() => reject(new Error(`writer exited after ${acks.length} writes: ${stderr}`)));
    setTimeout(
      () => reject(new Error(`writer acknowledged only ${acks.length} writes in 30 s: ${stderr}`)),
      30_000,
    ).unref();
  });
  try {
    await enough;
    await crash(kill9);
  } finally {
    await kill9();
  }
  await new Promise((r) => setImmediate(r)); // let the last stdout chunk land
  return acks;
}

async function checkRecovery(spec: StoreSpec, acks: Ack[]): Promise<void> {
  assert.ok(acks.length >= 300, `only ${acks.length} acknowledged writes`);
  const store = await openStore(spec);
  try {
    // Every acknowledged create is there with its value; every counter is at least at its
    // last acknowledged value (a write in flight at the kill may or may not have landed).
    const lastCounter = new Map<string, number>();
    for (const ack of acks) {
      const found = await store.get(ack.key);
      assert.ok(found, `acknowledged ${ack.key} at revision ${ack.rev} is missing`);
      if (ack.op === "create" && !ack.key.includes("counter")) {
        assert.equal(found.value, ack.value);
        assert.equal(found.modRevision, ack.rev);
      } else {
        lastCounter.set(ack.key, (JSON.parse(ack.value) as { n: number }).n);
      }
    }
    for (const [key, n] of lastCounter) {
      const now = JSON.parse((await store.get(key))!.value) as { n: number };
      assert.ok(now.n >= n, `${key} went back from ${n} to ${now.n}`);
    }

    // A client that had seen everything up to the 100th acknowledged write resumes there.
    const resumeAt = [...acks].sort((a, b) => a.rev - b.rev)[99]!.rev;
    const crashedAt = await store.currentRevision();
    const w = record(store, "/registry/durable/", resumeAt);
    const live: number[] = [];
    for (let i = 0; i < 20; i++)
      live.push((await store.create(`/registry/durable/after-${i}`, "{}")).modRevision);
    const end = live.at(-1)!;
    await w.until(() => w.events.at(-1)?.object.modRevision === end, `events up to revision ${end}`);
    await new Promise((r) => setTimeout(r, 200)); // nothing more, nothing twice
    w.cancel();
    assert.deepEqual(w.errors, []);
    const revs = w.events.map((e) => e.object.modRevision);
    // Only this writer used the store, so the events are exactly revisions resumeAt+1..end.
    assert.deepEqual(
      revs,
      Array.from({ length: end - resumeAt }, (_, i) => resumeAt + 1 + i),
    );
    const byRev = new Map(w.events.map((e) => [e.object.modRevision, e]));
    for (const ack of acks) {
      if (ack.rev <= resumeAt) continue;
      assert.equal(byRev.get(ack.rev)?.object.key, ack.key, `event for acknowledged revision ${ack.rev}`);
      assert.equal(byRev.get(ack.rev)?.object.value, ack.value);
    }
    assert.ok(crashedAt < live[0]!);
  } finally {
    await store.close();
  }
}

describe("SQLite store survives kill -9", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-durable-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps every acknowledged write, and a resumed watch misses nothing", async () => {
    const spec: StoreSpec = { kind: "sqlite", path: join(dir, "store.db") };
    const acks = await writeUntilCrash(spec, 400, (kill9) => kill9());
    await checkRecovery(spec, acks);
  });

  it("two writer processes on one file get distinct revisions and lose nothing when both are killed", async () => {
    const spec: StoreSpec = { kind: "sqlite", path: join(dir, "shared.db") };
    const [a, b] = await Promise.all([
      writeUntilCrash(spec, 300, (kill9) => kill9(), "a-"),
      writeUntilCrash(spec, 300, (kill9) => kill9(), "b-"),
    ]);
    const revs = [...a, ...b].map((x) => x.rev);
    assert.equal(new Set(revs).size, revs.length, "a revision was handed out twice");
    await checkRecovery(spec, [...a, ...b]);
  });
});

describe("etcd store survives kill -9 of the writer and of etcd", { skip: etcdSkipReason() }, () => {
  let etcd: TestEtcd | undefined;
  before(async () => {
    etcd = await TestEtcd.start();
  });
  after(async () => {
    await etcd?.stop();
  });

  it("keeps every acknowledged write, and a resumed watch misses nothing", async () => {
    const spec: StoreSpec = { kind: "etcd", endpoints: [etcd!.endpoint], prefix: "/gantry-durable" };
    const acks = await writeUntilCrash(spec, 400, async (kill9) => {
      await etcd!.kill9(); // etcd dies mid-write first, then the writer
      await kill9();
    });
    await etcd!.launch();
    await checkRecovery(spec, acks);
  });

  it("keeps a live watch going across an etcd crash, delivering each event once", async () => {
    const store = await openStore({ kind: "etcd", endpoints: [etcd!.endpoint], prefix: "/gantry-restart" });
    try {
      const w = record(store, "/registry/", await store.currentRevision());
      const revs: number[] = [];
      const write = async (key: string) => {
        // Writes fail while etcd is down and the client's breaker is open; retry like a client.
        for (let attempt = 0; ; attempt++) {
          try {
            return revs.push((await store.create(key, "{}")).modRevision);
          } catch (err) {
            if (attempt > 100) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      for (let i = 0; i < 10; i++) await write(`/registry/before-${i}`);
      await w.until(() => w.events.length === 10, "events before the crash");
      await etcd!.kill9();
      await etcd!.launch();
      for (let i = 0; i < 10; i++) await write(`/registry/after-${i}`);
      await w.until(() => w.events.length >= 20, "events after the crash", 60_000);
      await new Promise((r) => setTimeout(r, 200));
      w.cancel();
      assert.deepEqual(w.errors, []);
      assert.deepEqual(
        w.events.map((e) => e.object.modRevision),
        revs,
      );
    } finally {
      await store.close();
    }
  });
});
