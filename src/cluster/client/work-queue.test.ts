import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import { ExponentialBackoff, MaxOf, TokenBucket } from "./rate-limit.ts";
import { WorkQueue } from "./work-queue.ts";

test("a key added many times is queued once, in first-added order", async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  for (const k of ["a", "b", "a", "c", "b"]) q.add(k);
  assert.equal(q.length, 3);
  assert.equal(await q.get(), "a");
  assert.equal(await q.get(), "b");
  assert.equal(await q.get(), "c");
});

test("a key being processed is not handed to a second worker; added meanwhile, it comes back after done", async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add("a");
  const key = await q.get();
  assert.equal(key, "a");
  q.add("a");
  q.add("a");
  assert.equal(q.length, 0, "not queued while a worker holds it");
  let second: string | undefined;
  const waiting = q.get().then((k) => (second = k));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, undefined);
  q.done("a");
  await waiting;
  assert.equal(second, "a", "queued again once, after done");
  q.done("a");
  assert.equal(q.length, 0);
  assert.equal(q.isIdle(), true);
});

test("a failing key backs off exponentially on the clock; forget starts it over", async () => {
  const clock = new FakeClock(0);
  const q = new WorkQueue({ clock, rateLimiter: new ExponentialBackoff(5, 1000) });
  const retriedAt: number[] = [];
  for (let i = 0; i < 4; i++) {
    q.addRateLimited("k");
    assert.equal(q.length, 0, "not queued before its delay");
    assert.equal(q.delayed, 1);
    await clock.advanceToNext();
    assert.equal(await q.get(), "k");
    retriedAt.push(clock.now());
    q.done("k");
  }
  assert.deepEqual(retriedAt, [5, 15, 35, 75]);
  assert.equal(q.retries("k"), 4);
  q.forget("k");
  assert.equal(q.retries("k"), 0);
  q.addRateLimited("k");
  await clock.advance(4);
  assert.equal(q.length, 0);
  await clock.advance(1);
  assert.equal(q.length, 1);
});

test("the back-off is capped, and the earliest of two delays for a key wins", async () => {
  const clock = new FakeClock(0);
  const limiter = new ExponentialBackoff(5, 100);
  for (let i = 0; i < 10; i++) limiter.when("k");
  assert.equal(limiter.when("k"), 100);
  const q = new WorkQueue({ clock, rateLimiter: limiter });
  q.addAfter("x", 1000);
  q.addAfter("x", 10);
  q.addAfter("x", 500);
  await clock.advance(10);
  assert.equal(q.length, 1);
  assert.equal(clock.pending(), 0, "the later timers were cancelled");
});

test("the overall token bucket makes a storm of retries wait for tokens", () => {
  const clock = new FakeClock(0);
  const bucket = new TokenBucket(clock, 10, 3);
  assert.deepEqual([bucket.when(), bucket.when(), bucket.when()], [0, 0, 0]);
  assert.equal(bucket.when(), 100);
  assert.equal(bucket.when(), 200);
  const both = new MaxOf(new ExponentialBackoff(5, 1000), new TokenBucket(clock, 10, 100));
  assert.equal(both.when("a"), 5);
  assert.equal(both.when("a"), 10);
  assert.equal(both.retries("a"), 2);
});

test("shutdown releases waiting workers, drops delayed keys and ignores new ones", async () => {
  const clock = new FakeClock(0);
  const q = new WorkQueue({ clock });
  const waiting = q.get();
  q.addAfter("later", 1000);
  q.shutDown();
  assert.equal(await waiting, undefined);
  assert.equal(clock.pending(), 0);
  q.add("x");
  assert.equal(q.length, 0);
  assert.equal(await q.get(), undefined);
});

test("whenIdle resolves once nothing is queued or being processed", async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  await q.whenIdle();
  q.add("a");
  let idle = false;
  const p = q.whenIdle().then(() => (idle = true));
  const k = (await q.get())!;
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false);
  q.done(k);
  await p;
  assert.equal(idle, true);
});
