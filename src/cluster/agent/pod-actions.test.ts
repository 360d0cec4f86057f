// The worker's decisions and the status it writes, from fake engine records (pure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../common/clock.ts";
import type { ContainerRecord } from "../../engine/index.ts";
import { CrashBackoff, goDuration } from "./crash-backoff.ts";
import { computePodActions } from "./pod-actions.ts";
import { computePodStatus, podPhase } from "./pod-status.ts";
import type { Pod } from "./pod-types.ts";
import type { RuntimeContainer, RuntimePod } from "./runtime-pods.ts";

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

function rc(name: string, attempt: number, state: "running" | "exited", exitCode = 0, extra: Partial<ContainerRecord["State"]> = {}): RuntimeContainer {
  const record = {
    Id: `${name}-${attempt}`.padEnd(64, "0"),
    Created: iso(T0 + attempt),
    Image: "sha256:" + "a".repeat(64),
    State: { Status: state, Pid: 1, ExitCode: exitCode, Error: "", OOMKilled: false, StartedAt: iso(T0), FinishedAt: state === "exited" ? iso(T0 + 1000) : "0001-01-01T00:00:00Z", ...extra },
  } as unknown as ContainerRecord;
  return { id: record.Id, name, attempt, init: false, record };
}

function runtime(sandboxRunning: boolean, ...containers: RuntimeContainer[]): RuntimePod {
  const map = new Map<string, RuntimeContainer[]>();
  for (const c of containers) map.set(c.name, [...(map.get(c.name) ?? []), c].sort((a, b) => b.attempt - a.attempt));
  return { uid: "u", name: "p", namespace: "ns", sandboxes: [rc("POD", 0, sandboxRunning ? "running" : "exited")], containers: map, graceSeconds: 30 };
}

const pod = (spec: Partial<Pod["spec"]> = {}): Pod => ({ metadata: { name: "p", namespace: "ns", uid: "u" }, spec: { containers: [{ name: "c", image: "busybox" }], ...spec } });

test("a new pod gets a sandbox and its containers; a running one gets nothing", () => {
  const clock = new FakeClock(T0);
  const a = computePodActions(pod(), undefined, new CrashBackoff(clock), clock.now());
  assert.equal(a.createSandbox, 0);
  assert.deepEqual(a.start.map((s) => [s.container.name, s.attempt]), [["c", 0]]);
  const b = computePodActions(pod(), runtime(true, rc("c", 0, "running")), new CrashBackoff(clock), clock.now());
  assert.deepEqual([b.createSandbox, b.start.length, b.done], [undefined, 0, false]);
  const dead = computePodActions(pod(), runtime(false, rc("c", 0, "running")), new CrashBackoff(clock), clock.now());
  assert.equal(dead.createSandbox, 1, "a dead sandbox is replaced with the next attempt");
});

test("CrashLoopBackOff: first restart at once, then 10 s, doubling to 5 min", async () => {
  const clock = new FakeClock(T0 + 1000);
  const backoff = new CrashBackoff(clock);
  const p = pod();
  let latest = rc("c", 0, "exited", 1);
  assert.deepEqual(computePodActions(p, runtime(true, latest), backoff, clock.now()).start.map((s) => s.attempt), [1], "the first restart is immediate");
  latest = rc("c", 1, "exited", 1, { FinishedAt: iso(clock.now()) });
  const waiting = computePodActions(p, runtime(true, latest), backoff, clock.now());
  assert.equal(waiting.start.length, 0);
  assert.equal(waiting.waiting.get("c")?.reason, "CrashLoopBackOff");
  assert.equal(waiting.waiting.get("c")?.message, "back-off 10s restarting failed container=c pod=p_ns(u)");
  assert.equal(waiting.retryAfterMs, 10_000);
  await clock.advance(10_000);
  assert.deepEqual(computePodActions(p, runtime(true, latest), backoff, clock.now()).start.map((s) => s.attempt), [2]);
  assert.equal(backoff.delayMs("u/c"), 20_000);
  for (let i = 0; i < 10; i++) backoff.next("u/c");
  assert.equal(backoff.delayMs("u/c"), 300_000);
  await clock.advance(600_001);
  assert.equal(backoff.delayMs("u/c"), 0, "untouched for twice the maximum, it starts over");
  assert.deepEqual([goDuration(10_000), goDuration(160_000), goDuration(300_000)], ["10s", "2m40s", "5m0s"]);
});

