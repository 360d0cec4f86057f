// Informers against a real API server (SQLite store) through the in-process transport:
// list at a revision, watch from it, frozen and indexed cache, handlers for every change,
// a new list after 410 Gone, and back-off on the fake clock after failures.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../src/common/clock.ts";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import { BY_LABEL, BY_NAMESPACE, BY_NODE_NAME, BY_OWNER_UID, Client, Informer, InformerFactory, type KubeObject, type ResourceRef } from "../../src/cluster/client/index.ts";

const CONFIGMAPS: ResourceRef = { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true };
const PODS: ResourceRef = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const NAMESPACES: ResourceRef = { group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false };

let dir: string;
let server: RunningApiServer;
let client: Client;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-informer-"));
  server = await startApiServer({ dataDir: dir, host: "127.0.0.1", port: 0, historyMs: 0, bookmarkIntervalMs: 3_600_000 });
  client = new Client(server.inProcessTransport());
  for (const name of ["a", "b"]) await client.resource(NAMESPACES).create(undefined, { metadata: { name } });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("an informer lists, then follows every change; its cache is frozen and indexed", async () => {
  const cms = client.resource(CONFIGMAPS);
  const owner = await cms.create("a", { metadata: { name: "owner" } });
  await cms.create("a", { metadata: { name: "dep", labels: { tier: "x" }, ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata.uid! }] } });
  const inf = new Informer(cms, { clock: new FakeClock() });
  const seen: string[] = [];
  inf.addHandlers({
    onAdd: (o) => seen.push(`add ${o.metadata.namespace}/${o.metadata.name}`),
    onUpdate: (_old, o) => seen.push(`update ${o.metadata.name}`),
    onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  inf.start();
  await inf.whenSynced();
  assert.ok(seen.includes("add a/owner") && seen.includes("add a/dep"));
  assert.equal(inf.lists, 1);
  const dep = inf.cache.get("a/dep")!;
  assert.ok(Object.isFrozen(dep) && Object.isFrozen(dep.metadata.labels), "cached objects are frozen deep");
  assert.throws(() => {
    (dep.metadata.labels as Record<string, string>).tier = "changed";
  }, TypeError);
  assert.deepEqual(inf.cache.byIndex(BY_OWNER_UID, owner.metadata.uid!).map((o) => o.metadata.name), ["dep"]);
  assert.deepEqual(inf.cache.byIndex(BY_LABEL, "tier=x").map((o) => o.metadata.name), ["dep"]);

  seen.length = 0;
  await cms.create("b", { metadata: { name: "c" } });
  await cms.patch("a", "dep", "merge", { metadata: { labels: { tier: "y" } } });
  await cms.delete("a", "owner");
  await until("three events", () => seen.length >= 3);
  assert.deepEqual(seen, ["add b/c", "update dep", "delete owner"]);
  assert.deepEqual(inf.cache.byIndex(BY_LABEL, "tier=x"), [], "the index follows the change");
  assert.deepEqual(inf.cache.byIndex(BY_LABEL, "tier=y").map((o) => o.metadata.name), ["dep"]);
  assert.deepEqual(inf.cache.byIndex(BY_NAMESPACE, "b").map((o) => o.metadata.name), ["c"]);
  assert.equal(inf.cache.get("a/owner"), undefined);
  assert.equal(inf.resourceVersion, (await cms.list(undefined)).metadata.resourceVersion, "the cache is at the newest revision");
  await inf.stop();
  for (const cm of ["dep"]) await cms.delete("a", cm);
  await cms.delete("b", "c");
});

test("the factory shares one informer per kind; pods are indexed by node", async () => {
  const factory = new InformerFactory(client, { clock: new FakeClock() });
  const first = factory.informerFor(PODS);
  assert.equal(factory.informerFor(PODS), first, "one informer per kind");
  assert.notEqual(factory.informerFor(CONFIGMAPS), first);
  await client.resource(PODS).create("a", { metadata: { name: "p" }, spec: { nodeName: "n1", containers: [{ name: "c", image: "x" }] } });
  factory.start();
  await factory.whenSynced();
  assert.deepEqual(first.cache.byIndex(BY_NODE_NAME, "n1").map((o: KubeObject) => o.metadata.name), ["p"]);
  await factory.stop();
  await client.resource(PODS).delete("a", "p");
});

