// The StatefulSet controller against a real API server (SQLite) on the in-process transport,
// time on a fake clock, readiness set by the test: OrderedReady brings pods up one by one in
// ordinal order with their claims, scales down from the top, claims outlive pods; Parallel
// makes all at once; a rolling update with a partition replaces only ordinals at or above it,
// highest first; status as kubectl rollout status reads it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { StatefulSetController } from "../../src/cluster/controllers/index.ts";
import type { KubeObject, ResourceRef } from "../../src/cluster/client/index.ts";
import { NAMESPACES, PODS, startHarness, type Harness } from "./_harness.ts";

const STATEFULSETS: ResourceRef = { group: "apps", version: "v1", resource: "statefulsets", kind: "StatefulSet", namespaced: true };
const PVCS: ResourceRef = { group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true };
const template = { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "c", image: "postgres", volumeMounts: [{ name: "data", mountPath: "/data" }] }] } };
const selector = { matchLabels: { app: "db" } };
const claimTemplate = { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } };

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new StatefulSetController(ctx)]);
});
after(async () => {
  await h.stop();
});

const names = async (ns: string) => (await h.list(PODS, ns)).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name!).sort();
const stsStatus = async (ns: string, name: string) => (await h.get(STATEFULSETS, ns, name))!.status as Record<string, number | string>;
const ready = async (ns: string, name: string) => {
  await h.setPodRunning((await h.get(PODS, ns, name))!);
  await h.runToQuiet();
};

test("OrderedReady: up one at a time in order with claims, down from the top, claims stay", async () => {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name: "ss1" } });
  await h.client.resource(STATEFULSETS).create("ss1", { metadata: { name: "db" }, spec: { replicas: 3, serviceName: "db", selector, template, volumeClaimTemplates: [claimTemplate] } });
  await h.runToQuiet();
  assert.deepEqual(await names("ss1"), ["db-0"], "only the first until it is ready");
  const p0 = (await h.get(PODS, "ss1", "db-0"))!;
  const spec = p0.spec as { hostname?: string; subdomain?: string; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
  assert.equal(spec.hostname, "db-0");
  assert.equal(spec.subdomain, "db");
  // (ServiceAccount admission adds the kube-api-access-XXXXX token volume too.)
  assert.deepEqual(spec.volumes?.filter((v) => !v.name.startsWith("kube-api-access-")), [{ name: "data", persistentVolumeClaim: { claimName: "data-db-0" } }]);
  assert.equal(p0.metadata.labels?.["statefulset.kubernetes.io/pod-name"], "db-0");
  assert.deepEqual((await h.list(PVCS, "ss1")).map((c) => c.metadata.name), ["data-db-0"]);
  assert.deepEqual((await h.get(PVCS, "ss1", "data-db-0"))?.metadata.labels, { app: "db" });

  await ready("ss1", "db-0");
  assert.deepEqual(await names("ss1"), ["db-0", "db-1"]);
  await h.setPodRunning((await h.get(PODS, "ss1", "db-1"))!, { ready: false });
  await h.runToQuiet();
  assert.deepEqual(await names("ss1"), ["db-0", "db-1"], "running but not ready: db-2 waits");
  await ready("ss1", "db-1");
  await ready("ss1", "db-2");
  assert.deepEqual((await h.list(PVCS, "ss1")).map((c) => c.metadata.name).sort(), ["data-db-0", "data-db-1", "data-db-2"]);
  let s = await stsStatus("ss1", "db");
  assert.equal(s.replicas, 3);
  assert.equal(s.readyReplicas, 3);
  assert.equal(s.updatedReplicas, 3);
  assert.equal(s.currentRevision, s.updateRevision);
  assert.match(String(s.updateRevision), /^db-[bcdfghjklmnpqrstvwxz2456789]+$/);

  await h.client.resource(STATEFULSETS).patch("ss1", "db", "merge", { spec: { replicas: 1 } });
  await h.runToQuiet();
  assert.deepEqual(await names("ss1"), ["db-0"]);
  const deletes = (await h.list({ group: "", version: "v1", resource: "events", kind: "Event", namespaced: true }, "ss1")).filter((e) => e.reason === "SuccessfulDelete").map((e) => String(e.message));
  assert.deepEqual(deletes, ["delete Pod db-2 in StatefulSet db successful", "delete Pod db-1 in StatefulSet db successful"], "highest ordinal first");
  assert.equal((await h.list(PVCS, "ss1")).length, 3, "claims outlive their pods");
  s = await stsStatus("ss1", "db");
  assert.equal(s.replicas, 1);
  assert.equal(s.observedGeneration, 2);
});

test("Parallel makes every pod at once", async () => {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name: "ss2" } });
  await h.client.resource(STATEFULSETS).create("ss2", { metadata: { name: "web" }, spec: { replicas: 3, podManagementPolicy: "Parallel", selector, template } });
  await h.runToQuiet();
  assert.deepEqual(await names("ss2"), ["web-0", "web-1", "web-2"]);
});

test("a rolling update with partition 1 replaces ordinals 2 then 1, leaving 0", async () => {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name: "ss3" } });
  await h.client.resource(STATEFULSETS).create("ss3", { metadata: { name: "db" }, spec: { replicas: 3, selector, template, updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } } });
  await h.runToQuiet();
  for (const n of ["db-0", "db-1", "db-2"]) await ready("ss3", n);
  const before = Object.fromEntries((await h.list(PODS, "ss3")).map((p) => [p.metadata.name, p.metadata.uid]));
  const oldRev = (await stsStatus("ss3", "db")).currentRevision;
  await h.client.resource(STATEFULSETS).patch("ss3", "db", "merge", { spec: { template: { spec: { containers: [{ name: "c", image: "postgres:17" }] } } } });
  await h.runToQuiet();
  const uid = async (n: string) => (await h.get(PODS, "ss3", n))?.metadata.uid;
  assert.notEqual(await uid("db-2"), before["db-2"], "the highest ordinal goes first");
  assert.equal(await uid("db-1"), before["db-1"], "db-1 waits for db-2 to be ready");
  await ready("ss3", "db-2");
  assert.notEqual(await uid("db-1"), before["db-1"]);
  await ready("ss3", "db-1");
  assert.equal(await uid("db-0"), before["db-0"], "below the partition: untouched");
  const s = await stsStatus("ss3", "db");
  assert.equal(s.updatedReplicas, 2);
  assert.equal(s.currentRevision, oldRev, "partitioned: the rollout is not complete");
  assert.notEqual(s.updateRevision, oldRev);
  const rev = (p: KubeObject | undefined) => p?.metadata.labels?.["controller-revision-hash"];
  assert.equal(rev(await h.get(PODS, "ss3", "db-2")), s.updateRevision);
  assert.equal(rev(await h.get(PODS, "ss3", "db-0")), oldRev);
  // A pod below the partition that is deleted comes back from the current revision's template.
  await h.client.resource(PODS).delete("ss3", "db-0");
  await h.runToQuiet();
  const again = await h.get(PODS, "ss3", "db-0");
  assert.notEqual(again?.metadata.uid, before["db-0"]);
  assert.equal(rev(again), oldRev);
  assert.equal((again?.spec as { containers: { image: string }[] }).containers[0]!.image, "postgres");
});
