import { test } from "node:test";
import assert from "node:assert/strict";
import type { Job } from "./_batch-types.ts";
import {
  accountFinishedPods,
  backoffRemainingMs,
  countUncounted,
  firstPendingIndexes,
  formatIndexes,
  isPodFailed,
  JOB_TRACKING_FINALIZER,
  nextBackoffRecord,
  parseIndexes,
  podForJob,
  podsForRemoval,
  wantActive,
} from "./_job-plan.ts";
import type { Pod } from "./_types.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const job = (spec: Job["spec"], status: Job["status"] = {}): Job => ({ metadata: { name: "j", namespace: "ns", uid: "job-uid" }, spec, status });
let seq = 0;
function pod(o: { phase?: string; index?: number; finalizer?: boolean; deleting?: boolean; node?: string; finishedAt?: number; uid?: string } = {}): Pod {
  const uid = o.uid ?? `p${seq++}`;
  return {
    metadata: {
      name: uid,
      uid,
      creationTimestamp: new Date(T0).toISOString(),
      finalizers: o.finalizer === false ? [] : [JOB_TRACKING_FINALIZER],
      annotations: o.index === undefined ? {} : { "batch.kubernetes.io/job-completion-index": String(o.index) },
      ...(o.deleting ? { deletionTimestamp: new Date(T0).toISOString() } : {}),
    },
    spec: { nodeName: o.node },
    status: {
      phase: o.phase ?? "Running",
      ...(o.finishedAt === undefined ? {} : { containerStatuses: [{ state: { terminated: { finishedAt: new Date(o.finishedAt).toISOString() } } }] as never }),
    },
  };
}

test("completed indexes read and written in the compressed form", () => {
  assert.deepEqual([...parseIndexes("0,2-4,9", 6)].sort(), [0, 2, 3, 4]);
  assert.equal(formatIndexes([4, 0, 2, 3, 3, 7]), "0,2-4,7");
  assert.equal(formatIndexes([]), "");
});

test("how many should run: never past parallelism, never past what is left; a work queue stops adding after a success", () => {
  assert.equal(wantActive(job({ completions: 5, parallelism: 2 }), 0, 0), 2);
  assert.equal(wantActive(job({ completions: 5, parallelism: 2 }), 4, 1), 1);
  assert.equal(wantActive(job({ completions: 5, parallelism: 2 }), 6, 0), 0);
  assert.equal(wantActive(job({ parallelism: 3 }), 0, 1), 3);
  assert.equal(wantActive(job({ parallelism: 3 }), 1, 2), 2, "let the rest finish");
});

test("a deleted pod that never finished counts as failed, unless only Failed pods are replaced", () => {
  assert.equal(isPodFailed(pod({ deleting: true }), job({})), true);
  assert.equal(isPodFailed(pod({ deleting: true, phase: "Succeeded" }), job({})), false);
  assert.equal(isPodFailed(pod({ deleting: true }), job({ podReplacementPolicy: "Failed" })), false);
});

test("Indexed: duplicates and out-of-range indexes go first; pending indexes are the lowest free ones", () => {
  const j = job({ completions: 4, parallelism: 4, completionMode: "Indexed" });
  const a = pod({ index: 1, node: "n1" });
  const b = pod({ index: 1 });
  const c = pod({ index: 7 });
  const d = pod({ index: 2, node: "n1" });
  const rm = podsForRemoval(j, [a, b, c, d], 0);
  assert.deepEqual(rm.map((p) => p.metadata.uid).sort(), [b, c].map((p) => p.metadata.uid).sort(), "the unscheduled duplicate and the stray");
  assert.deepEqual(firstPendingIndexes(j, new Set([0]), [a, d], 5), [3]);
});

test("back-off: 10 s doubling per failure since the last success, capped at 6 minutes, reset by a success", () => {
  let r = nextBackoffRecord(undefined, [], [pod({ phase: "Failed", finishedAt: T0 })], T0);
  assert.deepEqual(r, { failuresAfterLastSuccess: 1, lastFailureTime: T0 });
  assert.equal(backoffRemainingMs(r, T0 + 4_000), 6_000);
  r = nextBackoffRecord(r, [], [pod({ phase: "Failed", finishedAt: T0 + 10_000 })], T0 + 10_000);
  assert.equal(backoffRemainingMs(r, T0 + 10_000), 20_000);
  r = { failuresAfterLastSuccess: 12, lastFailureTime: T0 };
  assert.equal(backoffRemainingMs(r, T0), 360_000);
  // A success after the failures resets; a failure after the success starts again from one.
  r = nextBackoffRecord(r, [pod({ phase: "Succeeded", finishedAt: T0 + 5 })], [pod({ phase: "Failed", finishedAt: T0 + 1 }), pod({ phase: "Failed", finishedAt: T0 + 9 })], T0 + 10);
  assert.deepEqual(r, { failuresAfterLastSuccess: 1, lastFailureTime: T0 + 9 });
  // A finish time ahead of the controller's clock counts as now.
  assert.equal(nextBackoffRecord(undefined, [], [pod({ phase: "Failed", finishedAt: T0 + 60_000 })], T0).lastFailureTime, T0);
});

