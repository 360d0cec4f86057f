// autoscaling/v1 HorizontalPodAutoscalers: stored as v2, served through v1 for create, get,
// list, watch and delete (what clients written against v1 do), converted each way; update and
// patch through v1 are refused (405), since v1 cannot carry v2's other metrics and behavior.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

const V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";
const V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

const hpaV2 = (name: string) =>
  JSON.stringify({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, labels: { app: "web" } },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      minReplicas: 2,
      maxReplicas: 5,
      metrics: [
        { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 60 } } },
        { type: "Resource", resource: { name: "memory", target: { type: "AverageValue", averageValue: "100Mi" } } },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 30 } },
    },
  });

interface HpaV1 {
  apiVersion: string;
  metadata: { name: string };
  spec: { targetCPUUtilizationPercentage?: number };
}

/** The first line of a watch at PATH (an event), then the connection is dropped. */
function firstWatchEvent(c: TestCluster, path: string): Promise<{ type: string; object: HpaV1 }> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.server.url}${path}`, { headers: { Authorization: `Bearer ${c.server.adminToken}` }, ca: c.server.caCert }, (res) => {
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        const nl = buffered.indexOf("\n");
        if (nl < 0) return;
        resolve(JSON.parse(buffered.slice(0, nl)));
        req.destroy();
      });
    });
    req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
    req.end();
  });
}

describe("autoscaling/v1 HorizontalPodAutoscalers over the stored v2 ones", () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  test("get, list and watch through v1 answer v1 objects: the cpu target as targetCPUUtilizationPercentage", async () => {
    const created = await c.raw("POST", V2, { body: hpaV2("web"), headers: { "Content-Type": "application/json" } });
    assert.equal(created.status, 201, created.body);

    const got = await c.raw("GET", `${V1}/web`);
    assert.equal(got.status, 200, got.body);
    const v1 = JSON.parse(got.body);
    assert.equal(v1.apiVersion, "autoscaling/v1");
    assert.equal(v1.kind, "HorizontalPodAutoscaler");
    assert.equal(v1.spec.targetCPUUtilizationPercentage, 60);
    assert.equal(v1.spec.minReplicas, 2);
    assert.equal(v1.spec.metrics, undefined, "v1 has no metrics list");
    assert.equal(v1.spec.behavior, undefined, "v1 has no behavior");

    const list = JSON.parse((await c.raw("GET", `${V1}?labelSelector=app%3Dweb`)).body);
    assert.equal(list.kind, "HorizontalPodAutoscalerList");
    assert.equal(list.apiVersion, "autoscaling/v1");
    assert.deepEqual(
      (list.items as HpaV1[]).map((i) => [i.metadata.name, i.apiVersion, i.spec.targetCPUUtilizationPercentage]),
      [["web", "autoscaling/v1", 60]],
    );

    const event = await firstWatchEvent(c, `${V1}?watch=1&resourceVersion=0`);
    assert.equal(event.type, "ADDED");
    assert.equal(event.object.apiVersion, "autoscaling/v1");
    assert.equal(event.object.spec.targetCPUUtilizationPercentage, 60);

    // the stored object is untouched by the reads: still v2, both metrics and the behavior
    const v2 = JSON.parse((await c.raw("GET", `${V2}/web`)).body);
    assert.equal(v2.spec.metrics.length, 2);
    assert.equal(v2.spec.behavior.scaleDown.stabilizationWindowSeconds, 30);
  });

  test("kubectl reads it through v1 by its full name", { skip: kubectlMissing }, async () => {
    const out = JSON.parse(await c.ok("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json"));
    assert.equal(out.apiVersion, "autoscaling/v1");
    assert.equal(out.spec.targetCPUUtilizationPercentage, 60);
    // the table is the stored kind's: the Targets column shows both metrics
    assert.match(await c.ok("get", "horizontalpodautoscalers.v1.autoscaling", "web"), /web\s+Deployment\/web\s+cpu: <unknown>\/60%, memory: <unknown>\/100Mi\s+2\s+5/);
  });

  test("update and patch through v1 are refused, and change nothing; delete through v1 removes it", async () => {
    const current = (await c.raw("GET", `${V1}/web`)).body;
    const put = await c.raw("PUT", `${V1}/web`, { body: current, headers: { "Content-Type": "application/json" } });
    assert.equal(put.status, 405);
    const patch = await c.raw("PATCH", `${V1}/web`, {
      body: JSON.stringify({ spec: { targetCPUUtilizationPercentage: 90 } }),
      headers: { "Content-Type": "application/merge-patch+json" },
    });
    assert.equal(patch.status, 405);
    const v2 = JSON.parse((await c.raw("GET", `${V2}/web`)).body);
    assert.equal(v2.spec.metrics[0].resource.target.averageUtilization, 60);
    assert.equal(v2.spec.metrics.length, 2);

    const del = await c.raw("DELETE", `${V1}/web`);
    assert.equal(del.status, 200, del.body);
    assert.equal(JSON.parse(del.body).status, "Success");
    assert.equal((await c.raw("GET", `${V2}/web`)).status, 404);
    assert.equal((await c.raw("GET", `${V1}/web`)).status, 404);
  });
});
