import { test } from "node:test";
import assert from "node:assert/strict";
import { daemonPodFor, nodeShouldRunDaemonPod, planDaemonSet, REVISION_HASH_LABEL, targetNodeOf } from "./_daemonset-plan.ts";
import type { DaemonSet, Node, Pod } from "./_types.ts";

const ds = (spec: Partial<DaemonSet["spec"]> = {}): DaemonSet => ({
  metadata: { name: "agent", namespace: "ns", uid: "u1", generation: 2 },
  spec: { selector: { matchLabels: { app: "agent" } }, template: { metadata: { labels: { app: "agent" } }, spec: { containers: [{ name: "c" }] } }, ...spec },
});
const node = (name: string, o: Partial<Node["spec"]> & { labels?: Record<string, string> } = {}): Node => ({ metadata: { name, labels: o.labels }, spec: { taints: o.taints } });
const readyPod = (name: string, nodeName: string, hash: string, ready = true): Pod => ({
  metadata: { name, labels: { app: "agent", [REVISION_HASH_LABEL]: hash }, creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { nodeName },
  status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: "2026-01-01T00:00:00Z" }] },
});

test("eligibility: nodeSelector, required node affinity, taints against the added tolerations", () => {
  assert.deepEqual(nodeShouldRunDaemonPod(ds(), node("a")), { shouldRun: true, shouldContinueRunning: true });
  const sel = ds({ template: { spec: { nodeSelector: { disk: "ssd" } } } });
  assert.equal(nodeShouldRunDaemonPod(sel, node("a")).shouldRun, false);
  assert.equal(nodeShouldRunDaemonPod(sel, node("a", { labels: { disk: "ssd" } })).shouldRun, true);
  const aff = ds({ template: { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["z1"] }] }] } } } } } });
  assert.equal(nodeShouldRunDaemonPod(aff, node("a", { labels: { zone: "z1" } })).shouldRun, false);
  assert.equal(nodeShouldRunDaemonPod(aff, node("a", { labels: { zone: "z2" } })).shouldRun, true);
  // Kubernetes' own taints are tolerated by every daemon pod.
  assert.equal(nodeShouldRunDaemonPod(ds(), node("a", { taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }, { key: "node.kubernetes.io/not-ready", effect: "NoExecute" }] })).shouldRun, true);
  // A foreign NoSchedule taint keeps new pods off, lets running ones stay; NoExecute neither.
  assert.deepEqual(nodeShouldRunDaemonPod(ds(), node("a", { taints: [{ key: "gpu", effect: "NoSchedule" }] })), { shouldRun: false, shouldContinueRunning: true });
  assert.deepEqual(nodeShouldRunDaemonPod(ds(), node("a", { taints: [{ key: "gpu", effect: "NoExecute" }] })), { shouldRun: false, shouldContinueRunning: false });
  const tol = ds({ template: { spec: { tolerations: [{ key: "gpu", operator: "Exists" }] } } });
  assert.equal(nodeShouldRunDaemonPod(tol, node("a", { taints: [{ key: "gpu", effect: "NoExecute" }] })).shouldRun, true);
});

test("the pod for a node is pinned by matchFields, carries the revision hash and the tolerations", () => {
  const pod = daemonPodFor(ds({ template: { metadata: { labels: { app: "agent" } }, spec: { hostNetwork: true } } }), "n7", "h1");
  assert.equal(targetNodeOf(pod), "n7");
  assert.equal(pod.metadata.labels?.[REVISION_HASH_LABEL], "h1");
  assert.equal(pod.metadata.generateName, "agent-");
  const keys = (pod.spec!.tolerations as { key: string }[]).map((t) => t.key);
  assert.ok(keys.includes("node.kubernetes.io/network-unavailable") && keys.includes("node.kubernetes.io/unreachable"));
  assert.deepEqual(pod.metadata.ownerReferences?.[0]?.kind, "DaemonSet");
});

