// The agent's collection after a burst: once per burst, only after quietMs with no sync
// running, never while one runs, not again until more work ended, and not when the heap has
// hardly grown since the last.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import { QuietCollector } from "./quiet-gc.ts";

test("one collection once the workers have been idle quietMs after a burst, none while a sync runs or without new work", async () => {
  const clock = new FakeClock();
  let collections = 0;
  let heap = 50;
  const quiet = new QuietCollector({ clock, quietMs: 1000, minGrowthBytes: 10, heapUsed: () => heap, collect: () => ((heap = 20), collections++) });
  // A burst: syncs overlapping and following each other within the quiet time.
  quiet.begin();
  quiet.begin();
  await clock.advance(300);
  quiet.end();
  await clock.advance(900);
  quiet.end();
  quiet.begin();
  await clock.advance(5000);
  assert.equal(collections, 0, "a sync still runs");
  quiet.end();
  await clock.advance(999);
  assert.equal(collections, 0, "not yet quiet for 1000 ms");
  await clock.advance(1);
  assert.equal(collections, 1);
  await clock.advance(10_000);
  assert.equal(collections, 1, "no work since: no collection");
  assert.equal(clock.pending(), 0, "no timer left once collected");
  // Work that left the heap about as the collection did (a resync of a few pods): no collection.
  heap = 29;
  quiet.begin();
  quiet.end();
  await clock.advance(1000);
  assert.equal(collections, 1, "grew 9 of the 10 needed");
  // The next burst gets its own collection.
  heap = 45;
  quiet.begin();
  quiet.end();
  await clock.advance(1000);
  assert.equal(collections, 2);
  quiet.begin();
  quiet.end();
  quiet.stop();
  await clock.advance(5000);
  assert.equal(collections, 2, "stopped: no collection");
  assert.equal(clock.pending(), 0);
});

test("without V8's gc() (node not given --expose-gc) it keeps no timer", async () => {
  const clock = new FakeClock();
  const quiet = new QuietCollector({ clock, collect: undefined });
  quiet.begin();
  quiet.end();
  assert.equal(clock.pending(), (globalThis as { gc?: unknown }).gc ? 1 : 0);
  quiet.stop();
});
