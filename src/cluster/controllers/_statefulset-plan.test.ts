import { test } from "node:test";
import assert from "node:assert/strict";
import { ordinalOf, planStatefulSet, REVISION_LABEL } from "./_statefulset-plan.ts";
import type { Pod, StatefulSet } from "./_types.ts";

const sts = (spec: Partial<StatefulSet["spec"]> = {}): StatefulSet => ({ metadata: { name: "db", namespace: "ns", uid: "u", generation: 1 }, spec: { replicas: 3, template: { spec: {} }, ...spec } });
const pod = (name: string, o: { ready?: boolean; rev?: string; deleting?: boolean; phase?: string } = {}): Pod => ({
  metadata: { name, labels: { [REVISION_LABEL]: o.rev ?? "r1" }, deletionTimestamp: o.deleting ? "2026-01-01T00:00:00Z" : undefined },
  status: { phase: o.phase ?? "Running", conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
});
const steps = (p: ReturnType<typeof planStatefulSet>) => p.actions.map((a) => (a.type === "create" ? `+${a.ordinal}` : `-${a.pod.metadata.name}`));

test("ordinals come only from names <set>-<n>", () => {
  assert.equal(ordinalOf(sts(), pod("db-12")), 12);
  assert.equal(ordinalOf(sts(), pod("db-01")), undefined);
  assert.equal(ordinalOf(sts(), pod("dbx-1")), undefined);
});

test("OrderedReady waits for each pod; Parallel does not; claims missing are made with the pod", () => {
  const s = sts({ volumeClaimTemplates: [{ metadata: { name: "data" } }] });
  assert.deepEqual(steps(planStatefulSet(s, [], new Set(), "r1", 0)), ["+0"]);
  assert.deepEqual(steps(planStatefulSet(s, [pod("db-0", { ready: false })], new Set(), "r1", 0)), []);
  const p = planStatefulSet(s, [pod("db-0")], new Set(["data-db-0"]), "r1", 0);
  assert.deepEqual(steps(p), ["+1"]);
  const first = p.actions[0];
  assert.deepEqual(first?.type === "create" && first.claims.map((c) => c.metadata.name), ["data-db-1"]);
  assert.deepEqual(steps(planStatefulSet(sts({ podManagementPolicy: "Parallel" }), [pod("db-1", { ready: false })], new Set(), "r1", 0)), ["+0", "+2"]);
});

test("scale down from the highest ordinal, one at a time, waiting for termination", () => {
  const pods = [pod("db-0"), pod("db-1"), pod("db-2"), pod("db-3")];
  assert.deepEqual(steps(planStatefulSet(sts({ replicas: 2 }), pods, new Set(), "r1", 0)), ["-db-3"]);
  assert.deepEqual(steps(planStatefulSet(sts({ replicas: 2 }), [...pods.slice(0, 3), pod("db-3", { deleting: true })], new Set(), "r1", 0)), []);
  assert.deepEqual(steps(planStatefulSet(sts({ replicas: 2, podManagementPolicy: "Parallel" }), pods, new Set(), "r1", 0)), ["-db-3", "-db-2"]);
});

test("rolling update: highest old pod at or above the partition; status revisions", () => {
  const old = [pod("db-0"), pod("db-1"), pod("db-2")];
  const s = sts({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } });
  s.status = { replicas: 3, currentRevision: "r1" };
  let p = planStatefulSet(s, old, new Set(), "r2", 0);
  assert.deepEqual(steps(p), ["-db-2"]);
  assert.deepEqual([p.status.currentRevision, p.status.updateRevision, p.status.currentReplicas, p.status.updatedReplicas], ["r1", "r2", 3, 0]);
  p = planStatefulSet(s, [pod("db-0"), pod("db-1"), pod("db-2", { rev: "r2" })], new Set(), "r2", 0);
  assert.deepEqual(steps(p), ["-db-1"]);
  assert.deepEqual(steps(planStatefulSet(s, [pod("db-0"), pod("db-1", { rev: "r2" }), pod("db-2", { rev: "r2" })], new Set(), "r2", 0)), [], "db-0 is below the partition");
  assert.deepEqual(steps(planStatefulSet(sts({ updateStrategy: { type: "OnDelete" } }), old, new Set(), "r2", 0)), []);
  // A missing pod below the partition is made from the current revision, above it from the update one.
  const below = planStatefulSet(s, [pod("db-1"), pod("db-2")], new Set(), "r2", 0).actions[0];
  assert.deepEqual(below?.type === "create" && [below.ordinal, below.revision], [0, "r1"]);
  const above = planStatefulSet(s, [pod("db-0"), pod("db-1")], new Set(), "r2", 0).actions[0];
  assert.deepEqual(above?.type === "create" && [above.ordinal, above.revision], [2, "r2"]);
  // All updated and ready: the update revision becomes current.
  const done = planStatefulSet(sts(), [pod("db-0", { rev: "r2" }), pod("db-1", { rev: "r2" }), pod("db-2", { rev: "r2" })], new Set(), "r2", 0);
  assert.equal(done.status.currentRevision, "r2");
  assert.equal(done.status.currentReplicas, 3);
});
