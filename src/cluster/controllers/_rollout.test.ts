import { test } from "node:test";
import assert from "node:assert/strict";
import { maxSurge, maxUnavailable, resolveFenceposts, scaledValue, setCondition, setNewReplicaSetAnnotations } from "./_rollout.ts";
import type { Deployment, DeploymentStatus, ReplicaSet } from "./_types.ts";

test("fenceposts: surge rounds up, unavailable down, both 0 gives unavailable 1", () => {
  assert.deepEqual(resolveFenceposts("25%", "25%", 10), { surge: 3, unavailable: 2 });
  assert.deepEqual(resolveFenceposts("25%", "25%", 1), { surge: 1, unavailable: 0 });
  assert.deepEqual(resolveFenceposts(0, 0, 5), { surge: 0, unavailable: 1 });
  assert.deepEqual(resolveFenceposts("10%", "10%", 3), { surge: 1, unavailable: 0 });
  assert.deepEqual(resolveFenceposts(2, "50%", 5), { surge: 2, unavailable: 2 });
  assert.equal(scaledValue("7", 10, true), 7);
  assert.throws(() => scaledValue("lots", 10, true), /not a percentage: "lots"/);
});

test("maxUnavailable is capped at replicas and 0 for Recreate or no replicas", () => {
  const d = (spec: Partial<Deployment["spec"]>): Deployment => ({ metadata: { name: "d" }, spec: { replicas: 2, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } }, ...spec } });
  assert.equal(maxUnavailable(d({})), 2);
  assert.equal(maxUnavailable(d({ replicas: 0 })), 0);
  assert.equal(maxUnavailable(d({ strategy: { type: "Recreate" } })), 0);
  assert.equal(maxSurge(d({ strategy: { type: "Recreate" } })), 0);
});

test("a condition with the same status and reason is left alone; a new reason keeps the transition time", () => {
  const s: DeploymentStatus = {};
  setCondition(s, { type: "Progressing", status: "True", reason: "A", message: "m1", lastTransitionTime: "t1", lastUpdateTime: "t1" });
  setCondition(s, { type: "Progressing", status: "True", reason: "A", message: "m2", lastTransitionTime: "t2", lastUpdateTime: "t2" });
  assert.equal(s.conditions![0]!.message, "m1");
  setCondition(s, { type: "Progressing", status: "True", reason: "B", message: "m3", lastTransitionTime: "t3", lastUpdateTime: "t3" });
  assert.deepEqual(s.conditions, [{ type: "Progressing", status: "True", reason: "B", message: "m3", lastTransitionTime: "t1", lastUpdateTime: "t3" }]);
  setCondition(s, { type: "Progressing", status: "False", reason: "C", message: "m4", lastTransitionTime: "t4", lastUpdateTime: "t4" });
  assert.equal(s.conditions![0]!.lastTransitionTime, "t4");
});

test("revision-history keeps the revisions a set had, within 2000 characters", () => {
  const d: Deployment = { metadata: { name: "d" }, spec: {} };
  const rs: ReplicaSet = { metadata: { name: "rs", annotations: { "deployment.kubernetes.io/revision": "1" } }, spec: {} };
  setNewReplicaSetAnnotations(d, rs, 3, true);
  setNewReplicaSetAnnotations(d, rs, 5, true);
  assert.equal(rs.metadata.annotations!["deployment.kubernetes.io/revision"], "5");
  assert.equal(rs.metadata.annotations!["deployment.kubernetes.io/revision-history"], "1,3");
  assert.equal(setNewReplicaSetAnnotations(d, rs, 4, true), false, "never moves back");
  rs.metadata.annotations!["deployment.kubernetes.io/revision-history"] = Array.from({ length: 500 }, (_, i) => String(1000 + i)).join(",");
  setNewReplicaSetAnnotations(d, rs, 6, true);
  const history = rs.metadata.annotations!["deployment.kubernetes.io/revision-history"]!;
  assert.ok(history.length <= 2000);
  assert.ok(history.endsWith(",5"), "the newest is appended, the oldest dropped");
});
