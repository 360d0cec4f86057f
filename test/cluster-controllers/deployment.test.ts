// The Deployment and ReplicaSet controllers together against a real API server (SQLite) on
// the in-process transport, time on a fake clock. The test plays the kubelet: pods it
// finds are marked Running and Ready through the status subresource.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DeploymentController, ReplicaSetController } from "../../src/cluster/controllers/index.ts";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { DEPLOYMENTS, EVENTS, NAMESPACES, PODS, REPLICASETS, startHarness, type Harness } from "./_harness.ts";

const tmpl = (image: string) => ({ metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image }] } });
const selector = { matchLabels: { app: "web" } };

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new ReplicaSetController(ctx), new DeploymentController(ctx)]);
});
after(async () => {
  await h.stop();
});

type Status = { replicas?: number; updatedReplicas?: number; availableReplicas?: number; observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[] };
const statusOf = async (ns: string, name: string) => ((await h.get(DEPLOYMENTS, ns, name))!.status ?? {}) as Status;

/** Plays the kubelet until nothing changes: every pod not yet ready becomes Running and Ready. */
async function kubeletUntilQuiet(ns: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    await h.runToQuiet();
    const pending = (await h.list(PODS, ns)).filter((p) => !(p.status as { phase?: string } | undefined)?.phase || (p.status as { phase?: string }).phase === "Pending");
    if (pending.length === 0) return;
    for (const p of pending) await h.setPodRunning(p);
  }
  throw new Error("pods kept coming");
}

async function namespace(name: string) {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name } });
}

const setsOf = async (ns: string) => (await h.list(REPLICASETS, ns)).sort((a, b) => Number(a.metadata.annotations?.["deployment.kubernetes.io/revision"]) - Number(b.metadata.annotations?.["deployment.kubernetes.io/revision"]));

