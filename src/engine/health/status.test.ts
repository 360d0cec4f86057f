import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../../common/errors.ts";
import { checkHealthFilter, healthFilterValue, healthSuffix, LimitedOutput, recordProbe, startingHealth, stoppedHealth, type HealthResult } from "./status.ts";

const T0 = Date.UTC(2026, 0, 1);
const result = (atMs: number, code: number, out = ""): HealthResult => ({ Start: new Date(T0 + atMs).toISOString(), End: new Date(T0 + atMs + 10).toISOString(), ExitCode: code, Output: out });
const rules = { retries: 3, startPeriodMs: 0, startedAtMs: T0 };

test("failures count up to retries, then the container is unhealthy; a success resets", () => {
  let h = startingHealth(undefined);
  h = recordProbe(h, result(1000, 1), rules);
  assert.deepEqual([h.Status, h.FailingStreak], ["starting", 1]);
  h = recordProbe(h, result(2000, 1), rules);
  assert.deepEqual([h.Status, h.FailingStreak], ["starting", 2]);
  h = recordProbe(h, result(3000, -1, "timeout"), rules);
  assert.deepEqual([h.Status, h.FailingStreak], ["unhealthy", 3]);
  h = recordProbe(h, result(4000, 0, "ok\n"), rules);
  assert.deepEqual([h.Status, h.FailingStreak], ["healthy", 0]);
  h = recordProbe(h, result(5000, 1), rules);
  assert.deepEqual([h.Status, h.FailingStreak], ["healthy", 1]);
});

test("the Log keeps the last five results, oldest first, and survives a restart", () => {
  let h = startingHealth(undefined);
  for (let i = 0; i < 7; i++) h = recordProbe(h, result(i * 1000, 0, `run ${i}`), rules);
  assert.deepEqual(h.Log.map((r) => r.Output), ["run 2", "run 3", "run 4", "run 5", "run 6"]);
  const restarted = startingHealth(stoppedHealth(h));
  assert.deepEqual([restarted.Status, restarted.FailingStreak, restarted.Log.length], ["starting", 0, 5]);
  assert.equal(stoppedHealth(h).Status, "unhealthy");
});

test("failures inside the start period do not count until a first success", () => {
  const r = { ...rules, startPeriodMs: 10_000 };
  let h = startingHealth(undefined);
  h = recordProbe(h, result(1000, 1), r);
  h = recordProbe(h, result(2000, 1), r);
  assert.deepEqual([h.Status, h.FailingStreak, h.Log.length], ["starting", 0, 2]);
  h = recordProbe(h, result(11_000, 1), r);
  assert.deepEqual([h.Status, h.FailingStreak], ["starting", 1]);
  const healthy = recordProbe(startingHealth(undefined), result(1000, 0), r);
  assert.equal(recordProbe(healthy, result(2000, 1), r).FailingStreak, 1);
});

test("LimitedOutput keeps 4096 bytes and marks the cut", () => {
  const o = new LimitedOutput();
  o.write(Buffer.from("a".repeat(4000)));
  o.write(Buffer.from("b".repeat(200)));
  const t = o.text();
  assert.equal(t.length, 4099);
  assert.ok(t.endsWith("b...") && t.startsWith("aaa"));
  const small = new LimitedOutput();
  small.write(Buffer.from("hi\n"));
  assert.equal(small.text(), "hi\n");
});

test("ps suffix and the health filter", () => {
  assert.equal(healthSuffix(undefined), "");
  assert.equal(healthSuffix(startingHealth(undefined)), " (health: starting)");
  assert.equal(healthSuffix({ Status: "healthy", FailingStreak: 0, Log: [] }), " (healthy)");
  assert.equal(healthFilterValue(undefined), "none");
  assert.equal(healthFilterValue({ Status: "unhealthy", FailingStreak: 3, Log: [] }), "unhealthy");
  for (const v of ["none", "starting", "healthy", "unhealthy"]) checkHealthFilter(v);
  assert.throws(() => checkHealthFilter("bogus"), (e: unknown) => e instanceof GantryError && e.message === "invalid filter 'health=bogus': invalid value for health (bogus): must be one of none, starting, healthy, unhealthy");
});
