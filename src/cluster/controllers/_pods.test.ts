import { test } from "node:test";
import assert from "node:assert/strict";
import { compareForDeletion, isPodActive, isPodAvailable, podsToDelete } from "./_pods.ts";
import type { Pod } from "./_types.ts";

const NOW = Date.UTC(2026, 0, 1, 12);
const iso = (ms: number) => new Date(ms).toISOString();

function pod(name: string, o: { node?: string; phase?: string; readySince?: number; created?: number; restarts?: number; cost?: number; uid?: string; deleting?: boolean } = {}): Pod {
  return {
    metadata: {
      name,
      namespace: "ns",
      uid: o.uid ?? name,
      creationTimestamp: iso(o.created ?? NOW - 3600_000),
      ...(o.cost !== undefined ? { annotations: { "controller.kubernetes.io/pod-deletion-cost": String(o.cost) } } : {}),
      ...(o.deleting ? { deletionTimestamp: iso(NOW) } : {}),
    },
    spec: { nodeName: o.node },
    status: {
      phase: o.phase ?? "Running",
      conditions: o.readySince !== undefined ? [{ type: "Ready", status: "True", lastTransitionTime: iso(o.readySince) }] : [{ type: "Ready", status: "False" }],
      containerStatuses: [{ restartCount: o.restarts ?? 0 }],
    },
  };
}

const order = (pods: Pod[]) => [...pods].sort((a, b) => compareForDeletion(a, b, () => 0, NOW)).map((p) => p.metadata.name);

test("active pods are neither finished nor being deleted", () => {
  assert.equal(isPodActive(pod("a")), true);
  assert.equal(isPodActive(pod("a", { phase: "Succeeded" })), false);
  assert.equal(isPodActive(pod("a", { phase: "Failed" })), false);
  assert.equal(isPodActive(pod("a", { deleting: true })), false);
});

test("a pod is available once ready for minReadySeconds", () => {
  const p = pod("a", { readySince: NOW - 5_000 });
  assert.equal(isPodAvailable(p, 0, NOW), true);
  assert.equal(isPodAvailable(p, 5, NOW), true);
  assert.equal(isPodAvailable(p, 6, NOW), false);
  assert.equal(isPodAvailable(pod("b"), 0, NOW), false, "not ready is never available");
});

test("deletion order: unscheduled, then pending, then not ready, then by cost", () => {
  const ready = { node: "n1", readySince: NOW - 3600_000 };
  assert.deepEqual(order([pod("ready", ready), pod("unscheduled", { phase: "Pending" }), pod("pending", { node: "n1", phase: "Pending" }), pod("unready", { node: "n1" })]), ["unscheduled", "pending", "unready", "ready"]);
  assert.deepEqual(order([pod("expensive", { ...ready, cost: 100 }), pod("cheap", { ...ready, cost: -5 }), pod("plain", ready)]), ["cheap", "plain", "expensive"]);
});

test("deletion order: ready for less time first (log scale), then more restarts, then newer", () => {
  // Ready for 1 minute vs 2 hours: far apart on a log scale.
  assert.deepEqual(order([pod("old", { node: "n", readySince: NOW - 7200_000 }), pod("young", { node: "n", readySince: NOW - 60_000 })]), ["young", "old"]);
  // Same readiness bucket: restarts decide.
  const same = NOW - 60_000;
  assert.deepEqual(order([pod("calm", { node: "n", readySince: same }), pod("crashy", { node: "n", readySince: same, restarts: 4 })]), ["crashy", "calm"]);
  // Not ready, same restarts: the newer pod goes first.
  assert.deepEqual(order([pod("older", { node: "n", created: NOW - 7200_000 }), pod("newer", { node: "n", created: NOW - 10_000 })]), ["newer", "older"]);
});

test("pods doubled up on a node go first", () => {
  const a = pod("alone", { node: "n1", readySince: NOW - 60_000 });
  const b = pod("crowded", { node: "n2", readySince: NOW - 60_000 });
  const sibling = pod("sibling", { node: "n2", readySince: NOW - 60_000 });
  assert.deepEqual(podsToDelete([a, b], [a, b, sibling], 1, NOW).map((p) => p.metadata.name), ["crowded"]);
  // Without the sibling, the uid breaks the tie in the same age bucket.
  assert.deepEqual(podsToDelete([a, b], [a, b], 1, NOW).map((p) => p.metadata.name), ["alone"]);
  assert.deepEqual(podsToDelete([a, b], [], 0, NOW), []);
});