test("a pod of the Job: generated name, controller reference, the tracking finalizer; Indexed adds the index four ways", () => {
  const j = job({ completionMode: "Indexed", completions: 3, template: { metadata: { labels: { app: "a" } }, spec: { containers: [{ name: "c", env: [{ name: "X", value: "1" }] }] } } });
  const p = podForJob(j, 2);
  assert.equal(p.metadata.generateName, "j-2-");
  assert.deepEqual(p.metadata.finalizers, [JOB_TRACKING_FINALIZER]);
  assert.equal(p.metadata.ownerReferences![0]!.uid, "job-uid");
  assert.deepEqual(p.metadata.labels, { app: "a", "batch.kubernetes.io/job-completion-index": "2" });
  assert.equal(p.spec!.hostname, "j-2");
  assert.deepEqual((p.spec!.containers![0] as unknown as { env: { name: string }[] }).env.map((e) => e.name), ["X", "JOB_COMPLETION_INDEX"]);
  assert.equal(j.spec.template!.spec!.hostname, undefined, "the template is not touched");
  const long = podForJob(job({ template: {} }), undefined);
  assert.equal(long.metadata.generateName, "j-");
  assert.equal(podForJob({ ...job({}), metadata: { name: "x".repeat(70), uid: "u" } }).metadata.generateName!.length, 58);
});

test("finished pods are recorded before their finalizer goes, and counted only after: a crash anywhere counts each once", () => {
  const j = job({ completions: 3 }, { succeeded: 1, uncountedTerminatedPods: { succeeded: ["s1"] } });
  const s1 = pod({ uid: "s1", phase: "Succeeded" }); // recorded, finalizer still on (crashed before removal)
  const s2 = pod({ uid: "s2", phase: "Succeeded" }); // new
  const f1 = pod({ uid: "f1", phase: "Failed" });
  const run = pod({ uid: "r1" });
  const gone = pod({ uid: "s0", phase: "Succeeded", finalizer: false }); // counted long ago
  const acc = accountFinishedPods(j, [s1, s2, f1, run, gone], { expectedRemovals: new Set(), previousIndexes: new Set() });
  assert.deepEqual(acc.removeFinalizer.map((p) => p.metadata.uid), ["s1", "s2", "f1"]);
  assert.deepEqual(acc.uncountedSucceeded, ["s2"], "s1 is already on record");
  assert.deepEqual(acc.uncountedFailed, ["f1"]);
  // A removal already under way is not walked again.
  assert.deepEqual(accountFinishedPods(j, [s2], { expectedRemovals: new Set(["s2"]), previousIndexes: new Set() }).removeFinalizer, []);
  // Counting: only uids whose pod no longer holds the finalizer move into the counters.
  const next = job({ completions: 3 }, { succeeded: 1, uncountedTerminatedPods: { succeeded: ["s1", "s2"], failed: ["f1"] } });
  assert.equal(countUncounted(next, new Set(["s2"])), true);
  assert.equal(next.status!.succeeded, 2);
  assert.equal(next.status!.failed, 1);
  assert.deepEqual(next.status!.uncountedTerminatedPods, { succeeded: ["s2"] });
  // Failing: a running pod is let go and counted failed; succeeding: let go, not counted.
  const failing = accountFinishedPods(j, [run], { expectedRemovals: new Set(), previousIndexes: new Set(), finishing: { type: "FailureTarget", status: "True" } });
  assert.deepEqual(failing.uncountedFailed, ["r1"]);
  const done = accountFinishedPods(j, [run], { expectedRemovals: new Set(), previousIndexes: new Set(), finishing: { type: "SuccessCriteriaMet", status: "True" } });
  assert.deepEqual([done.removeFinalizer.length, done.uncountedFailed.length], [1, 0]);
});

test("Indexed successes are recorded by index, once", () => {
  const j = job({ completions: 3, completionMode: "Indexed" }, { completedIndexes: "0" });
  const acc = accountFinishedPods(j, [pod({ index: 0, phase: "Succeeded" }), pod({ index: 2, phase: "Succeeded" }), pod({ index: 2, phase: "Succeeded" }), pod({ index: 5, phase: "Succeeded" })], { expectedRemovals: new Set(), previousIndexes: new Set([0]) });
  assert.deepEqual(acc.newSucceededIndexes, [2]);
  assert.deepEqual(acc.uncountedSucceeded, []);
  assert.equal(acc.removeFinalizer.length, 4, "every finished pod lets go");
});
