// The ReplicaSet controller against a real API server (SQLite) on the in-process transport,
// time on a fake clock: pods created and deleted to match, named <rs>-<5>, owned; orphans
// adopted and non-matching pods released; status with minReadySeconds; and a slow pod
// informer never makes it create pods twice (expectations).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ReplicaSetController } from "../../src/cluster/controllers/index.ts";
import type { ApiTransport, KubeObject } from "../../src/cluster/client/index.ts";
import { EVENTS, PODS, REPLICASETS, startHarness, type Harness } from "./_harness.ts";

const template = { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image: "nginx" }] } };
const selector = { matchLabels: { app: "web" } };

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new ReplicaSetController(ctx)]);
});
after(async () => {
  await h.stop();
});

const podsOf = async (ns: string, rs: string) => (await h.list(PODS, ns)).filter((p) => p.metadata.ownerReferences?.some((r) => r.name === rs && r.controller));
const status = async (ns: string, name: string) => (await h.get(REPLICASETS, ns, name))!.status as Record<string, number>;

async function namespace(name: string) {
  await h.client.resource({ group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false }).create(undefined, { metadata: { name } });
}

test("a ReplicaSet gets its pods, named after it and owned by it; scale up and down", async () => {
  await namespace("rs1");
  const rs = await h.client.resource(REPLICASETS).create("rs1", { metadata: { name: "web" }, spec: { replicas: 3, selector, template } });
  await h.runToQuiet();
  let pods = await podsOf("rs1", "web");
  assert.equal(pods.length, 3);
  for (const p of pods) {
    assert.match(p.metadata.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web", uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(p.metadata.labels, { app: "web" });
  }
  assert.deepEqual(await status("rs1", "web"), { replicas: 3, fullyLabeledReplicas: 3, observedGeneration: 1 });
  const created = (await h.list(EVENTS, "rs1")).filter((e) => e.reason === "SuccessfulCreate");
  assert.equal(created.length, 3);
  assert.match(String(created[0]!.message), /^Created pod: web-/);

  // Two pods ready; scaling to 1 keeps a ready one.
  const [a, b] = pods;
  await h.setPodRunning(a!);
  await h.setPodRunning(b!);
  await h.runToQuiet();
  assert.equal((await status("rs1", "web")).readyReplicas, 2);
  await h.client.resource(REPLICASETS).patch("rs1", "web", "merge", { spec: { replicas: 1 } });
  await h.runToQuiet();
  pods = await podsOf("rs1", "web");
  assert.equal(pods.length, 1);
  assert.ok([a!.metadata.name, b!.metadata.name].includes(pods[0]!.metadata.name), "the unready pod went first, then one ready one");
  assert.deepEqual(await status("rs1", "web"), { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 2 });
});

test("a deleted pod is replaced", async () => {
  await namespace("rs2");
  await h.client.resource(REPLICASETS).create("rs2", { metadata: { name: "web" }, spec: { replicas: 2, selector, template } });
  await h.runToQuiet();
  const [victim] = await podsOf("rs2", "web");
  await h.client.resource(PODS).delete("rs2", victim!.metadata.name!);
  await h.runToQuiet();
  const pods = await podsOf("rs2", "web");
  assert.equal(pods.length, 2);
  assert.ok(!pods.some((p) => p.metadata.uid === victim!.metadata.uid));
});

test("orphans matching the selector are adopted; an owned pod that stops matching is released and replaced", async () => {
  await namespace("rs3");
  const orphan = await h.client.resource(PODS).create("rs3", { metadata: { name: "stray", labels: { app: "web" } }, spec: template.spec });
  const other = await h.client.resource(PODS).create("rs3", { metadata: { name: "other", labels: { app: "db" } }, spec: template.spec });
  const rs = await h.client.resource(REPLICASETS).create("rs3", { metadata: { name: "web" }, spec: { replicas: 2, selector, template } });
  await h.runToQuiet();
  const adopted = await h.get(PODS, "rs3", "stray");
  assert.equal(adopted?.metadata.uid, orphan.metadata.uid);
  assert.deepEqual(adopted?.metadata.ownerReferences?.map((r) => r.uid), [rs.metadata.uid]);
  assert.equal((await h.get(PODS, "rs3", "other"))?.metadata.ownerReferences, undefined, "not matching: left alone");
  assert.equal((await podsOf("rs3", "web")).length, 2, "the adopted pod counts: one created");
  void other;

  await h.client.resource(PODS).patch("rs3", "stray", "merge", { metadata: { labels: { app: "debug" } } });
  await h.runToQuiet();
  assert.deepEqual((await h.get(PODS, "rs3", "stray"))?.metadata.ownerReferences ?? [], [], "released");
  const pods = await podsOf("rs3", "web");
  assert.equal(pods.length, 2, "and replaced");
  assert.ok(!pods.some((p) => p.metadata.name === "stray"));
});

test("availableReplicas waits minReadySeconds after ready, on the clock", async () => {
  await namespace("rs4");
  await h.client.resource(REPLICASETS).create("rs4", { metadata: { name: "web" }, spec: { replicas: 1, minReadySeconds: 30, selector, template } });
  await h.runToQuiet();
  const [p] = await podsOf("rs4", "web");
  const started = h.clock.now();
  await h.setPodRunning(p!);
  // Run the events through without moving time (a horizon of 0 ms): ready, not yet available.
  // Not a fixed number of turns: the store acknowledges a write only after an fsync on the
  // thread pool, which a loaded machine finishes after any count of turns.
  await h.runToQuiet(0);
  assert.equal(h.clock.now(), started, "the clock did not move");
  assert.equal((await status("rs4", "web")).readyReplicas, 1);
  assert.equal((await status("rs4", "web")).availableReplicas, undefined);
  await h.runToQuiet(60_000);
  assert.ok(h.clock.now() - started >= 30_000, "quiet only after the clock passed minReadySeconds");
  assert.equal((await status("rs4", "web")).availableReplicas, 1);
});

test("a deleted ReplicaSet's pods are not replaced by it", async () => {
  await namespace("rs5");
  await h.client.resource(REPLICASETS).create("rs5", { metadata: { name: "web" }, spec: { replicas: 2, selector, template } });
  await h.runToQuiet();
  await h.client.resource(REPLICASETS).delete("rs5", "web", { propagationPolicy: "Orphan" });
  await h.runToQuiet();
  assert.equal((await h.list(PODS, "rs5")).length, 2, "no garbage collector here; the set simply stops acting");
});

/** Holds back watch lines of pods while `held` is true: a pod informer that lags behind. */
class LaggingPods implements ApiTransport {
  held = false;
  private backlog: (() => void)[] = [];
  constructor(private readonly inner: ApiTransport) {}
  get server() {
    return this.inner.server;
  }
  request(req: Parameters<ApiTransport["request"]>[0]) {
    return this.inner.request(req);
  }
  stream(req: Parameters<ApiTransport["stream"]>[0], onLine: (l: string) => void, onEnd: (e?: Error) => void) {
    const pods = /\/pods\?/.test(req.path);
    return this.inner.stream(req, (line) => (pods && this.held ? this.backlog.push(() => onLine(line)) : onLine(line)), onEnd);
  }
  release() {
    this.held = false;
    for (const f of this.backlog.splice(0)) f();
  }
}

test("expectations: with the pod informer lagging, repeated syncs create no extra pods", async () => {
  let lag: LaggingPods | undefined;
  const slow = await startHarness((ctx) => [new ReplicaSetController(ctx)], { wrapTransport: (t) => (lag = new LaggingPods(t)) });
  try {
    lag!.held = true;
    await slow.client.resource(REPLICASETS).create("default", { metadata: { name: "web" }, spec: { replicas: 3, selector, template } });
    await slow.runToQuiet();
    const controller = slow.manager.controllers[0]!;
    for (let i = 0; i < 5; i++) controller.queue.add("default/web");
    await slow.runToQuiet();
    assert.equal((await slow.list(PODS, "default")).length, 3, "the cache shows none, yet no more were made");
    lag!.release();
    await slow.runToQuiet();
    controller.queue.add("default/web");
    await slow.runToQuiet();
    const pods = await slow.list(PODS, "default");
    assert.equal(pods.length, 3);
    assert.equal((((await slow.get(REPLICASETS, "default", "web"))!.status) as KubeObject["status"] & { replicas: number }).replicas, 3);
  } finally {
    await slow.stop();
  }
});
