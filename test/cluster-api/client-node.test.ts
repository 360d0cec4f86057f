// The npm Kubernetes client (@kubernetes/client-node) against Gantry: typed create and
// list, a raw watch, and an informer (list + watch with resourceVersion bookkeeping).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { startTestCluster, type TestCluster } from "./_server.ts";

describe("@kubernetes/client-node against gantry server", () => {
  let c: TestCluster;
  let kc: k8s.KubeConfig;

  before(async () => {
    c = await startTestCluster();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(c.server.kubeconfigPath);
  });
  after(async () => {
    await c?.stop();
  });

  test("creates and lists with the typed APIs", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "from-client", labels: { via: "client-node" } }, data: { a: "b" } } });
    const list = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "via=client-node" });
    assert.deepEqual(list.items.map((x) => x.metadata?.name), ["from-client"]);
    assert.ok(Number(list.metadata?.resourceVersion) > 0);
    await apps.createNamespacedDeployment({
      namespace: "default",
      body: { metadata: { name: "cn" }, spec: { selector: { matchLabels: { app: "cn" } }, template: { metadata: { labels: { app: "cn" } }, spec: { containers: [{ name: "c", image: "busybox" }] } } } },
    });
    const d = await apps.readNamespacedDeployment({ name: "cn", namespace: "default" });
    assert.equal(d.spec?.replicas, 1);
    const ns = await core.listNamespace();
    assert.ok(ns.items.some((n) => n.metadata?.name === "kube-system"));
    await assert.rejects(core.readNamespacedConfigMap({ name: "absent", namespace: "default" }), (err: { code?: number }) => err.code === 404);
  });

  test("watches: raw Watch and an informer see adds, updates and deletes", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const seen: string[] = [];
    const watcher = new k8s.Watch(kc);
    const req = await watcher.watch(
      "/api/v1/namespaces/default/configmaps",
      { resourceVersion: (await core.listNamespacedConfigMap({ namespace: "default" })).metadata?.resourceVersion },
      (type, obj: k8s.V1ConfigMap) => seen.push(`${type}:${obj.metadata?.name}`),
      () => {},
    );
    const informed: string[] = [];
    const informer = k8s.makeInformer(kc, "/api/v1/namespaces/default/configmaps", () => core.listNamespacedConfigMap({ namespace: "default" }));
    informer.on("add", (o: k8s.V1ConfigMap) => informed.push(`add:${o.metadata?.name}`));
    informer.on("update", (o: k8s.V1ConfigMap) => informed.push(`update:${o.metadata?.name}`));
    informer.on("delete", (o: k8s.V1ConfigMap) => informed.push(`delete:${o.metadata?.name}`));
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "watched" }, data: { a: "1" } } });
    await core.patchNamespacedConfigMap({ name: "watched", namespace: "default", body: { data: { a: "2" } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ name: "watched", namespace: "default" });
    const until = Date.now() + 10_000;
    while ((!seen.includes("DELETED:watched") || !informed.includes("delete:watched")) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    req.abort();
    await informer.stop();
    assert.deepEqual(seen.filter((s) => s.endsWith(":watched")), ["ADDED:watched", "MODIFIED:watched", "DELETED:watched"]);
    assert.ok(informed.includes("add:from-client"), informed.join());
    assert.deepEqual(informed.filter((s) => s.endsWith(":watched")), ["add:watched", "update:watched", "delete:watched"]);
  });
});