test("restart policies: Never and OnFailure finish the pod; init containers go one at a time", () => {
  const clock = new FakeClock(T0);
  const never = computePodActions(pod({ restartPolicy: "Never" }), runtime(true, rc("c", 0, "exited", 1)), new CrashBackoff(clock), clock.now());
  assert.deepEqual([never.done, never.start.length], [true, 0]);
  const onFailureOk = computePodActions(pod({ restartPolicy: "OnFailure" }), runtime(true, rc("c", 0, "exited", 0)), new CrashBackoff(clock), clock.now());
  assert.equal(onFailureOk.done, true);
  const onFailureBad = computePodActions(pod({ restartPolicy: "OnFailure" }), runtime(true, rc("c", 0, "exited", 2)), new CrashBackoff(clock), clock.now());
  assert.deepEqual(onFailureBad.start.map((s) => s.attempt), [1]);
  const inits = pod({ initContainers: [{ name: "i1", image: "x" }, { name: "i2", image: "x" }] });
  assert.deepEqual(computePodActions(inits, runtime(true), new CrashBackoff(clock), clock.now()).start.map((s) => [s.container.name, s.init]), [["i1", true]]);
  assert.deepEqual(computePodActions(inits, runtime(true, rc("i1", 0, "running")), new CrashBackoff(clock), clock.now()).start, []);
  assert.deepEqual(computePodActions(inits, runtime(true, rc("i1", 0, "exited", 0)), new CrashBackoff(clock), clock.now()).start.map((s) => s.container.name), ["i2"]);
  assert.deepEqual(computePodActions(inits, runtime(true, rc("i1", 0, "exited", 0), rc("i2", 0, "exited", 0)), new CrashBackoff(clock), clock.now()).start.map((s) => s.container.name), ["c"]);
  const terminal = computePodActions({ ...pod(), status: { phase: "Succeeded" } }, undefined, new CrashBackoff(clock), clock.now());
  assert.deepEqual([terminal.done, terminal.createSandbox], [true, undefined], "a finished pod never runs again (after an agent restart too)");
});

test("status: phases, conditions in the kubelet's order, states and restart counts", () => {
  const now = iso(T0 + 5000);
  const running = computePodStatus({ pod: pod(), runtime: runtime(true, rc("c", 2, "running"), rc("c", 1, "exited", 1)), waiting: new Map(), hostIP: "10.0.0.1", podIP: "10.42.0.5", now });
  assert.equal(running.phase, "Running");
  assert.deepEqual(running.conditions?.map((c) => `${c.type}=${c.status}`), ["PodReadyToStartContainers=True", "Initialized=True", "Ready=True", "ContainersReady=True", "PodScheduled=True"]);
  const cs = running.containerStatuses![0]!;
  assert.deepEqual([cs.restartCount, cs.ready, cs.started, cs.lastState.terminated?.exitCode, cs.lastState.terminated?.reason], [2, true, true, 1, "Error"]);
  assert.equal(cs.containerID, `gantry://${"c-2".padEnd(64, "0")}`);
  assert.deepEqual([running.podIP, running.hostIP, running.qosClass], ["10.42.0.5", "10.0.0.1", "BestEffort"]);

  const crashing = computePodStatus({ pod: pod(), runtime: runtime(true, rc("c", 1, "exited", 1)), waiting: new Map([["c", { reason: "CrashLoopBackOff", message: "back-off" }]]), hostIP: "h", now });
  assert.equal(crashing.phase, "Running", "Always: a container waiting to restart keeps the pod Running");
  assert.equal(crashing.containerStatuses![0]!.state.waiting?.reason, "CrashLoopBackOff");
  assert.equal(crashing.conditions![2]!.message, "containers with unready status: [c]");

  const oom = computePodStatus({ pod: pod({ restartPolicy: "Never" }), runtime: runtime(false, rc("c", 0, "exited", 137, { OOMKilled: true })), waiting: new Map(), hostIP: "h", now });
  assert.deepEqual([oom.phase, oom.containerStatuses![0]!.state.terminated?.reason], ["Failed", "OOMKilled"]);
  const done = computePodStatus({ pod: pod({ restartPolicy: "Never" }), runtime: runtime(false, rc("c", 0, "exited", 0)), waiting: new Map(), hostIP: "h", now });
  assert.deepEqual([done.phase, done.conditions![2]!.reason], ["Succeeded", "PodCompleted"]);
  const fresh = computePodStatus({ pod: pod(), runtime: undefined, waiting: new Map(), hostIP: "h", now });
  assert.deepEqual([fresh.phase, fresh.containerStatuses![0]!.state.waiting?.reason], ["Pending", "ContainerCreating"]);
  // Transition times survive while a condition holds.
  const later = computePodStatus({ pod: { ...pod(), status: running }, runtime: runtime(true, rc("c", 2, "running")), waiting: new Map(), hostIP: "h", now: iso(T0 + 60_000) });
  assert.equal(later.conditions![2]!.lastTransitionTime, running.conditions![2]!.lastTransitionTime);
  assert.equal(later.startTime, running.startTime);
  assert.equal(podPhase(pod(), [], [], true), "Failed", "a pod stopped before anything ran");
});
