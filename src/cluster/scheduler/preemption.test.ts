import { test } from "node:test";
import assert from "node:assert/strict";
import { node, pod, snapshotOf } from "./_fixtures.ts";
import { fitErrorMessage } from "./fit-error.ts";
import type { Snapshot } from "./framework.ts";
import { PodInfo } from "./node-info.ts";
import { preempt, type DisruptionBudget } from "./preemption.ts";
import { schedule } from "./schedule.ts";
import type { Pod } from "./_types.ts";

/** Schedules p; when it fits nowhere, asks preemption: "node: victims" or the full FailedScheduling message. */
function tryPreempt(p: Pod, snap: Snapshot, budgets: DisruptionBudget[] = []): string {
  const info = new PodInfo(p);
  const r = schedule(info, snap);
  if (r.node !== undefined) return `fits on ${r.node}`;
  const pre = preempt(info, snap, r.diagnosis, { budgets });
  if (pre.node !== undefined) return `${pre.node}: ${pre.victims.map((v) => v.pod.metadata.name).sort().join(",")}`;
  return `${fitErrorMessage(r.diagnosis)} ${pre.message}`;
}

test("a high-priority pod evicts the fewest lower-priority pods that make room", () => {
  const snap = snapshotOf(
    [node("n1", { cpu: "2" }), node("n2", { cpu: "2" })],
    [pod("a", { cpu: "1", priority: 10, nodeName: "n1" }), pod("b", { cpu: "1", priority: 10, nodeName: "n1" }), pod("c", { cpu: "1500m", priority: 5, nodeName: "n2" })],
  );
  // n1 needs one of a/b gone; n2 needs c gone (lower highest-priority victim): n2 wins.
  assert.equal(tryPreempt(pod("p", { cpu: "1", priority: 100 }), snap), "n2: c");
  // Two cpus: n1 would lose both a and b (priority 10), n2 only c (priority 5).
  assert.equal(tryPreempt(pod("p", { cpu: "2", priority: 100 }), snap), "n2: c");
});

test("only as many victims as needed: the most important are given back first", () => {
  const snap = snapshotOf(
    [node("n1", { cpu: "3" })],
    [pod("low", { cpu: "1", priority: 1, nodeName: "n1" }), pod("mid", { cpu: "1", priority: 5, nodeName: "n1" }), pod("high", { cpu: "1", priority: 9, nodeName: "n1" })],
  );
  assert.equal(tryPreempt(pod("p", { cpu: "1", priority: 100 }), snap), "n1: low");
  assert.equal(tryPreempt(pod("p", { cpu: "2", priority: 100 }), snap), "n1: low,mid");
  assert.equal(tryPreempt(pod("p", { cpu: "2", priority: 6 }), snap), "n1: low,mid");
  assert.equal(
    tryPreempt(pod("p", { cpu: "3", priority: 6 }), snap),
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu.",
  );
});

test("nothing to preempt: the message says why per node, in Kubernetes' words", () => {
  const snap = snapshotOf(
    [node("n1", { taints: [{ key: "k", value: "v", effect: "NoSchedule" }] }), node("n2", { pods: 1 }), node("n3", { pods: 1 })],
    [pod("a", { priority: 100, nodeName: "n2" }), pod("b", { priority: 100, nodeName: "n3" })],
  );
  assert.equal(
    tryPreempt(pod("p", { priority: 100 }), snap),
    "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Too many pods. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
  );
  assert.equal(tryPreempt(pod("p", { priority: 1000, preemptionPolicy: "Never" }), snap), "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Too many pods. preemption: not eligible due to preemptionPolicy=Never.");
  assert.equal(tryPreempt(pod("p", { priority: 1000 }), snap), "n2: a");
});

test("victims a budget protects are spared when another node needs none of them", () => {
  const snap = snapshotOf(
    [node("n1", { cpu: "1" }), node("n2", { cpu: "1" })],
    [pod("guarded", { cpu: "1", priority: 1, labels: { app: "db" }, nodeName: "n1" }), pod("free", { cpu: "1", priority: 5, nodeName: "n2" })],
  );
  assert.equal(tryPreempt(pod("p", { cpu: "1", priority: 100 }), snap), "n1: guarded");
  const budget = { namespace: "default", selector: { matchLabels: { app: "db" } }, disruptionsAllowed: 0 };
  assert.equal(tryPreempt(pod("p", { cpu: "1", priority: 100 }), snap, [budget]), "n2: free");
});

test("ties go to the node whose most important victims started last", () => {
  const snap = snapshotOf(
    [node("n1", { cpu: "1" }), node("n2", { cpu: "1" })],
    [pod("old", { cpu: "1", priority: 1, nodeName: "n1", start: "2025-01-01T00:00:00Z" }), pod("new", { cpu: "1", priority: 1, nodeName: "n2", start: "2025-06-01T00:00:00Z" })],
  );
  assert.equal(tryPreempt(pod("p", { cpu: "1", priority: 100 }), snap), "n2: new");
});

test("a pod nominated to a node where its victims are still terminating waits instead of evicting more", () => {
  const terminating: Pod = { ...pod("v", { cpu: "1", priority: 1, nodeName: "n1" }), metadata: { ...pod("v").metadata, deletionTimestamp: "2025-01-01T00:00:00Z" } };
  const snap = snapshotOf([node("n1", { cpu: "1" }), node("n2", { cpu: "1" })], [terminating, pod("w", { cpu: "1", priority: 1, nodeName: "n2" })]);
  const p: Pod = { ...pod("p", { cpu: "1", priority: 100 }), status: { nominatedNodeName: "n1" } };
  assert.match(tryPreempt(p, snap), /preemption: not eligible due to a terminating pod on the nominated node\.$/);
});

test("preemption checks the whole filter chain with the victims gone (anti-affinity to a victim)", () => {
  const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: "batch" } }, topologyKey: "kubernetes.io/hostname" }] } };
  const snap = snapshotOf([node("n1"), node("n2")], [pod("b1", { priority: 1, labels: { app: "batch" }, nodeName: "n1" }), pod("b2", { priority: 200, labels: { app: "batch" }, nodeName: "n2" })]);
  assert.equal(tryPreempt(pod("p", { priority: 100, affinity: anti }), snap), "n1: b1");
});
