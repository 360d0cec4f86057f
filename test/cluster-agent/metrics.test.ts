// Resource metrics end to end, with a real agent (its own process) and the real kubectl:
// `kubectl top nodes|pods` through the metrics.k8s.io API the API server answers from the
// kubelet's Summary API, nonzero for a pod burning cpu; the agent's /metrics (kubelet_*,
// prober_*, cAdvisor's container_*) parsed as Prometheus text with plausible values.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { createNodeToken } from "../../src/cluster/api/index.ts";
import { Scrape } from "../helpers/prometheus.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const podsYaml = (node: string) => `
apiVersion: v1
kind: Pod
metadata: {name: busy, labels: {app: busy}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: burn, image: busybox, imagePullPolicy: Never, command: [sh, -c, "while :; do :; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: idle}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: sleep
    image: busybox
    imagePullPolicy: Never
    command: [sleep, "3600"]
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
`;

/** millicores from kubectl top's CPU column ("251m", or "1" for whole cores). */
const millicores = (s: string) => (s.endsWith("m") ? Number(s.slice(0, -1)) : Number(s) * 1000);
/** MiB from kubectl top's MEMORY column ("12Mi"). */
const mebibytes = (s: string) => Number(s.replace(/Mi$/, ""));

function kubeletGet(node: TestNode, host: string, port: number, path: string, withCert = true): Promise<{ status: number; body: string }> {
  const tls = join(node.cluster.dir, "server", "tls");
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, ca: node.cluster.server.caCert, ...(withCert ? { cert: readFileSync(join(tls, "kubelet-client.crt")), key: readFileSync(join(tls, "kubelet-client.key")) } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("resource metrics: kubectl top and the agent's /metrics", { skip: skipReason() }, () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
    await node.start();
    await node.kubectl(["apply", "-f", "-"], podsYaml(node.name));
    await until("both pods Running and idle Ready", async () => {
      const out = await node.kubectl(["get", "pods", "--no-headers"]);
      return /^busy\s+1\/1\s+Running/m.test(out) && /^idle\s+1\/1\s+Running/m.test(out) ? true : undefined;
    }, 120_000);
  });
  after(async () => {
    await node?.cleanup();
  });

  test("kubectl top nodes and pods show the busy pod's cpu and memory", async () => {
    const nodes = await until("kubectl top nodes", async () => {
      const r = await node.cluster.kubectl(["top", "nodes", "--no-headers"]);
      return r.code === 0 && r.stdout.includes(node.name) ? r.stdout : undefined;
    });
    const [, cpu, cpuPct, mem] = nodes.trim().split(/\s+/);
    assert.ok(millicores(cpu!) > 0, `node cpu: ${nodes}`);
    assert.match(cpuPct!, /^\d+%$/);
    assert.ok(mebibytes(mem!) > 0, `node memory: ${nodes}`);

    // The busy loop uses a good part of a core; idle sleeps. Both have memory.
    const pods = await until("the busy pod burning in kubectl top pods", async () => {
      const r = await node.cluster.kubectl(["top", "pods", "--no-headers"]);
      const busy = /^busy\s+(\S+)\s+(\S+)/m.exec(r.stdout);
      return busy && millicores(busy[1]!) >= 50 ? r.stdout : undefined;
    });
    const busy = /^busy\s+(\S+)\s+(\S+)/m.exec(pods)!;
    const idle = /^idle\s+(\S+)\s+(\S+)/m.exec(pods);
    assert.ok(idle, `idle is listed: ${pods}`);
    assert.ok(millicores(busy[1]!) > millicores(idle[1]!), `busy burns more than idle: ${pods}`);
    assert.ok(mebibytes(busy[2]!) >= 0 && mebibytes(idle[2]!) >= 0);

    const containers = await node.kubectl(["top", "pods", "--containers", "-l", "app=busy", "--no-headers"]);
    assert.match(containers, /^busy\s+burn\s+\d+m\s+\d+Mi/m);
    assert.ok(!containers.includes("idle"), "the label selector leaves idle out");
    const all = await node.kubectl(["top", "pods", "-A", "--no-headers"]);
    assert.match(all, /^default\s+busy\s+\d+m/m);

    // The raw API: metrics-server's shapes and quantities.
    const podMetrics = JSON.parse(await node.kubectl(["get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy"]));
    assert.equal(podMetrics.kind, "PodMetrics");
    assert.equal(podMetrics.apiVersion, "metrics.k8s.io/v1beta1");
    assert.match(podMetrics.window, /^\d+(\.\d+)?s$/);
    assert.match(podMetrics.containers[0].usage.cpu, /^\d+n$/);
    assert.match(podMetrics.containers[0].usage.memory, /^\d+Ki$/);
    assert.ok(Date.parse(podMetrics.timestamp) > 0);

    // A pod that does not exist; a node may not read the metrics API.
    const missing = await node.cluster.kubectl(["top", "pod", "nosuch"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /podmetrics\.metrics\.k8s\.io "default\/nosuch" not found/);
    const { token } = await createNodeToken(node.admin, "other-node", undefined);
    const asNode = await node.cluster.raw("GET", "/apis/metrics.k8s.io/v1beta1/nodes", { token });
    assert.equal(asNode.status, 403, asNode.body);
  });

  test("the agent's /metrics: running pods and containers, probes, start latency, per-container cgroup usage", async () => {
    const n = JSON.parse(await node.kubectl(["get", "node", node.name, "-o", "json"]));
    const host = (n.status.addresses as { type: string; address: string }[]).find((a) => a.type === "InternalIP")!.address;
    const port = n.status.daemonEndpoints.kubeletEndpoint.Port as number;
    const s = await until("a scrape with the readiness probe counted", async () => {
      const r = await kubeletGet(node, host, port, "/metrics");
      assert.equal(r.status, 200, r.body);
      const s = new Scrape(r.body);
      return (s.value("prober_probe_total", { pod: "idle", probe_type: "Readiness", result: "successful" }) ?? 0) >= 1 ? s : undefined;
    });
    assert.ok(s.value("kubelet_running_pods")! >= 2, "two pods run");
    assert.ok(s.value("kubelet_running_containers", { container_state: "running" })! >= 2);
    assert.ok(s.value("kubelet_runtime_operations_duration_seconds_count", { operation_type: "start_container" })! >= 2, "both starts timed");
    s.family("container_cpu_usage_seconds_total", "COUNTER");
    assert.ok(s.value("container_cpu_usage_seconds_total", { pod: "busy", container: "burn", namespace: "default" })! > 0, "the busy container's cpu time");
    assert.ok(s.value("container_memory_working_set_bytes", { pod: "idle", container: "sleep" })! > 0, "idle's working set");
    assert.ok(s.value("container_processes", { pod: "busy", container: "burn" })! >= 1, "busy's shell");
    // The API server's requests are not counted here (the agent is its own process).
    assert.equal(s.value("apiserver_request_total"), undefined);

    // The Summary API, and a caller without the API server's client certificate.
    const summary = JSON.parse((await kubeletGet(node, host, port, "/stats/summary")).body);
    assert.equal(summary.node.nodeName, node.name);
    const busyPod = summary.pods.find((p: { podRef: { name: string } }) => p.podRef.name === "busy");
    assert.ok(busyPod.containers[0].cpu.usageCoreNanoSeconds > 0);
    await assert.rejects(kubeletGet(node, host, port, "/metrics", false));
  });
  test("nodes/NAME/proxy reaches the kubelet: stats, metrics, healthz through kubectl get --raw; refused to a node, 404 for no node", async () => {
    const summary = JSON.parse(await node.kubectl(["get", "--raw", `/api/v1/nodes/${node.name}/proxy/stats/summary`]));
    assert.equal(summary.node.nodeName, node.name);
    assert.ok(summary.pods.some((p: { podRef: { name: string } }) => p.podRef.name === "busy"));
    assert.equal(await node.kubectl(["get", "--raw", `/api/v1/nodes/${node.name}/proxy/healthz`]), "ok");
    assert.match(await node.kubectl(["get", "--raw", `/api/v1/nodes/${node.name}/proxy/metrics`]), /^kubelet_running_pods \d+/m);
    // A path the kubelet does not serve: its 404, passed back.
    assert.equal((await node.cluster.raw("GET", `/api/v1/nodes/${node.name}/proxy/nosuch/path`)).status, 404);
    const missing = await node.cluster.raw("GET", "/api/v1/nodes/no-such-node/proxy/healthz");
    assert.equal(missing.status, 404, missing.body);
    const { token } = await createNodeToken(node.admin, "other-node", undefined);
    const asNode = await node.cluster.raw("GET", `/api/v1/nodes/${node.name}/proxy/healthz`, { token });
    assert.equal(asNode.status, 403, asNode.body);
    assert.match(JSON.parse(asNode.body).message, /cannot get resource "nodes\/proxy" in API group "" at the cluster scope/);
  });
});
