// Probe workers on a fake clock with scripted probe results (pure): initial results,
// thresholds, initialDelaySeconds, periods, startup gating, and holding after a liveness kill.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import type { Container, Pod, Probe } from "./pod-types.ts";
import { Prober, type ProbedContainer, type ProbeResult, type ProbeType } from "./prober.ts";

const T0 = Date.UTC(2026, 0, 1);

function harness(container: Partial<Container>) {
  const clock = new FakeClock(T0);
  const c: Container = { name: "c", image: "busybox", ...container };
  const pod: Pod = { metadata: { name: "p", namespace: "ns", uid: "u" }, spec: { containers: [c] } };
  let current: ProbedContainer | undefined = { id: "id1", running: true, exited: false, startedAtMs: T0 };
  /** The next results each probe type returns (the last one repeats). */
  const script = new Map<ProbeType, ProbeResult[]>();
  const runs: { type: ProbeType; at: number; id: string }[] = [];
  const changed: number[] = [];
  const unhealthy: string[] = [];
  const prober = new Prober({
    clock,
    pod: () => pod,
    container: () => current,
    run: async (_p, _c, _probe: Probe, type, id) => {
      runs.push({ type, at: clock.now() - T0, id });
      const list = script.get(type) ?? ["success"];
      const result = list.length > 1 ? list.shift()! : list[0]!;
      return { result, output: result === "failure" ? `${type} said no` : "" };
    },
    changed: () => changed.push(clock.now() - T0),
    unhealthy: (_p, _c, type, output) => unhealthy.push(`${type}: ${output}`),
    log: () => {},
  });
  return {
    clock,
    pod,
    prober,
    script,
    runs,
    changed,
    unhealthy,
    probedIds: () => runs.map((r) => r.id),
    setContainer: (next: ProbedContainer | undefined) => (current = next),
    ready: () => prober.isReady("u", "c", current?.id ?? "", !!current?.running),
    started: () => prober.isStarted("u", "c", current?.id ?? "", !!current?.running),
  };
}

const exec = { exec: { command: ["true"] } };

test("readiness: not ready until a success, then unready after failureThreshold failures in a row", async () => {
  const h = harness({ readinessProbe: { ...exec, periodSeconds: 5, failureThreshold: 2 } });
  h.script.set("readiness", ["success", "failure", "success", "failure", "failure", "success"]);
  h.prober.syncPod(h.pod);
  assert.equal(h.ready(), false, "a readiness probe starts as failure");
  await h.clock.advance(0);
  assert.equal(h.ready(), true, "the first probe runs at once");
  await h.clock.advance(5000);
  assert.equal(h.ready(), true, "one failure is below failureThreshold 2");
  await h.clock.advance(5000); // success resets the run
  await h.clock.advance(5000);
  assert.equal(h.ready(), true);
  await h.clock.advance(5000);
  assert.equal(h.ready(), false, "two failures in a row");
  await h.clock.advance(5000);
  assert.equal(h.ready(), true);
  assert.deepEqual(h.runs.map((r) => r.at), [0, 5000, 10000, 15000, 20000, 25000], "every periodSeconds");
  assert.equal(h.unhealthy.length, 3, "every failed run is an Unhealthy event");
  assert.equal(h.unhealthy[0], "readiness: readiness said no");
  assert.ok(h.changed.length >= 3, "each change asks for a sync");
  h.prober.stopAll();
});

test("readiness successThreshold: ready only after that many successes in a row", async () => {
  const h = harness({ readinessProbe: { ...exec, periodSeconds: 1, successThreshold: 3 } });
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  await h.clock.advance(1000);
  assert.equal(h.ready(), false);
  await h.clock.advance(1000);
  assert.equal(h.ready(), true);
  h.prober.stopAll();
});

test("liveness: nothing during initialDelaySeconds; killed after failureThreshold; held until a new container, which starts healthy", async () => {
  const h = harness({ livenessProbe: { ...exec, initialDelaySeconds: 15, periodSeconds: 10, failureThreshold: 3 } });
  h.script.set("liveness", ["failure"]);
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  await h.clock.advance(10_000);
  assert.deepEqual(h.runs, [], "no probe before 15 s");
  assert.equal(h.prober.killReason("id1"), undefined, "liveness starts as success");
  await h.clock.advance(10_000); // 20 s: 1st failure
  await h.clock.advance(10_000); // 2nd
  assert.equal(h.prober.killReason("id1"), undefined);
  await h.clock.advance(10_000); // 3rd
  assert.equal(h.prober.killReason("id1"), "liveness");
  assert.equal(h.ready(), true, "no readiness probe: a running container is ready");
  await h.clock.advance(30_000);
  assert.equal(h.runs.length, 3, "held after the failure: the dying container is not probed");
  // The container was killed and restarted: a new ID.
  h.setContainer({ id: "id2", running: true, exited: false, startedAtMs: h.clock.now() });
  h.script.set("liveness", ["success"]);
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  assert.equal(h.prober.killReason("id2"), undefined);
  assert.equal(h.prober.killReason("id1"), undefined, "the old container's result is forgotten");
  await h.clock.advance(20_000);
  assert.ok(h.probedIds().includes("id2"), "the new container is probed after its own initial delay");
  h.prober.stopAll();
});

