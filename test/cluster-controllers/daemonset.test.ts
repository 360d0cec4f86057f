// The DaemonSet controller against a real API server (SQLite) on the in-process transport,
// time on a fake clock: a pod per eligible node, pinned to it; a node that joins gets one,
// a removed node's pod goes; status as kubectl rollout status reads it; a rolling update
// replaces pods one node at a time as the test makes new ones ready.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DaemonSetController } from "../../src/cluster/controllers/index.ts";
import type { KubeObject, ResourceRef } from "../../src/cluster/client/index.ts";
import { NAMESPACES, NODES, PODS, startHarness, type Harness } from "./_harness.ts";

const DAEMONSETS: ResourceRef = { group: "apps", version: "v1", resource: "daemonsets", kind: "DaemonSet", namespaced: true };
const template = { metadata: { labels: { app: "agent" } }, spec: { containers: [{ name: "c", image: "busybox" }] } };
const selector = { matchLabels: { app: "agent" } };

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new DaemonSetController(ctx)]);
});
after(async () => {
  await h.stop();
});

const addNode = (name: string, o: { labels?: Record<string, string>; taints?: unknown[] } = {}) => h.client.resource(NODES).create(undefined, { metadata: { name, labels: o.labels }, spec: { taints: o.taints } });
const target = (p: KubeObject) => ((p.spec as { affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: { matchFields?: { values?: string[] }[] }[] } } } }).affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields?.[0]?.values ?? [])[0];
const podsIn = async (ns: string) => (await h.list(PODS, ns)).filter((p) => !p.metadata.deletionTimestamp);
const dsStatus = async (ns: string, name: string) => (await h.get(DAEMONSETS, ns, name))!.status as Record<string, number>;
/** Binds and readies every pod as a kubelet would, on the node it is pinned to. */
async function runAll(ns: string) {
  for (const p of await podsIn(ns)) if ((p.status as { phase?: string })?.phase !== "Running") await h.setPodRunning(p, { node: target(p) });
  await h.runToQuiet();
}

test("a pod on each eligible node, a joining node gets one, a removed node's pod goes, rollout status fields", async () => {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name: "ds1" } });
  await addNode("n1");
  await addNode("n2", { labels: { role: "db" } });
  await addNode("n3", { taints: [{ key: "dedicated", value: "x", effect: "NoSchedule" }] });
  await addNode("n4", { taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }] });
  await h.client.resource(DAEMONSETS).create("ds1", { metadata: { name: "agent" }, spec: { selector, template } });
  await h.runToQuiet();
  let pods = await podsIn("ds1");
  assert.deepEqual(pods.map(target).sort(), ["n1", "n2", "n4"], "the foreign taint keeps n3 out; the cordon taint is tolerated");
  for (const p of pods) {
    assert.match(p.metadata.name!, /^agent-/);
    assert.ok(p.metadata.labels?.["controller-revision-hash"]);
  }
  let s = await dsStatus("ds1", "agent");
  assert.equal(s.desiredNumberScheduled, 3);
  assert.equal(s.currentNumberScheduled, 3);
  assert.equal(s.numberReady, 0);
  await runAll("ds1");
  s = await dsStatus("ds1", "agent");
  assert.deepEqual([s.numberReady, s.numberAvailable, s.updatedNumberScheduled, s.observedGeneration], [3, 3, 3, 1]);

  await addNode("n5");
  await h.runToQuiet();
  pods = await podsIn("ds1");
  assert.deepEqual(pods.map(target).sort(), ["n1", "n2", "n4", "n5"], "the joining node got its pod");
  await h.client.resource(NODES).delete(undefined, "n2");
  await h.runToQuiet();
  pods = await podsIn("ds1");
  assert.deepEqual(pods.map(target).sort(), ["n1", "n4", "n5"], "the removed node's pod went");
  assert.equal((await dsStatus("ds1", "agent")).desiredNumberScheduled, 3);

  // A node that stops matching the selector loses its pod.
  await h.client.resource(DAEMONSETS).patch("ds1", "agent", "merge", { spec: { template: { spec: { nodeSelector: { keep: "yes" } } } } });
  await h.client.resource(NODES).patch(undefined, "n1", "merge", { metadata: { labels: { keep: "yes" } } });
  await h.runToQuiet();
  pods = await podsIn("ds1");
  assert.deepEqual(pods.map(target), ["n1"]);
  assert.equal((await dsStatus("ds1", "agent")).desiredNumberScheduled, 1);
  for (const n of ["n1", "n3", "n4", "n5"]) await h.client.resource(NODES).delete(undefined, n);
  await h.runToQuiet();
});

test("a rolling update replaces one node's pod at a time, waiting for the new one to be ready", async () => {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name: "ds2" } });
  for (const n of ["r1", "r2", "r3"]) await addNode(n);
  await h.client.resource(DAEMONSETS).create("ds2", { metadata: { name: "agent" }, spec: { selector, template } });
  await h.runToQuiet();
  await runAll("ds2");
  const before = new Set((await podsIn("ds2")).map((p) => p.metadata.uid));
  const oldHash = (await podsIn("ds2"))[0]!.metadata.labels!["controller-revision-hash"];
  await h.client.resource(DAEMONSETS).patch("ds2", "agent", "merge", { spec: { template: { spec: { containers: [{ name: "c", image: "busybox:2" }] } } } });
  await h.runToQuiet();
  for (let step = 1; step <= 3; step++) {
    const pods = await podsIn("ds2");
    assert.equal(pods.length, 3, "one pod per node all along (one of them new and not ready)");
    const fresh = pods.filter((p) => !before.has(p.metadata.uid));
    assert.equal(fresh.length, step, `step ${step}: only maxUnavailable=1 replaced`);
    assert.ok(fresh.every((p) => p.metadata.labels!["controller-revision-hash"] !== oldHash));
    await runAll("ds2");
  }
  const s = await dsStatus("ds2", "agent");
  assert.deepEqual([s.updatedNumberScheduled, s.numberAvailable, s.desiredNumberScheduled, s.observedGeneration], [3, 3, 3, 2]);
  for (const n of ["r1", "r2", "r3"]) await h.client.resource(NODES).delete(undefined, n);
});
