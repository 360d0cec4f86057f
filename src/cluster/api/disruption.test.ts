import { test } from "node:test";
import assert from "node:assert/strict";
import { computeDisruptionStatus, DISRUPTED_POD_TIMEOUT_MS, pdbSelects } from "./disruption.ts";
import type { KubeObject } from "./objects.ts";

const now = Date.parse("2026-12-04T12:00:00Z");
const pod = (name: string, ready = true, extra: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  metadata: { name, labels: { app: "web" }, ...extra },
  status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});
const pdb = (spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject => ({
  metadata: { name: "web", generation: 2 },
  spec: { selector: { matchLabels: { app: "web" } }, ...spec },
  ...(status ? { status } : {}),
});
const summary = (s: ReturnType<typeof computeDisruptionStatus>) => [s.expectedPods, s.desiredHealthy, s.currentHealthy, s.disruptionsAllowed];

test("minAvailable as a count expects the selected pods; unready and terminating pods are not healthy", () => {
  const pods = [pod("a"), pod("b"), pod("c", false), pod("d", true, { deletionTimestamp: "2026-12-04T11:59:00Z" })];
  const s = computeDisruptionStatus(pdb({ minAvailable: 1 }), pods, 0, now);
  assert.deepEqual(summary(s), [4, 1, 2, 1]);
  assert.equal(s.observedGeneration, 2);
  assert.equal(s.conditions[0]!.status, "True");
});

test("percentages and maxUnavailable scale with the controllers' replicas, rounding up", () => {
  const pods = [pod("a"), pod("b"), pod("c")];
  assert.deepEqual(summary(computeDisruptionStatus(pdb({ minAvailable: "50%" }), pods, 3, now)), [3, 2, 3, 1]);
  assert.deepEqual(summary(computeDisruptionStatus(pdb({ maxUnavailable: "34%" }), pods, 3, now)), [3, 1, 3, 2]);
  assert.deepEqual(summary(computeDisruptionStatus(pdb({ maxUnavailable: 1 }), pods, 5, now)), [5, 4, 3, 0]);
  // Nothing expected (no controllers): no disruption allowed, as upstream.
  assert.deepEqual(summary(computeDisruptionStatus(pdb({ maxUnavailable: 1 }), pods, 0, now)), [0, 0, 3, 0]);
});

test("a recently disrupted pod counts as unhealthy for two minutes, and is forgotten once gone", () => {
  const recent = new Date(now - 1000).toISOString();
  const old = new Date(now - DISRUPTED_POD_TIMEOUT_MS - 1000).toISOString();
  const s = computeDisruptionStatus(pdb({ minAvailable: 1 }, { disruptedPods: { a: recent, b: old, gone: recent } }), [pod("a"), pod("b")], 0, now);
  assert.deepEqual(summary(s), [2, 1, 1, 0]);
  assert.deepEqual(s.disruptedPods, { a: recent });
  assert.equal(s.conditions[0]!.reason, "InsufficientPods");
});

test("an empty selector selects every pod of the namespace, a missing one none", () => {
  assert.ok(pdbSelects(pdb({}), pod("a")));
  assert.ok(pdbSelects({ metadata: { name: "all" }, spec: { selector: {} } }, pod("a")));
  assert.equal(pdbSelects({ metadata: { name: "none" }, spec: {} }, pod("a")), false);
  assert.equal(pdbSelects(pdb({ selector: { matchLabels: { app: "db" } } }), pod("a")), false);
});