test("startup gates liveness and readiness; `started` follows it; a failed startup probe asks for a kill", async () => {
  const h = harness({
    startupProbe: { ...exec, periodSeconds: 2, failureThreshold: 30 },
    livenessProbe: { ...exec, periodSeconds: 2 },
    readinessProbe: { ...exec, periodSeconds: 2 },
  });
  h.script.set("startup", ["failure", "failure", "success"]);
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  await h.clock.advance(2000);
  assert.equal(h.started(), false);
  assert.equal(h.ready(), false, "not started is not ready");
  assert.deepEqual([...new Set(h.runs.map((r) => r.type))], ["startup"], "liveness and readiness wait for startup");
  await h.clock.advance(2000);
  assert.equal(h.started(), true);
  await h.clock.advance(2000);
  assert.equal(h.ready(), true);
  const after = h.runs.length;
  await h.clock.advance(2000);
  assert.deepEqual(h.runs.slice(after).map((r) => r.type).sort(), ["liveness", "readiness"], "startup stops once it succeeded");

  const f = harness({ startupProbe: { ...exec, periodSeconds: 1, failureThreshold: 2 } });
  f.script.set("startup", ["failure"]);
  f.prober.syncPod(f.pod);
  await f.clock.advance(0);
  await f.clock.advance(1000);
  assert.equal(f.prober.killReason("id1"), "startup");
  h.prober.stopAll();
  f.prober.stopAll();
});

test("a container that is not running fails readiness; a removed pod's workers stop probing", async () => {
  const h = harness({ readinessProbe: { ...exec, periodSeconds: 1 } });
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  assert.equal(h.ready(), true);
  h.setContainer({ id: "id1", running: false, exited: true, startedAtMs: T0 });
  await h.clock.advance(1000);
  assert.equal(h.prober.result("id1", "readiness"), "failure");
  h.prober.removePod("u");
  const n = h.runs.length;
  await h.clock.advance(10_000);
  assert.equal(h.runs.length, n);
  assert.equal(h.clock.pending(), 0, "no timer is left behind");
});

test("a container made but not yet started is not probed and fails nothing; once running it is probed", async () => {
  const h = harness({ livenessProbe: { ...exec, periodSeconds: 1 }, readinessProbe: { ...exec, periodSeconds: 1 } });
  h.setContainer({ id: "id1", running: false, exited: false, startedAtMs: 0 });
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  await h.clock.advance(1000);
  assert.equal(h.prober.killReason("id1"), undefined, "no liveness failure for a container that has not started");
  assert.equal(h.runs.length, 0);
  h.setContainer({ id: "id1", running: true, exited: false, startedAtMs: h.clock.now() });
  await h.clock.advance(1000);
  assert.equal(h.prober.killReason("id1"), undefined);
  assert.equal(h.ready(), true);
  h.prober.stopAll();
});

test("a container the pod's status already calls ready and started (an adopted one) starts from that", async () => {
  const h = harness({ readinessProbe: { ...exec, periodSeconds: 10 }, startupProbe: { ...exec, periodSeconds: 10 } });
  h.pod.status = { containerStatuses: [{ name: "c", containerID: "gantry://id1", ready: true, started: true, restartCount: 0, image: "busybox", imageID: "", state: {}, lastState: {} }] };
  h.prober.syncPod(h.pod);
  assert.deepEqual([h.started(), h.ready()], [true, true], "no flap to unready while the first probe runs");
  await h.clock.advance(0);
  assert.ok(!h.runs.some((r) => r.type === "startup"), "a started container's startup probe does not run again");
  // A new container of that name (another ID) starts over.
  h.setContainer({ id: "id2", running: true, exited: false, startedAtMs: h.clock.now() });
  h.script.set("startup", ["failure"]);
  h.prober.syncPod(h.pod);
  await h.clock.advance(0);
  assert.deepEqual([h.started(), h.ready()], [false, false]);
  h.prober.stopAll();
});
