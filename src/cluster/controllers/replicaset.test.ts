import { test } from "node:test";
import assert from "node:assert/strict";
import { BURST_REPLICAS, computeReplicaSetStatus, planReplicaSetScale, podFromTemplate, slowStartBatch } from "./replicaset.ts";
import type { Pod, ReplicaSet } from "./_types.ts";

const NOW = Date.UTC(2026, 0, 1, 12);
const iso = (ms: number) => new Date(ms).toISOString();

function rs(replicas: number, extra: Partial<ReplicaSet["spec"]> = {}): ReplicaSet {
  return {
    metadata: { name: "web-abc", namespace: "ns", uid: "rs-uid", generation: 3 },
    spec: { replicas, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web", tier: "fe" }, annotations: { a: "1" } }, spec: { containers: [{ name: "c", image: "i" }] } }, ...extra },
  };
}

function pod(name: string, o: { ready?: number; labels?: Record<string, string>; node?: string } = {}): Pod {
  return {
    metadata: { name, namespace: "ns", uid: name, labels: o.labels ?? { app: "web", tier: "fe" }, creationTimestamp: iso(NOW - 60_000) },
    spec: { nodeName: o.node ?? "n1" },
    status: { phase: "Running", conditions: [o.ready !== undefined ? { type: "Ready", status: "True", lastTransitionTime: iso(o.ready) } : { type: "Ready", status: "False" }] },
  };
}

test("too few pods: create the difference, at most a burst", () => {
  assert.deepEqual(planReplicaSetScale(rs(3), [pod("a")], [], NOW), { create: 2, delete: [] });
  assert.equal(planReplicaSetScale(rs(BURST_REPLICAS + 20), [], [], NOW).create, BURST_REPLICAS);
  assert.deepEqual(planReplicaSetScale(rs(1), [pod("a")], [], NOW), { create: 0, delete: [] });
});

test("too many pods: delete the least valuable ones", () => {
  const plan = planReplicaSetScale(rs(1), [pod("ready", { ready: NOW - 600_000 }), pod("unready"), pod("pending-unscheduled", { node: "" })], [], NOW);
  assert.equal(plan.create, 0);
  assert.deepEqual(plan.delete.map((p) => p.metadata.name), ["pending-unscheduled", "unready"]);
  assert.equal(planReplicaSetScale(rs(0), [pod("a")], [], NOW).delete.length, 1, "scale to zero deletes all");
});

test("a new pod is the template with a generated name and the set as its controller", () => {
  const p = podFromTemplate(rs(1));
  assert.equal(p.metadata.generateName, "web-abc-");
  assert.equal(p.metadata.name, undefined);
  assert.equal(p.metadata.namespace, "ns");
  assert.deepEqual(p.metadata.labels, { app: "web", tier: "fe" });
  assert.deepEqual(p.metadata.annotations, { a: "1" });
  assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-abc", uid: "rs-uid", controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(p.spec, { containers: [{ name: "c", image: "i" }] });
});

test("status counts replicas, fully labelled, ready and available (minReadySeconds) pods", () => {
  const pods = [pod("a", { ready: NOW - 20_000 }), pod("b", { ready: NOW - 2_000 }), pod("c"), pod("d", { labels: { app: "web" } })];
  const s = computeReplicaSetStatus(rs(4, { minReadySeconds: 10 }), pods, NOW);
  assert.deepEqual(s, { replicas: 4, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 1, observedGeneration: 3 });
  assert.deepEqual(computeReplicaSetStatus(rs(0), [], NOW), { replicas: 0, observedGeneration: 3 }, "zero counts are left out");
});

test("a failure sets ReplicaFailure; success clears it", () => {
  const failed = computeReplicaSetStatus(rs(2), [], NOW, new Error('pods "x" is forbidden: exceeded quota'));
  assert.equal(failed.conditions?.[0]?.type, "ReplicaFailure");
  assert.equal(failed.conditions?.[0]?.reason, "FailedCreate");
  assert.match(failed.conditions?.[0]?.message ?? "", /exceeded quota/);
  const cleared = computeReplicaSetStatus({ ...rs(2), status: failed }, [], NOW);
  assert.equal(cleared.conditions, undefined);
});

test("slow start: batches of 1, 2, 4 … stop after the first batch with a failure", async () => {
  let calls = 0;
  const ok = await slowStartBatch(10, async () => {
    calls++;
  });
  assert.deepEqual(ok, { done: 10 });
  assert.equal(calls, 10);
  calls = 0;
  const res = await slowStartBatch(10, async () => {
    calls++;
    if (calls === 2) throw new Error("quota");
  });
  // Batch 1 (1 call) succeeds; batch 2 (2 calls) has a failure: nothing more is tried.
  assert.equal(calls, 3);
  assert.equal(res.done, 2);
  assert.equal(res.error?.message, "quota");
});
