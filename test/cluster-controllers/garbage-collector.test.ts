// The garbage collector and namespace controller on the controller skeleton, against a
// real API server (SQLite store) through the in-process transport, with time on a fake
// clock: each scenario is run "to quiet" — no key queued or being reconciled and none
// waiting out a back-off — and then the objects are checked. Nothing sleeps; nothing
// sweeps: once quiet, no timer is left on the clock.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../src/common/clock.ts";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import { Client, isNotFound, type KubeObject, type ResourceRef } from "../../src/cluster/client/index.ts";
import { Controller, GarbageCollector, NamespaceController, startControllerManager, type ControllerContext, type RunningControllerManager } from "../../src/cluster/controllers/index.ts";

const ref = (group: string, resource: string, kind: string, namespaced = true): ResourceRef => ({ group, version: "v1", resource, kind, namespaced });
const DEPLOYMENTS = ref("apps", "deployments", "Deployment");
const REPLICASETS = ref("apps", "replicasets", "ReplicaSet");
const PODS = ref("", "pods", "Pod");
const CONFIGMAPS = ref("", "configmaps", "ConfigMap");
const NAMESPACES = ref("", "namespaces", "Namespace", false);

const podSpec = { containers: [{ name: "c", image: "x" }] };
const template = { metadata: { labels: { app: "a" } }, spec: podSpec };
const selector = { matchLabels: { app: "a" } };

let dir: string;
let server: RunningApiServer;
let manager: RunningControllerManager;
let client: Client;
const clock = new FakeClock();
const logs: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-gc-"));
  server = await startApiServer({
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    historyMs: 0,
    // Only the controllers under test: a ReplicaSet controller would race the chains' hand-made pods.
    startControllers: async (transport) => (manager = await startControllerManager(transport, { clock, log: (m) => logs.push(m), controllers: (ctx) => [new GarbageCollector(ctx), new NamespaceController(ctx)] })),
  });
  client = new Client(server.inProcessTransport(), { fieldManager: "test" });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Lets events and requests run until no controller has work; a back-off in the way is waited out on the fake clock. */
async function runToQuiet(): Promise<void> {
  for (let round = 0; round < 200; round++) {
    let idleTurns = 0;
    for (let turn = 0; idleTurns < 20 && turn < 100_000; turn++) {
      await new Promise((r) => setImmediate(r));
      idleTurns = manager.isIdle() ? idleTurns + 1 : 0;
    }
    if (manager.controllers.every((c) => c.queue.delayed === 0) && manager.isIdle()) return;
    await clock.advanceToNext();
  }
  throw new Error(`the controllers did not become quiet:\n${logs.join("\n")}`);
}

async function exists(r: ResourceRef, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
  return client
    .resource(r)
    .get(ns, name)
    .catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
}

const owned = (o: KubeObject, block = true) => [{ apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: block }];

/** A Deployment → ReplicaSet → Pod chain named after `name`. */
async function chain(name: string): Promise<{ d: KubeObject; rs: KubeObject; pod: KubeObject }> {
  const d = await client.resource(DEPLOYMENTS).create("default", { metadata: { name }, spec: { selector, template } });
  const rs = await client.resource(REPLICASETS).create("default", { metadata: { name: `${name}-rs`, ownerReferences: owned(d) }, spec: { selector, template } });
  const pod = await client.resource(PODS).create("default", { metadata: { name: `${name}-pod`, labels: { app: "a" }, ownerReferences: owned(rs) }, spec: podSpec });
  return { d, rs, pod };
}

test("a dependent whose owners are gone is deleted, down the chain (background)", async () => {
  const { d } = await chain("bg");
  const dangling = await client.resource(CONFIGMAPS).create("default", { metadata: { name: "dangling", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "never", uid: "00000000-0000-0000-0000-000000000000" }] } });
  const kept = await client.resource(CONFIGMAPS).create("default", { metadata: { name: "kept", ownerReferences: owned(dangling, false).map((r) => ({ ...r, name: "other", uid: d.metadata.uid! })) } });
  await runToQuiet();
  assert.equal(await exists(CONFIGMAPS, "default", "dangling"), undefined, "an owner that never existed");
  assert.ok(await exists(CONFIGMAPS, "default", "kept"), "the owner exists (found by uid)");
  assert.ok(await exists(PODS, "default", "bg-pod"), "owners present: nothing happens");
  await client.resource(DEPLOYMENTS).delete("default", "bg");
  await runToQuiet();
  assert.equal(await exists(REPLICASETS, "default", "bg-rs"), undefined);
  assert.equal(await exists(PODS, "default", "bg-pod"), undefined);
  await runToQuiet();
  assert.equal(await exists(CONFIGMAPS, "default", "kept"), undefined, "its owner went too");
  void kept;
});

