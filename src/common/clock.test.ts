import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, realClock } from "./clock.ts";

test("a fake clock fires timers in time order, only when advanced past them", async () => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.after(30, () => fired.push(`c@${clock.now()}`));
  clock.after(10, () => fired.push(`a@${clock.now()}`));
  clock.after(10, () => fired.push(`b@${clock.now()}`));
  const cancelled = clock.after(20, () => fired.push("never"));
  cancelled.cancel();
  await clock.advance(9);
  assert.deepEqual(fired, []);
  assert.equal(clock.now(), 1009);
  await clock.advance(21);
  assert.deepEqual(fired, ["a@1010", "b@1010", "c@1030"]);
  assert.equal(clock.pending(), 0);
});

test("sleeps in sequence complete within one advance of their sum", async () => {
  const clock = new FakeClock(0);
  const steps: number[] = [];
  const done = (async () => {
    await clock.sleep(100);
    steps.push(clock.now());
    await clock.sleep(50);
    steps.push(clock.now());
  })();
  await clock.advance(150);
  await done;
  assert.deepEqual(steps, [100, 150]);
});

test("a ticker fires once per period until cancelled, also when cancelled from its own call", async () => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  const ticker = clock.every(10, () => {
    at.push(clock.now());
    if (at.length === 3) ticker.cancel();
  });
  await clock.advance(100);
  assert.deepEqual(at, [10, 20, 30]);
  assert.equal(clock.pending(), 0);
  assert.throws(() => clock.every(0, () => {}), /period must be positive/);
});

test("an aborted sleep rejects with the signal's reason and leaves no timer", async () => {
  const clock = new FakeClock(0);
  const ac = new AbortController();
  const sleeping = clock.sleep(1000, ac.signal);
  ac.abort(new Error("stopped"));
  await assert.rejects(sleeping, /stopped/);
  assert.equal(clock.pending(), 0);
  await assert.rejects(clock.sleep(1, ac.signal), /stopped/);
});

test("advanceToNext jumps to the earliest timer; time never goes back", async () => {
  const clock = new FakeClock(0);
  let fired = 0;
  clock.after(5000, () => fired++);
  assert.equal(clock.nextDue(), 5000);
  assert.equal(await clock.advanceToNext(), true);
  assert.equal(fired, 1);
  assert.equal(clock.now(), 5000);
  assert.equal(await clock.advanceToNext(), false);
  await assert.rejects(clock.advance(-1), /cannot go back/);
});

test("the real clock sleeps and cancels", async () => {
  const before = realClock.now();
  await realClock.sleep(5);
  assert.ok(realClock.now() >= before);
  let fired = false;
  realClock.after(1, () => (fired = true)).cancel();
  await realClock.sleep(10);
  assert.equal(fired, false);
});
