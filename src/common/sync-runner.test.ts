import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "./clock.ts";
import { startSyncRunner } from "./sync-runner.ts";

/** A sync the test finishes by hand: each call is recorded with the time it began. */
function manualSync(clock: FakeClock) {
  const calls: { at: number; finish: (err?: Error) => void }[] = [];
  const sync = () =>
    new Promise<void>((resolve, reject) => {
      calls.push({ at: clock.now(), finish: (err) => (err ? reject(err) : resolve()) });
    });
  return { calls, sync };
}

test("a burst of requests becomes one sync after the coalescing delay", async () => {
  const clock = new FakeClock(0);
  let syncs = 0;
  const runner = startSyncRunner({ clock, coalesceMs: 20, sync: async () => void syncs++ });
  runner.request();
  await clock.advance(5);
  runner.request();
  runner.request();
  await clock.advance(14);
  assert.equal(syncs, 0, "nothing runs before the delay");
  await clock.advance(1);
  assert.equal(syncs, 1);
  await clock.advance(1000);
  assert.equal(syncs, 1, "no change, no second sync");
  await runner.stop();
});

test("single flight: a change during a sync runs it once more after it, never two at once", async () => {
  const clock = new FakeClock(0);
  const { calls, sync } = manualSync(clock);
  const runner = startSyncRunner({ clock, coalesceMs: 10, sync });
  runner.request();
  await clock.advance(10);
  assert.equal(calls.length, 1);
  runner.request();
  runner.request();
  await clock.advance(100);
  assert.equal(calls.length, 1, "the second waits for the first");
  calls[0]!.finish();
  await clock.advance(0);
  assert.equal(calls.length, 2, "one rerun for both requests, at once");
  assert.equal(calls[1]!.at, 110);
  calls[1]!.finish();
  await clock.advance(1000);
  assert.equal(calls.length, 2);
  await runner.stop();
});

test("synced() resolves only after a sync that began after the call succeeded", async () => {
  const clock = new FakeClock(0);
  const { calls, sync } = manualSync(clock);
  const runner = startSyncRunner({ clock, coalesceMs: 10, sync });
  runner.request();
  await clock.advance(10); // sync 1 running, begun before the waiter
  let served = false;
  const waiting = runner.synced().then(() => (served = true));
  calls[0]!.finish();
  await clock.advance(10);
  assert.equal(served, false, "a sync begun before the call does not serve it");
  assert.equal(calls.length, 2);
  calls[1]!.finish();
  await waiting;
  assert.equal(served, true);
  await runner.stop();
});

test("a failed sync is retried with back-off doubling from 500 ms to 30 s, reset by a success; waiters wait for it", async () => {
  const clock = new FakeClock(0);
  const { calls, sync } = manualSync(clock);
  const retries: number[] = [];
  const runner = startSyncRunner({ clock, coalesceMs: 0, sync, onError: (_err, ms) => retries.push(ms) });
  let served = false;
  const waiting = runner.synced().then(() => (served = true));
  await clock.advance(0);
  for (let i = 0; i < 8; i++) {
    calls.at(-1)!.finish(new Error("nft: busy"));
    await clock.advance(0); // the failure is handled: its retry is due
    await clock.advanceToNext();
  }
  assert.deepEqual(retries, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.deepEqual(
    calls.map((c, i) => (i ? c.at - calls[i - 1]!.at : c.at)),
    [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000],
  );
  assert.equal(served, false, "a waiter is not served by a failure");
  calls.at(-1)!.finish();
  await waiting;
  // After a success the next failure starts from 500 ms again.
  runner.request();
  await clock.advance(0);
  calls.at(-1)!.finish(new Error("again"));
  await clock.advance(0);
  assert.equal(retries.at(-1), 500);
  await runner.stop();
});

test("stop: no sync starts after it, the running one is awaited, waiters are released", async () => {
  const clock = new FakeClock(0);
  const { calls, sync } = manualSync(clock);
  const runner = startSyncRunner({ clock, coalesceMs: 10, sync });
  runner.request();
  await clock.advance(10);
  const waiting = runner.synced();
  let stopped = false;
  const stopping = runner.stop().then(() => (stopped = true));
  await clock.advance(0);
  assert.equal(stopped, false, "stop waits for the running sync");
  calls[0]!.finish();
  await stopping;
  await waiting;
  runner.request();
  await clock.advance(1000);
  assert.equal(calls.length, 1, "nothing runs after stop");
  assert.equal(clock.pending(), 0, "no timer is left");
  await runner.synced(); // resolves at once once stopped
});