test("a dependent with an owner left loses the references to owners that are gone, and stays", async () => {
  const { d } = await chain("two");
  const gone = "11111111-1111-1111-1111-111111111111";
  const refTo = (name: string, uid: string) => ({ apiVersion: "apps/v1", kind: "Deployment", name, uid });
  // one owner that exists, one that never did
  await client.resource(CONFIGMAPS).create("default", { metadata: { name: "two-owners", ownerReferences: [refTo("never", gone), refTo("two", d.metadata.uid!)] }, data: { kept: "yes" } });
  // two owners that exist; one is deleted later
  const other = await client.resource(DEPLOYMENTS).create("default", { metadata: { name: "two-b" }, spec: { selector, template } });
  await client.resource(CONFIGMAPS).create("default", { metadata: { name: "shared", ownerReferences: [refTo("two", d.metadata.uid!), refTo("two-b", other.metadata.uid!)] } });
  await runToQuiet();
  const cm = await exists(CONFIGMAPS, "default", "two-owners");
  assert.ok(cm, "an owner remains: the dependent is not deleted");
  assert.deepEqual(cm.metadata.ownerReferences?.map((r) => r.uid), [d.metadata.uid], "the dangling reference is removed");
  // The collector's cache holds only metadata (no other loop here follows ConfigMaps in full):
  // its write must be a patch of metadata, not an update that would write the data away.
  const cached = manager.informers.metadataInformerFor(CONFIGMAPS).cache.get("default/two-owners");
  assert.ok(cached && !("data" in cached), "the collector caches metadata only");
  assert.deepEqual(cm.data, { kept: "yes" }, "the rest of the object is untouched");
  assert.deepEqual((await exists(CONFIGMAPS, "default", "shared"))?.metadata.ownerReferences?.map((r) => r.name), ["two", "two-b"], "no owner gone: nothing changes");
  await client.resource(DEPLOYMENTS).delete("default", "two-b");
  await runToQuiet();
  assert.deepEqual((await exists(CONFIGMAPS, "default", "shared"))?.metadata.ownerReferences?.map((r) => r.name), ["two"], "the deleted owner's reference goes, the dependent stays");
  // the last owner goes: now the dependents go too
  await client.resource(DEPLOYMENTS).delete("default", "two");
  await runToQuiet();
  assert.equal(await exists(CONFIGMAPS, "default", "two-owners"), undefined);
  assert.equal(await exists(CONFIGMAPS, "default", "shared"), undefined);
});

test("orphan: the owner goes, its dependents stay without the reference", async () => {
  await chain("or");
  const held = await client.resource(DEPLOYMENTS).delete("default", "or", { propagationPolicy: "Orphan" });
  assert.deepEqual((held as KubeObject).metadata.finalizers, ["orphan"]);
  await runToQuiet();
  assert.equal(await exists(DEPLOYMENTS, "default", "or"), undefined);
  const rs = await exists(REPLICASETS, "default", "or-rs");
  assert.ok(rs, "the ReplicaSet is orphaned, not deleted");
  assert.equal(rs.metadata.ownerReferences, undefined);
  assert.deepEqual((rs.spec as { selector: unknown }).selector, selector, "only the reference goes, the spec stays");
  assert.ok(await exists(PODS, "default", "or-pod"), "the grandchild keeps its own owner");
});

test("foreground: the owner waits, with its finalizer, until its blocking dependents are gone", async () => {
  await chain("fg");
  const held = (await client.resource(DEPLOYMENTS).delete("default", "fg", { propagationPolicy: "Foreground" })) as KubeObject;
  assert.ok(held.metadata.deletionTimestamp);
  assert.deepEqual(held.metadata.finalizers, ["foregroundDeletion"]);
  await runToQuiet();
  for (const [r, n] of [[DEPLOYMENTS, "fg"], [REPLICASETS, "fg-rs"], [PODS, "fg-pod"]] as const) assert.equal(await exists(r, "default", n), undefined, n);
});

