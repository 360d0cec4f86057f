// The API server's /metrics: a scrape parses as the Prometheus text format and counts what
// this test did (requests by verb/resource/code, a watch open while it runs, store calls,
// the controllers' work queues, the scheduler's attempts); the admin and a node may read it,
// nobody without a token.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { createNodeToken } from "../../src/cluster/api/node-token-admin.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { startScheduler } from "../../src/cluster/scheduler/index.ts";
import { Scrape } from "../helpers/prometheus.ts";
import { kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function scrape(c: TestCluster, token?: string): Promise<Scrape> {
  const r = await c.raw("GET", "/metrics", { token });
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  return new Scrape(r.body);
}

test("the API server's /metrics counts requests, watches, store calls, work queues and scheduling", { skip: kubectlMissing }, async () => {
  const c = await startTestCluster({
    startControllers: async (transport) => {
      const { startControllerManager } = await import("../../src/cluster/controllers/index.ts");
      const controllers = await startControllerManager(transport);
      const scheduler = await startScheduler(transport);
      return { stop: async () => (await scheduler.stop(), await controllers.stop()) };
    },
  });
  // A watch held open over HTTPS while the scrape is taken.
  const watch = request(`${c.server.url}/api/v1/namespaces/default/configmaps?watch=true`, { headers: { Authorization: `Bearer ${c.server.adminToken}` }, ca: c.server.caCert });
  watch.on("error", () => {});
  try {
    const watching = new Promise<void>((resolve) => watch.on("response", () => resolve()));
    watch.end();
    await watching;
    await c.ok("create", "configmap", "counted", "--from-literal=a=b");
    await c.ok("get", "configmap", "counted");
    assert.equal((await c.kubectl(["get", "configmap", "missing"])).code, 1);
    // A Deployment: its controllers' queues and the scheduler (no node: unschedulable) do work.
    await c.ok("create", "deployment", "web", "--image=busybox", "--replicas=1");

    const s = await until("the Deployment synced and its pod seen by the scheduler", async () => {
      const s = await scrape(c);
      const scheduled = (s.value("scheduler_schedule_attempts_total", { result: "unschedulable" }) ?? 0) >= 1;
      return scheduled && (s.value("workqueue_work_duration_seconds_count", { name: "deployment" }) ?? 0) >= 1 ? s : undefined;
    });
    s.family("apiserver_request_total", "COUNTER");
    s.family("apiserver_longrunning_requests", "GAUGE");
    assert.ok(s.value("apiserver_request_total", { verb: "POST", group: "", version: "v1", resource: "configmaps", scope: "namespace", code: "201" })! >= 1, "the create is counted with its 201");
    assert.ok(s.value("apiserver_request_total", { verb: "GET", resource: "configmaps", scope: "resource", code: "200" })! >= 1, "the get");
    assert.ok(s.value("apiserver_request_total", { verb: "GET", resource: "configmaps", code: "404" })! >= 1, "the get of a missing object, with its 404");
    assert.ok(s.value("apiserver_request_total", { verb: "POST", group: "apps", version: "v1", resource: "deployments", code: "201" })! >= 1, "the Deployment");
    // The controllers' own (in-process) requests count too: the ReplicaSet they made.
    assert.ok(s.value("apiserver_request_total", { verb: "POST", group: "apps", resource: "replicasets", code: "201" })! >= 1, "the controller's ReplicaSet create");
    s.family("apiserver_request_duration_seconds", "HISTOGRAM");
    assert.ok(s.value("apiserver_request_duration_seconds_count", { verb: "POST", resource: "configmaps" })! >= 1, "the create is timed");
    assert.ok(s.value("apiserver_request_duration_seconds_bucket", { verb: "POST", resource: "configmaps", le: "+Inf" })! >= 1);
    assert.ok(s.value("apiserver_longrunning_requests", { verb: "WATCH", resource: "configmaps", scope: "namespace" })! >= 1, "the open watch is long-running");
    assert.ok(s.value("etcd_requests_total", { operation: "create", type: "configmaps" })! >= 1, "the store's create");
    s.family("etcd_request_duration_seconds", "HISTOGRAM");
    assert.ok(s.value("etcd_request_duration_seconds_count", { operation: "get", type: "configmaps" })! >= 1, "the store's get, timed");
    assert.ok(s.value("workqueue_adds_total", { name: "deployment" })! >= 1, "the deployment controller's queue");
    assert.ok(s.samples("workqueue_depth", { name: "replicaset" }).length === 1, "the replicaset queue's depth");
    assert.ok(s.value("workqueue_queue_duration_seconds_count", { name: "deployment" })! >= 1, "the deployment queue's waits");
    assert.ok(s.value("workqueue_work_duration_seconds_count", { name: "deployment" })! >= 1, "the deployment controller's syncs");
    s.family("scheduler_scheduling_attempt_duration_seconds", "HISTOGRAM");
    assert.ok(s.value("scheduler_scheduling_attempt_duration_seconds_count", { result: "unschedulable", profile: "default-scheduler" })! >= 1);

    // The watch ends: no longer long-running.
    watch.destroy();
    await until("the watch no longer counted", async () => ((await scrape(c)).value("apiserver_longrunning_requests", { verb: "WATCH", resource: "configmaps", scope: "namespace" }) === 0 ? true : undefined));

    // Who may read it: kubectl get --raw as the admin; a node; no token is 401; another method is 405.
    new Scrape(await c.ok("get", "--raw", "/metrics")).family("apiserver_request_total");
    const { token: nodeToken } = await createNodeToken(Client.fromKubeconfig(c.server.kubeconfigPath), "node-a", undefined);
    (await scrape(c, nodeToken)).family("apiserver_request_total");
    const anonymous = await c.raw("GET", "/metrics", { token: null });
    assert.equal(anonymous.status, 401);
    const post = await c.raw("POST", "/metrics");
    assert.equal(post.status, 405);
  } finally {
    watch.destroy();
    await c.stop();
  }
});