test("a Deployment rolls out: one ReplicaSet, its pods ready, status complete as kubectl rollout status wants", async () => {
  await namespace("d1");
  await h.client.resource(DEPLOYMENTS).create("d1", { metadata: { name: "web" }, spec: { replicas: 3, selector, template: tmpl("nginx:1") } });
  await kubeletUntilQuiet("d1");
  const [rs] = await setsOf("d1");
  assert.match(rs!.metadata.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
  const pods = await h.list(PODS, "d1");
  assert.equal(pods.length, 3);
  for (const p of pods) {
    assert.ok(p.metadata.name!.startsWith(`${rs!.metadata.name}-`));
    assert.equal(p.metadata.labels!["pod-template-hash"], rs!.metadata.labels!["pod-template-hash"]);
  }
  const s = await statusOf("d1", "web");
  assert.deepEqual([s.observedGeneration, s.replicas, s.updatedReplicas, s.availableReplicas], [1, 3, 3, 3]);
  assert.equal(s.conditions?.find((c) => c.type === "Available")?.status, "True");
  assert.equal(s.conditions?.find((c) => c.type === "Progressing")?.reason, "NewReplicaSetAvailable");
  const d = await h.get(DEPLOYMENTS, "d1", "web");
  assert.equal(d!.metadata.annotations!["deployment.kubernetes.io/revision"], "1");
  const events = (await h.list(EVENTS, "d1")).filter((e) => (e.involvedObject as { kind: string }).kind === "Deployment");
  assert.deepEqual(events.map((e) => e.message), [`Scaled up replica set ${rs!.metadata.name} from 0 to 3`]);
  assert.equal((events[0]!.source as { component: string }).component, "deployment-controller");
});

test("a new template rolls over within maxSurge/maxUnavailable; rolling back reuses the old set as revision 3", async () => {
  await namespace("d2");
  const strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
  await h.client.resource(DEPLOYMENTS).create("d2", { metadata: { name: "web" }, spec: { replicas: 3, selector, strategy, template: tmpl("nginx:1") } });
  await kubeletUntilQuiet("d2");
  // Watch every pod count while rolling: never more than 3 + 1 pods, never fewer than 3 ready.
  const seen: number[] = [];
  await h.client.resource(DEPLOYMENTS).patch("d2", "web", "merge", { spec: { template: tmpl("nginx:2") } });
  for (let round = 0; round < 50; round++) {
    await h.runToQuiet();
    const live = (await h.list(PODS, "d2")).filter((p) => !p.metadata.deletionTimestamp);
    seen.push(live.length);
    const ready = live.filter((p) => (p.status as { phase?: string }).phase === "Running");
    assert.ok(live.length <= 4, `${live.length} pods at once`);
    assert.ok(ready.length >= 3, `${ready.length} ready`);
    const pending = live.filter((p) => (p.status as { phase?: string }).phase !== "Running");
    if (pending.length === 0) break;
    for (const p of pending) await h.setPodRunning(p);
  }
  assert.ok(seen.includes(4), "it surged");
  const sets = await setsOf("d2");
  assert.equal(sets.length, 2);
  assert.deepEqual(sets.map((s) => (s.spec as { replicas: number }).replicas), [0, 3]);
  const images = (await h.list(PODS, "d2")).map((p) => (p.spec as { containers: { image: string }[] }).containers[0]!.image);
  assert.deepEqual(images, ["nginx:2", "nginx:2", "nginx:2"]);

  // What kubectl rollout undo sends: the old set's template (no hash label) back into the Deployment.
  const oldTemplate = structuredClone(sets[0]!.spec as { template: KubeObject }).template;
  delete (oldTemplate.metadata.labels as Record<string, string>)["pod-template-hash"];
  await h.client.resource(DEPLOYMENTS).patch("d2", "web", "json", [{ op: "replace", path: "/spec/template", value: oldTemplate }]);
  await kubeletUntilQuiet("d2");
  const after = await setsOf("d2");
  assert.equal(after.length, 2, "no third set");
  assert.equal(after[1]!.metadata.name, sets[0]!.metadata.name);
  assert.equal(after[1]!.metadata.annotations!["deployment.kubernetes.io/revision"], "3");
  assert.equal(after[1]!.metadata.annotations!["deployment.kubernetes.io/revision-history"], "1");
  const imagesBack = (await h.list(PODS, "d2")).map((p) => (p.spec as { containers: { image: string }[] }).containers[0]!.image);
  assert.deepEqual(imagesBack, ["nginx:1", "nginx:1", "nginx:1"]);
});

test("pods that never become ready: after progressDeadlineSeconds, Progressing=False ProgressDeadlineExceeded", async () => {
  await namespace("d3");
  await h.client.resource(DEPLOYMENTS).create("d3", { metadata: { name: "web" }, spec: { replicas: 2, progressDeadlineSeconds: 30, selector, template: tmpl("nginx:1") } });
  await h.runToQuiet();
  for (const p of await h.list(PODS, "d3")) await h.setPodRunning(p, { ready: false });
  const start = h.clock.now();
  await h.runToQuiet(60_000);
  assert.ok(h.clock.now() - start >= 30_000, "the controller woke itself at the deadline");
  const progressing = (await statusOf("d3", "web")).conditions?.find((c) => c.type === "Progressing");
  assert.equal(progressing?.status, "False");
  assert.equal(progressing?.reason, "ProgressDeadlineExceeded");
});

test("scale and Recreate: old pods go before new ones come", async () => {
  await namespace("d4");
  await h.client.resource(DEPLOYMENTS).create("d4", { metadata: { name: "web" }, spec: { replicas: 2, strategy: { type: "Recreate" }, selector, template: tmpl("nginx:1") } });
  await kubeletUntilQuiet("d4");
  await h.client.resource(DEPLOYMENTS).patch("d4", "web", "merge", { spec: { replicas: 4 } });
  await kubeletUntilQuiet("d4");
  assert.equal((await h.list(PODS, "d4")).length, 4);
  await h.client.resource(DEPLOYMENTS).patch("d4", "web", "merge", { spec: { template: tmpl("nginx:2") } });
  await h.runToQuiet();
  const pods = await h.list(PODS, "d4");
  assert.equal(pods.length, 4, "the new set's pods came once the old ones were gone");
  assert.ok(pods.every((p) => (p.spec as { containers: { image: string }[] }).containers[0]!.image === "nginx:2"));
});