test("plan: create on nodes without, delete on gone nodes and duplicates, status counts", () => {
  const pods = [readyPod("p-a", "a", "h"), readyPod("p-gone", "gone", "h"), readyPod("p-b1", "b", "h"), { ...readyPod("p-b2", "b", "h"), metadata: { ...readyPod("p-b2", "b", "h").metadata, creationTimestamp: "2026-01-02T00:00:00Z" } }];
  const plan = planDaemonSet(ds(), [node("a"), node("b"), node("c")], pods, "h", Date.parse("2026-01-03T00:00:00Z"));
  assert.deepEqual(plan.create, ["c"]);
  assert.deepEqual(plan.delete.map((p) => p.metadata.name).sort(), ["p-b2", "p-gone"]);
  assert.deepEqual(plan.status, { currentNumberScheduled: 2, numberMisscheduled: 0, desiredNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberUnavailable: 1, observedGeneration: 2 });
});

test("rolling update: old unavailable pods go at once, available ones within maxUnavailable; OnDelete leaves them", () => {
  const nodes = ["a", "b", "c", "d"].map((n) => node(n));
  const now = Date.parse("2026-01-03T00:00:00Z");
  const old = nodes.map((n) => readyPod(`p-${n.metadata.name}`, n.metadata.name!, "old"));
  assert.deepEqual(planDaemonSet(ds(), nodes, old, "new", now).delete.map((p) => p.metadata.name), ["p-a"], "maxUnavailable 1 by default");
  const two = ds({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "50%" } } });
  assert.equal(planDaemonSet(two, nodes, old, "new", now).delete.length, 2);
  // One new pod not yet ready uses the budget: nothing more goes.
  const mid = [readyPod("p-a2", "a", "new", false), ...old.slice(1)];
  assert.deepEqual(planDaemonSet(ds(), nodes, mid, "new", now).delete, []);
  // An old pod that is down anyway is replaced without waiting.
  const down = [readyPod("p-a", "a", "old", false), ...old.slice(1)];
  assert.deepEqual(planDaemonSet(ds(), nodes, down, "new", now).delete.map((p) => p.metadata.name), ["p-a"]);
  assert.deepEqual(planDaemonSet(ds({ updateStrategy: { type: "OnDelete" } }), nodes, old, "new", now).delete, []);
  const status = planDaemonSet(ds(), nodes, mid, "new", now).status;
  assert.equal(status.updatedNumberScheduled, 1);
  assert.equal(status.numberAvailable, 3);
});

test("rolling update with maxSurge: new pods beside old ones up to maxSurge, an old one goes once its successor is available", () => {
  const nodes = ["a", "b", "c", "d"].map((n) => node(n));
  const now = Date.parse("2026-01-03T00:00:00Z");
  const surge = ds({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } } });
  const old = nodes.map((n) => readyPod(`p-${n.metadata.name}`, n.metadata.name!, "old"));
  // Nothing is deleted first: two nodes get a second, new pod.
  let plan = planDaemonSet(surge, nodes, old, "new", now);
  assert.deepEqual(plan.create, ["a", "b"]);
  assert.deepEqual(plan.delete, []);
  // Both surged pods still coming up: no more surge, no deletion; the old pods count in status.
  const later = (p: Pod): Pod => ({ ...p, metadata: { ...p.metadata, creationTimestamp: "2026-01-02T00:00:00Z" } });
  const comingUp = [...old, later(readyPod("n-a", "a", "new", false)), later(readyPod("n-b", "b", "new", false))];
  plan = planDaemonSet(surge, nodes, comingUp, "new", now);
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.delete, []);
  assert.equal(plan.status.numberAvailable, 4);
  assert.equal(plan.status.updatedNumberScheduled, 0);
  // a's new pod is available: a's old pod goes, and one more node (c) may surge.
  const oneUp = [...old, later(readyPod("n-a", "a", "new")), later(readyPod("n-b", "b", "new", false))];
  plan = planDaemonSet(surge, nodes, oneUp, "new", now);
  assert.deepEqual(plan.delete.map((p) => p.metadata.name), ["p-a"]);
  assert.deepEqual(plan.create, ["c"]);
  // An old pod that is not available is replaced at once, beyond maxSurge.
  const downOld = [readyPod("p-a", "a", "old"), readyPod("p-b", "b", "old"), readyPod("p-c", "c", "old", false), readyPod("p-d", "d", "old")];
  assert.deepEqual(planDaemonSet(ds({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }), nodes, downOld, "new", now).create, ["c", "a"]);
  // A percentage counts at least one pod.
  assert.deepEqual(planDaemonSet(ds({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "10%", maxUnavailable: 0 } } }), nodes, old, "new", now).create, ["a"]);
});