test("foreground: a dependent held by its own finalizer holds the owner; once released, both go", async () => {
  const d = await client.resource(DEPLOYMENTS).create("default", { metadata: { name: "hold" }, spec: { selector, template } });
  await client.resource(CONFIGMAPS).create("default", { metadata: { name: "hold-cm", finalizers: ["example.com/hold"], ownerReferences: owned(d) } });
  await client.resource(DEPLOYMENTS).delete("default", "hold", { propagationPolicy: "Foreground" });
  await runToQuiet();
  const cm = await exists(CONFIGMAPS, "default", "hold-cm");
  assert.ok(cm?.metadata.deletionTimestamp, "the dependent is being deleted");
  const waiting = await exists(DEPLOYMENTS, "default", "hold");
  assert.deepEqual(waiting?.metadata.finalizers, ["foregroundDeletion"], "the owner still waits");
  assert.deepEqual((waiting?.spec as { selector: unknown }).selector, selector);
  await client.resource(CONFIGMAPS).patch("default", "hold-cm", "merge", { metadata: { finalizers: null } });
  await runToQuiet();
  assert.equal(await exists(DEPLOYMENTS, "default", "hold"), undefined);
});

test("a namespace being deleted is emptied, then its finalizer removed and it goes", async () => {
  await client.resource(NAMESPACES).create(undefined, { metadata: { name: "doomed" } });
  for (const n of ["a", "b"]) await client.resource(CONFIGMAPS).create("doomed", { metadata: { name: n } });
  await client.resource(DEPLOYMENTS).create("doomed", { metadata: { name: "d" }, spec: { selector, template } });
  const ns = (await client.resource(NAMESPACES).delete(undefined, "doomed")) as KubeObject;
  assert.equal((ns.status as { phase: string }).phase, "Terminating");
  await runToQuiet();
  assert.equal(await exists(NAMESPACES, undefined, "doomed"), undefined);
  assert.equal((await client.resource(CONFIGMAPS).list("doomed")).items.length, 0);
  assert.equal((await client.resource(DEPLOYMENTS).list("doomed")).items.length, 0);
});

test("quiet means quiet: no timer left on the clock, every informer listed once", () => {
  assert.equal(clock.pending(), 0, "no periodic sweep, no back-off waiting");
  assert.ok(manager.informers.all().length > 10);
  assert.deepEqual(manager.informers.all().filter((i) => i.lists !== 1).map((i) => i.resource.ref.resource), []);
});

/** Fails its first three reconciles of "flaky", to show the back-off on the clock. */
class Flaky extends Controller {
  attempts: { key: string; at: number }[] = [];
  constructor(ctx: ControllerContext) {
    super("flaky", ctx);
  }
  async reconcile(key: string): Promise<void> {
    this.attempts.push({ key, at: this.ctx.clock.now() });
    if (key === "flaky" && this.attempts.filter((a) => a.key === key).length <= 3) throw new Error("not yet");
  }
}

test("a failing key is retried with exponential back-off on the clock, without holding up other keys", async () => {
  const fake = new FakeClock(0);
  const seen: string[] = [];
  const m = await startControllerManager(server.inProcessTransport(), { clock: fake, log: (msg) => seen.push(msg), controllers: (ctx) => [new Flaky(ctx)] });
  const flaky = m.controllers[0] as Flaky;
  flaky.queue.add("flaky");
  flaky.queue.add("steady");
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  await settle();
  assert.deepEqual(flaky.attempts, [
    { key: "flaky", at: 0 },
    { key: "steady", at: 0 },
  ]);
  assert.equal(flaky.queue.delayed, 1, "the failed key waits, it is not dropped");
  while (await fake.advanceToNext()) await settle();
  assert.deepEqual(flaky.attempts.filter((a) => a.key === "flaky").map((a) => a.at), [0, 5, 15, 35]);
  assert.equal(flaky.failures, 3);
  assert.equal(flaky.queue.retries("flaky"), 0, "forgotten after success");
  assert.equal(seen.filter((l) => /flaky: flaky: not yet \(retry \d\)/.test(l)).length, 3, seen.join("\n"));
  await m.stop();
});