test("a metadata informer caches metadata only; asking for the whole kind later lists again and brings the rest", async () => {
  const cms = client.resource(CONFIGMAPS);
  await cms.create("b", { metadata: { name: "m1", labels: { l: "1" }, managedFields: [] }, data: { k: "v" } });
  const factory = new InformerFactory(client, { clock: new FakeClock() });
  const meta = factory.metadataInformerFor(CONFIGMAPS);
  assert.equal(factory.metadataInformerFor(CONFIGMAPS), meta, "one informer per kind");
  const updates: KubeObject[] = [];
  meta.addHandlers({ onUpdate: (_old, cur) => updates.push(cur) });
  factory.start();
  await factory.whenSynced();
  const cached = meta.cache.get("b/m1")!;
  assert.deepEqual(Object.keys(cached).sort(), ["apiVersion", "kind", "metadata"]);
  assert.equal(cached.metadata.labels?.l, "1");
  assert.equal(cached.metadata.managedFields, undefined, "managedFields are dropped too");
  // A change is followed as before.
  await cms.patch("b", "m1", "merge", { data: { k: "v2" }, metadata: { labels: { l: "2" } } });
  await until("the label change", () => meta.cache.get("b/m1")?.metadata.labels?.l === "2");
  assert.ok(!("data" in meta.cache.get("b/m1")!));
  // Now a loop needs the data: the same informer, listed again, holds whole objects.
  const lists = meta.lists;
  const full = factory.informerFor(CONFIGMAPS);
  assert.equal(full, meta);
  await factory.whenSynced();
  assert.equal(meta.lists, lists + 1);
  assert.deepEqual((full.cache.get("b/m1") as KubeObject & { data?: unknown }).data, { k: "v2" });
  assert.ok(updates.some((o) => (o as KubeObject & { data?: unknown }).data !== undefined), "handlers hear of the whole objects as updates");
  // …and keeps following whole objects.
  await cms.patch("b", "m1", "merge", { data: { k: "v3" } });
  await until("the data change", () => (full.cache.get("b/m1") as KubeObject & { data?: { k: string } }).data?.k === "v3");
  await factory.stop();
  await cms.delete("b", "m1");
});

test("after 410 Gone the informer lists again and its cache matches the server", async () => {
  const cms = client.resource(CONFIGMAPS);
  await cms.create("a", { metadata: { name: "g1" } });
  const logs: string[] = [];
  // The server ends each watch after 1 s; the informer then watches again from its revision.
  const inf = new Informer(cms, { clock: new FakeClock(), watchTimeoutSeconds: 1, log: (m) => logs.push(m) });
  inf.start();
  await inf.whenSynced();
  // Writes to another kind move the store on without the informer hearing of them; then
  // the history is compacted, so the informer's next watch (from its old revision) is Gone.
  // (A watch from C - 1 is still served after compact(C), so two writes.)
  for (const name of ["moves-the-revision", "and-again"]) await client.resource(NAMESPACES).create(undefined, { metadata: { name } });
  await server.store.compact(await server.store.currentRevision());
  await until("a second list", () => inf.lists >= 2);
  assert.ok(logs.some((l) => /is gone/.test(l) && /listing again/.test(l)), logs.join("\n"));
  await cms.create("a", { metadata: { name: "g2" } });
  await until("g2 in the cache", () => inf.cache.get("a/g2") !== undefined);
  assert.deepEqual(inf.cache.byIndex(BY_NAMESPACE, "a").map((o) => o.metadata.name).sort(), ["g1", "g2"]);
  await inf.stop();
});

test("a failing list backs off on the clock, doubling, and stops cleanly while waiting", async () => {
  const clock = new FakeClock(0);
  const logs: string[] = [];
  const missing = client.resource({ group: "", version: "v1", resource: "nosuchthings", kind: "NoSuchThing", namespaced: true });
  const inf = new Informer(missing, { clock, log: (m) => logs.push(m), initialBackoffMs: 800 });
  inf.start();
  await until("the first failure", () => logs.length === 1);
  assert.match(logs[0]!, /nosuchthings: .*not find the requested resource; listing again in 800 ms/);
  await clock.advance(799);
  assert.equal(logs.length, 1, "no retry before the back-off has passed");
  await clock.advance(1);
  await until("the second failure", () => logs.length === 2);
  assert.match(logs[1]!, /listing again in 1600 ms/);
  assert.equal(inf.hasSynced(), false);
  await inf.stop();
  assert.equal(clock.pending(), 0, "stopping cancels the back-off timer");
});

test("an informer with a field selector holds only matching objects; one bound elsewhere is gone from it", async () => {
  const pods = client.resource(PODS);
  const pod = (name: string, nodeName?: string) => ({ metadata: { name }, spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: "c", image: "busybox" }] } });
  await pods.create("b", pod("on-n1", "sel-1"));
  await pods.create("b", pod("on-n2", "sel-2"));
  const inf = new Informer(pods, { clock: new FakeClock(), fieldSelector: "spec.nodeName=sel-1" });
  const deleted: string[] = [];
  inf.addHandlers({ onDelete: (o) => deleted.push(o.metadata.name!) });
  inf.start();
  await inf.whenSynced();
  assert.deepEqual(inf.cache.list().map((o) => o.metadata.name), ["on-n1"]);
  await pods.create("b", pod("later-n1", "sel-1"));
  await pods.create("b", pod("later-n2", "sel-2"));
  await until("later-n1 in the cache", () => inf.cache.get("b/later-n1") !== undefined);
  assert.equal(inf.cache.get("b/later-n2"), undefined);
  await pods.delete("b", "on-n1", { gracePeriodSeconds: 0 });
  await until("on-n1 deleted", () => deleted.includes("on-n1"));
  await inf.stop();
});
