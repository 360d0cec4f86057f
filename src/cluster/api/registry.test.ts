import { test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../store/index.ts";
import { ObjectRegistry, type WatchEventType } from "./registry.ts";
import { resourceTypes } from "./resources.ts";
import { parseLabelSelector } from "./selectors.ts";
import type { KubeObject } from "./objects.ts";

const rt = (kind: string) => resourceTypes.find((r) => r.kind === kind)!;

async function setup() {
  const reg = new ObjectRegistry(await openStore({ kind: "sqlite", path: ":memory:" }));
  await reg.create(rt("Namespace"), undefined, { metadata: { name: "default" } });
  return reg;
}

test("create fills server fields and defaults; update keeps them and bumps generation on spec change", async () => {
  const reg = await setup();
  const dep = rt("Deployment");
  const d = await reg.create(dep, "default", { metadata: { name: "d" }, spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x" }] } } } });
  assert.match(d.metadata.uid!, /^[0-9a-f-]{36}$/);
  assert.equal(d.metadata.generation, 1);
  assert.equal((d.spec as { replicas: number }).replicas, 1);
  const u = await reg.update(dep, "default", "d", { ...d, metadata: { ...d.metadata, uid: "forged", labels: { l: "1" } } });
  assert.equal(u.metadata.uid, d.metadata.uid);
  assert.equal(u.metadata.generation, 1);
  const u2 = await reg.update(dep, "default", "d", { ...u, spec: { ...(u.spec as object), replicas: 3 } });
  assert.equal(u2.metadata.generation, 2);
  await assert.rejects(reg.update(dep, "default", "d", { ...u, spec: { ...(u.spec as object), replicas: 4 } }), /the object has been modified/);
});

test("finalizers hold deletion until removed", async () => {
  const reg = await setup();
  const cm = rt("ConfigMap");
  await reg.create(cm, "default", { metadata: { name: "f", finalizers: ["example.com/hold"] } });
  const del = await reg.delete(cm, "default", "f");
  assert.equal(del.removed, false);
  assert.ok(del.object.metadata.deletionTimestamp);
  await assert.rejects(reg.mutate(cm, "default", "f", (o) => ({ ...o, metadata: { ...o.metadata, finalizers: ["example.com/hold", "new"] } })), /no new finalizers/);
  await reg.mutate(cm, "default", "f", (o) => ({ ...o, metadata: { ...o.metadata, finalizers: [] } }));
  assert.equal(await reg.tryGet(cm, "default", "f"), undefined);
});

test("watch with a selector turns label changes into ADDED and DELETED", async () => {
  const reg = await setup();
  const cm = rt("ConfigMap");
  const events: string[] = [];
  const start = (await reg.list(cm, "default")).resourceVersion;
  const h = await reg.watch(cm, "default", start, { labelSelector: parseLabelSelector("app=x") }, (t: WatchEventType, o: KubeObject) => events.push(`${t}:${o.metadata.labels?.app ?? "-"}`), () => {});
  await reg.create(cm, "default", { metadata: { name: "w", labels: { app: "y" } } });
  await reg.mutate(cm, "default", "w", (o) => ({ ...o, metadata: { ...o.metadata, labels: { app: "x" } } }));
  await reg.mutate(cm, "default", "w", (o) => ({ ...o, data: { k: "v" } }));
  await reg.mutate(cm, "default", "w", (o) => ({ ...o, metadata: { ...o.metadata, labels: { app: "z" } } }));
  await new Promise((r) => setTimeout(r, 10));
  h.cancel();
  assert.deepEqual(events, ["ADDED:x", "MODIFIED:x", "DELETED:z"]);
});
