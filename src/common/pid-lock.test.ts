import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { GantryError } from "./errors.ts";
import {
  acquirePidLock,
  acquirePidLockSync,
  readLockOwner,
  withPidLock,
  withPidLockSync,
} from "./pid-lock.ts";
import { readProcStat } from "./process-identity.ts";

const scratch = () => mkdtempSync(join(tmpdir(), "gantry-pid-lock-"));

/** Runs fn with a fresh directory, removed afterwards whatever happens. */
async function inScratch(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = scratch();
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(r.stdout);
}

test("a held lock is refused to others until released, naming its holder", () =>
  inScratch(async (dir) => {
    const path = join(dir, "a.lock");
    const lock = acquirePidLockSync(path);
    assert.equal(readLockOwner(path)?.pid, process.pid);
    assert.equal(readLockOwner(path)?.startTime, readProcStat(process.pid)?.startTime);
    assert.throws(
      () => acquirePidLockSync(path, { timeoutMs: 0, what: "the refs table" }),
      (err: unknown) =>
        err instanceof GantryError &&
        err.code === "TIMEOUT" &&
        err.message === `lock ${path} (the refs table) is held by process ${process.pid}`,
    );
    await assert.rejects(acquirePidLock(path, { timeoutMs: 30 }), /is held by process \d+; waited 30 ms/);
    lock.release();
    lock.release(); // idempotent
    assert.equal(existsSync(path), false);
    assert.equal(
      withPidLockSync(path, () => 7),
      7,
    );
    assert.equal(await withPidLock(path, async () => 8), 8);
    // nothing left behind: no lock, no temporary file, no guard
    assert.deepEqual(readdirSync(dir), []);
  }));

test("a waiter gets the lock when the holder releases it", () =>
  inScratch(async (dir) => {
    const path = join(dir, "a.lock");
    const order: string[] = [];
    const first = withPidLock(path, async () => {
      order.push("first in");
      await new Promise((r) => setTimeout(r, 50));
      order.push("first out");
    });
    const second = withPidLock(path, async () => void order.push("second in"));
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first in", "first out", "second in"]);
  }));

test("the lock of a dead owner, a recycled pid, or another boot is taken over; a live owner's is not", () =>
  inScratch((dir) => {
    const path = join(dir, "a.lock");
    const me = readProcStat(process.pid)!.startTime;
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const stale = [
      `${deadPid()}\n`, // the older bare-pid format
      JSON.stringify({ pid: deadPid(), startTime: 1, bootId, nonce: "a" }),
      JSON.stringify({ pid: process.pid, startTime: me + 1, bootId, nonce: "b" }), // our pid, another process
      JSON.stringify({ pid: process.pid, startTime: me, bootId: "another-boot", nonce: "c" }),
    ];
    for (const content of stale) {
      writeFileSync(path, content);
      withPidLockSync(path, () => assert.equal(readLockOwner(path)?.pid, process.pid), { timeoutMs: 0 });
      assert.deepEqual(readdirSync(dir), [], `after taking over ${content}`);
    }
    const live = JSON.stringify({
      pid: process.ppid,
      startTime: readProcStat(process.ppid)!.startTime,
      bootId,
      nonce: "d",
    });
    writeFileSync(path, live);
    assert.throws(
      () => acquirePidLockSync(path, { timeoutMs: 0 }),
      new RegExp(`held by process ${process.ppid}`),
    );
    assert.equal(readFileSync(path, "utf8"), live);
    // a file that names no owner is never broken on a guess
    writeFileSync(path, "");
    assert.throws(() => acquirePidLockSync(path, { timeoutMs: 0 }), /held by a file that names no owner/);
  }));

test("a breaker that died holding its guard does not wedge the lock", () =>
  inScratch((dir) => {
    const path = join(dir, "a.lock");
    const content = `${deadPid()}\n`;
    writeFileSync(path, content);
    // the guard for this instance of the lock (pid-lock.ts: PATH.break-<hash of inode and content>),
    // left by a breaker that died inside it
    const key = createHash("sha256")
      .update(`${statSync(path).ino}\0${content}`)
      .digest("hex")
      .slice(0, 16);
    writeFileSync(`${path}.break-${key}`, `${deadPid()}\n`);
    withPidLockSync(path, () => assert.equal(readLockOwner(path)?.pid, process.pid), { timeoutMs: 0 });
    assert.deepEqual(readdirSync(dir), []);
  }));

// Racing a stale lock: WORKERS threads wait at a barrier in front of a dead owner's lock,
// then all take it at once and count how many are inside together. With "read the owner,
// see it is dead, unlink" the slower breaker unlinks the faster one's new lock and two are
// inside (the image store's and the network's old locks both failed this).
const WORKERS = 6;
const ROUNDS = 150;

function raceWorker(mode: "sync" | "async"): string {
  const lockModule = new URL("./pid-lock.ts", import.meta.url).href;
  return `(async () => {
    const { workerData, parentPort } = require("node:worker_threads");
    const { writeFileSync } = require("node:fs");
    const { tsImport } = await import("tsx/esm/api");
    const m = await tsImport(${JSON.stringify(lockModule)}, ${JSON.stringify(import.meta.url)});
    const s = new Int32Array(workerData.shared); // [generation, arrived, inside, most inside]
    const barrier = () => {
      const gen = Atomics.load(s, 0);
      if (Atomics.add(s, 1, 1) === workerData.workers - 1) { Atomics.store(s, 1, 0); Atomics.add(s, 0, 1); Atomics.notify(s, 0); }
      else while (Atomics.load(s, 0) === gen) Atomics.wait(s, 0, gen, 50);
    };
    const enter = () => { const n = Atomics.add(s, 2, 1) + 1; if (n > Atomics.load(s, 3)) Atomics.store(s, 3, n); };
    const leave = () => Atomics.sub(s, 2, 1);
    for (let round = 0; round < workerData.rounds; round++) {
      if (workerData.id === 0) writeFileSync(workerData.path, workerData.stale);
      barrier();
      if (${JSON.stringify(mode)} === "sync") m.withPidLockSync(workerData.path, () => { enter(); const t = Date.now(); while (Date.now() - t < 1); leave(); });
      else await m.withPidLock(workerData.path, async () => { enter(); await new Promise((r) => setTimeout(r, 1)); leave(); });
      barrier();
    }
    parentPort.postMessage("done");
  })().catch((err) => { throw err; });`;
}

async function race(mode: "sync" | "async"): Promise<number> {
  const dir = scratch();
  const shared = new SharedArrayBuffer(16);
  const path = join(dir, "a.lock");
  const stale = `${deadPid()}\n`;
  const workers = Array.from(
    { length: WORKERS },
    (_, id) =>
      new Worker(raceWorker(mode), {
        eval: true,
        workerData: { id, shared, path, stale, workers: WORKERS, rounds: ROUNDS },
      }),
  );
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.on("message", resolve);
            w.on("error", reject);
          }),
      ),
    );
    assert.deepEqual(readdirSync(dir), [], "a lock, temporary file or guard left behind");
    return new Int32Array(shared)[3]!;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test("threads racing to take over a dead owner's lock: one at a time (synchronous holders)", async () => {
  assert.equal(await race("sync"), 1);
});

test("threads racing to take over a dead owner's lock: one at a time (asynchronous holders)", async () => {
  assert.equal(await race("async"), 1);
});
