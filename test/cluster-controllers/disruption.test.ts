// The disruption controller against a real API server: a PodDisruptionBudget's status follows
// the pods it selects (healthy count, disruptions allowed, the DisruptionAllowed condition)
// without any eviction, and an eviction it does not allow is still refused with 429.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DisruptionController } from "../../src/cluster/controllers/index.ts";
import { isTooManyRequests, type ResourceRef } from "../../src/cluster/client/index.ts";
import { PODS, startHarness, type Harness } from "./_harness.ts";

const PDBS: ResourceRef = { group: "policy", version: "v1", resource: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true };

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new DisruptionController(ctx)]);
});
after(async () => {
  await h.stop();
});

const statusOf = async (name: string) => (await h.get(PDBS, "default", name))!.status as Record<string, unknown> & { conditions: { type: string; status: string; reason: string }[] };

test("a budget's status follows its pods' readiness; the eviction subresource still refuses what it does not allow", async () => {
  await h.client.resource(PDBS).create("default", { metadata: { name: "web" }, spec: { minAvailable: 2, selector: { matchLabels: { app: "web" } } } });
  const pods = [];
  for (const name of ["w1", "w2", "w3"]) pods.push(await h.client.resource(PODS).create("default", { metadata: { name, labels: { app: "web" } }, spec: { containers: [{ name: "c", image: "busybox" }] } }));
  await h.client.resource(PODS).create("default", { metadata: { name: "other", labels: { app: "db" } }, spec: { containers: [{ name: "c", image: "busybox" }] } });
  await h.setPodRunning(pods[0]!);
  await h.setPodRunning(pods[1]!);
  await h.runToQuiet();
  let s = await statusOf("web");
  assert.equal(s.expectedPods, 3);
  assert.equal(s.desiredHealthy, 2);
  assert.equal(s.currentHealthy, 2);
  assert.equal(s.disruptionsAllowed, 0);
  assert.equal(s.observedGeneration, 1);
  assert.deepEqual(s.conditions.map((c) => [c.type, c.status, c.reason]), [["DisruptionAllowed", "False", "InsufficientPods"]]);
  await assert.rejects(
    h.client.resource(PODS).createSubresource("default", "w1", "eviction", { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "w1", namespace: "default" } }),
    (err: unknown) => isTooManyRequests(err),
  );

  await h.setPodRunning(pods[2]!);
  await h.runToQuiet();
  s = await statusOf("web");
  assert.equal(s.currentHealthy, 3);
  assert.equal(s.disruptionsAllowed, 1);
  assert.deepEqual(s.conditions.map((c) => [c.type, c.status, c.reason]), [["DisruptionAllowed", "True", "SufficientPods"]]);

  await h.client.resource(PODS).delete("default", "w3", { gracePeriodSeconds: 0 });
  await h.runToQuiet();
  assert.equal((await statusOf("web")).disruptionsAllowed, 0, "a pod gone: none allowed again");
});
