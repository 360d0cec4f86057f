import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import type { HealthSettings } from "./config.ts";
import { HealthMonitor, type ProbeOutcome } from "./monitor.ts";
import type { HealthResult, HealthStatus } from "./status.ts";

const settings = (over: Partial<HealthSettings> = {}): HealthSettings => ({ argv: ["check"], intervalMs: 1000, timeoutMs: 500, startPeriodMs: 0, startIntervalMs: 200, retries: 3, ...over });

/** A probe the test finishes by hand; records when each began and whether it was aborted. */
function scriptedProbe(clock: FakeClock) {
  const runs: { at: number; signal: AbortSignal; finish: (o: ProbeOutcome) => void }[] = [];
  const run = (_argv: string[], signal: AbortSignal) =>
    new Promise<ProbeOutcome>((resolve) => {
      runs.push({ at: clock.now(), signal, finish: resolve });
      // A killed probe ends with SIGKILL's code, as the exec of a killed process does.
      signal.addEventListener("abort", () => resolve({ exitCode: 137, output: "partial" }));
    });
  return { runs, run };
}

function monitorWith(clock: FakeClock, s: HealthSettings, status: () => HealthStatus = () => "starting") {
  const probe = scriptedProbe(clock);
  const results: HealthResult[] = [];
  const m = new HealthMonitor({ settings: s, clock, startedAtMs: clock.now(), status, run: probe.run, onResult: (r) => results.push(r) });
  return { m, probe, results };
}

test("probes run one at a time, an interval after the previous one ended", async () => {
  const clock = new FakeClock();
  const { m, probe, results } = monitorWith(clock, settings());
  m.start();
  await clock.advance(999);
  assert.equal(probe.runs.length, 0);
  await clock.advance(1);
  assert.equal(probe.runs.length, 1);
  await clock.advance(300);
  probe.runs[0]!.finish({ exitCode: 0, output: "ok" });
  await clock.advance(0);
  assert.deepEqual(results.map((r) => [r.ExitCode, r.Output]), [[0, "ok"]]);
  assert.equal(Date.parse(results[0]!.End) - Date.parse(results[0]!.Start), 300);
  await clock.advance(999);
  assert.equal(probe.runs.length, 1, "the next waits a whole interval after the end");
  await clock.advance(1);
  assert.equal(probe.runs.length, 2);
  await m.stop();
  assert.ok(probe.runs[1]!.signal.aborted, "stop kills the running probe");
  assert.equal(results.length, 1, "a stopped loop reports nothing more");
  assert.equal(m.active, false);
  assert.equal(clock.pending(), 0, "no timer is left");
});

test("a probe past its timeout is killed and fails with dockerd's message", async () => {
  const clock = new FakeClock();
  const { m, probe, results } = monitorWith(clock, settings({ timeoutMs: 1500 }));
  m.start();
  await clock.advance(1000);
  await clock.advance(1500);
  assert.ok(probe.runs[0]!.signal.aborted);
  assert.deepEqual(results.map((r) => [r.ExitCode, r.Output]), [[-1, "Health check exceeded timeout (1.5s): partial"]]);
  await m.stop();
  assert.equal(clock.pending(), 0);
});

test("a probe that cannot run is a failure carrying the reason", async () => {
  const clock = new FakeClock();
  const results: HealthResult[] = [];
  const m = new HealthMonitor({ settings: settings(), clock, startedAtMs: clock.now(), status: () => "starting", run: () => Promise.reject(new Error("Container x is not running")), onResult: (r) => results.push(r) });
  m.start();
  await clock.advance(1000);
  assert.deepEqual(results.map((r) => [r.ExitCode, r.Output]), [[-1, "Container x is not running"]]);
  await m.stop();
});

test("inside the start period the start interval applies while starting, never past the period's end", async () => {
  const clock = new FakeClock();
  let status: HealthStatus = "starting";
  const { m, probe } = monitorWith(clock, settings({ intervalMs: 10_000, startPeriodMs: 20_000, startIntervalMs: 300 }), () => status);
  m.start();
  const ranAt = async (ms: number, n: number) => {
    await clock.advance(ms - 1);
    assert.equal(probe.runs.length, n - 1, `probe ${n} not before ${clock.now()}`);
    await clock.advance(1);
    assert.equal(probe.runs.length, n, `probe ${n} at ${clock.now()}`);
  };
  await ranAt(300, 1);
  probe.runs[0]!.finish({ exitCode: 1, output: "" });
  await ranAt(300, 2);
  status = "healthy";
  probe.runs[1]!.finish({ exitCode: 0, output: "" });
  await ranAt(10_000, 3); // healthy: the interval
  probe.runs[2]!.finish({ exitCode: 0, output: "" });
  await ranAt(9_400, 4); // what is left of the start period, shorter than the interval
  probe.runs[3]!.finish({ exitCode: 0, output: "" });
  await ranAt(10_000, 5);
  await m.stop();
  assert.equal(clock.pending(), 0);
});
