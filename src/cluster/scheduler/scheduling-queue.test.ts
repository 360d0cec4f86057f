import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import { SchedulingQueue } from "./scheduling-queue.ts";

test("the most important pod comes first, then the oldest", async () => {
  const clock = new FakeClock(0);
  const q = new SchedulingQueue(clock);
  q.add("low", 0);
  await clock.advance(1);
  q.add("high", 100);
  await clock.advance(1);
  q.add("low2", 0);
  assert.deepEqual([await q.pop(), await q.pop(), await q.pop()], ["high", "low", "low2"]);
  q.close();
});

test("an unschedulable pod waits for a cluster change, then for its back-off, doubling per failure", async () => {
  const clock = new FakeClock(0);
  const q = new SchedulingQueue(clock);
  q.add("p", 0);
  assert.equal(await q.pop(), "p");
  q.unschedulable("p");
  await clock.advance(60_000);
  assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 1, inflight: 0 }, "no polling: nothing changed");
  q.moveAllUnschedulable();
  assert.equal(await q.pop(), "p", "back-off (1 s) long over: active at once");
  q.unschedulable("p");
  q.moveAllUnschedulable();
  assert.equal(q.stats().backoff, 1, "second failure: 2 s back-off");
  await clock.advance(1999);
  assert.equal(q.stats().active, 0);
  await clock.advance(1);
  assert.equal(await q.pop(), "p");
  q.close();
});

test("a change during an attempt sends the failed pod to back-off, not to wait for another change", async () => {
  const clock = new FakeClock(0);
  const q = new SchedulingQueue(clock);
  q.add("p", 0);
  assert.equal(await q.pop(), "p");
  q.moveAllUnschedulable();
  q.unschedulable("p");
  assert.equal(q.stats().backoff, 1);
  await clock.advance(1000);
  assert.equal(await q.pop(), "p");
  q.close();
});

test("unschedulable pods are retried after 5 minutes without any change; deleted pods are gone; pop waits and close ends it", async () => {
  const clock = new FakeClock(0);
  const q = new SchedulingQueue(clock);
  q.add("p", 0);
  q.add("gone", 0);
  q.delete("gone");
  assert.equal(await q.pop(), "p");
  q.unschedulable("p");
  await clock.advance(5 * 60_000);
  assert.equal(await q.pop(), "p");
  q.done("p");
  const waiting = q.pop();
  q.add("late", 5);
  assert.equal(await waiting, "late");
  const ended = q.pop();
  q.close();
  assert.equal(await ended, undefined);
});
