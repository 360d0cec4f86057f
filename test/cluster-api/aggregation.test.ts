// API aggregation with the real kubectl: a small extension API server (HTTPS on 127.0.0.1, its
// certificate for api.wardle.svc from a CA of the test's own) trusts this server's front-proxy
// client certificate as a real one would — reading the CA and header names from
// kube-system/extension-apiserver-authentication — and serves wardle.example.com/v1alpha1
// flunders. An APIService behind a Service + Endpoints makes kubectl see and list them, the
// backend sees the caller in X-Remote-* and never its token; a backend that stops answering
// turns the APIService unavailable and requests 503.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

const skip = kubectlMissing;
let c: TestCluster;
let ext: Server | undefined;
let extPort = 0;
let caCert = "";
const seen: { user?: string; groups?: string; authorization?: string; clientCN?: string }[] = [];

function makeServingCert(dir: string, dnsName = "api.wardle.svc"): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=wardle-ca"]);
  writeFileSync(join(dir, "ext"), `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\n`);
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", `/CN=${dnsName}`]);
  run(["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tls.crt", "-days", "2", "-extfile", "ext"]);
  caCert = readFileSync(join(dir, "ca.crt"), "utf8");
  return { cert: readFileSync(join(dir, "tls.crt"), "utf8"), key: readFileSync(join(dir, "tls.key"), "utf8") };
}

const GV = "/apis/wardle.example.com/v1alpha1";

/** The extension server: trusts X-Remote-* only from a client certificate its requestheader CA signed, with an allowed name. */
function startExtension(serving: { cert: string; key: string }, auth: Record<string, string>): Promise<void> {
  const allowed = JSON.parse(auth["requestheader-allowed-names"]!) as string[];
  const userHeader = (JSON.parse(auth["requestheader-username-headers"]!) as string[])[0]!.toLowerCase();
  const groupHeader = (JSON.parse(auth["requestheader-group-headers"]!) as string[])[0]!.toLowerCase();
  ext = createServer({ ...serving, ca: auth["requestheader-client-ca-file"], requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const cn = sock.authorized ? String(sock.getPeerCertificate().subject?.CN ?? "") : "";
    if (!cn || !allowed.includes(cn)) {
      res.writeHead(401, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Unauthorized", code: 401 }));
    }
    const groups = req.headers[groupHeader];
    const user = String(req.headers[userHeader] ?? "");
    seen.push({ user, groups: Array.isArray(groups) ? groups.join(",") : String(groups ?? ""), authorization: req.headers.authorization, clientCN: cn });
    const send = (body: unknown) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? "").split("?")[0];
    if (path === GV) {
      return send({ kind: "APIResourceList", apiVersion: "v1", groupVersion: "wardle.example.com/v1alpha1", resources: [{ name: "flunders", singularName: "flunder", namespaced: true, kind: "Flunder", verbs: ["get", "list"], shortNames: ["fl"] }, { name: "flunders/status", singularName: "", namespaced: true, kind: "Flunder", verbs: ["get"] }] });
    }
    // A stand-in metrics-server: one NodeMetrics no agent of this server could report.
    if (path === "/apis/metrics.k8s.io/v1beta1") {
      return send({ kind: "APIResourceList", apiVersion: "v1", groupVersion: "metrics.k8s.io/v1beta1", resources: [{ name: "nodes", singularName: "", namespaced: false, kind: "NodeMetrics", verbs: ["get", "list"] }, { name: "pods", singularName: "", namespaced: true, kind: "PodMetrics", verbs: ["get", "list"] }] });
    }
    if (path === "/apis/metrics.k8s.io/v1beta1/nodes") {
      return send({ kind: "NodeMetricsList", apiVersion: "metrics.k8s.io/v1beta1", metadata: {}, items: [{ metadata: { name: "from-metrics-server", creationTimestamp: "2026-01-01T00:00:00Z" }, timestamp: "2026-01-01T00:00:00Z", window: "15s", usage: { cpu: "123m", memory: "45Mi" } }] });
    }
    if (path === `${GV}/namespaces/default/flunders`) {
      return send({ kind: "FlunderList", apiVersion: "wardle.example.com/v1alpha1", metadata: { resourceVersion: "1" }, items: [{ kind: "Flunder", apiVersion: "wardle.example.com/v1alpha1", metadata: { name: "f1", namespace: "default", creationTimestamp: "2026-01-01T00:00:00Z", annotations: { "seen-user": user } } }] });
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }));
  });
  return new Promise((resolve) => ext!.listen(extPort, "127.0.0.1", () => {
    extPort = (ext!.address() as AddressInfo).port;
    resolve();
  }));
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + 60_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const available = async () => (await c.ok("get", "apiservice", "v1alpha1.wardle.example.com", "-o", "jsonpath={.status.conditions[?(@.type==\"Available\")].status}/{.status.conditions[?(@.type==\"Available\")].reason}")).trim();

before(async () => {
  if (skip) return;
  c = await startTestCluster({ aggregatorIntervalMs: 500 });
});
after(async () => {
  await new Promise((r) => (ext ? ext.close(r) : r(undefined)));
  await c?.stop();
});

test("the server's own group/versions are Local APIServices, always available", { skip }, async () => {
  const out = await c.ok("get", "apiservices");
  assert.match(out, /^NAME\s+SERVICE\s+AVAILABLE\s+AGE$/m);
  assert.match(out, /^v1\.\s+Local\s+True\s/m);
  assert.match(out, /^v1\.apps\s+Local\s+True\s/m);
  assert.match(out, /^v1\.apiregistration\.k8s\.io\s+Local\s+True\s/m);
});

test("an extension API server behind an APIService: discovery, proxied lists with the caller in X-Remote-*, unavailability", { skip }, async () => {
  const auth = JSON.parse(await c.ok("get", "configmap", "-n", "kube-system", "extension-apiserver-authentication", "-o", "json")).data as Record<string, string>;
  assert.match(auth["requestheader-client-ca-file"]!, /BEGIN CERTIFICATE/);
  await startExtension(makeServingCert(join(c.dir, "wardle")), auth);

  await c.ok("create", "namespace", "wardle");
  const manifest = JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      { apiVersion: "v1", kind: "Service", metadata: { name: "api", namespace: "wardle" }, spec: { ports: [{ port: 443, targetPort: extPort }] } },
      { apiVersion: "v1", kind: "Endpoints", metadata: { name: "api", namespace: "wardle" }, subsets: [{ addresses: [{ ip: "127.0.0.1" }], ports: [{ port: extPort }] }] },
      { apiVersion: "apiregistration.k8s.io/v1", kind: "APIService", metadata: { name: "v1alpha1.wardle.example.com" }, spec: { group: "wardle.example.com", version: "v1alpha1", groupPriorityMinimum: 1000, versionPriority: 15, service: { namespace: "wardle", name: "api" }, caBundle: Buffer.from(caCert).toString("base64") } },
    ],
  });
  const created = await c.kubectl(["create", "-f", "-"], { input: manifest });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(await eventually("Available", async () => ((await available()) === "True/Passed" ? "ok" : undefined)), "ok");
  assert.match(await c.ok("get", "apiservice", "v1alpha1.wardle.example.com"), /v1alpha1\.wardle\.example\.com\s+wardle\/api\s+True\s/);

  // Discovery carries the extension's resources (kubectl reads the aggregated v2 form).
  assert.match(await c.ok("api-resources", "--api-group", "wardle.example.com"), /^flunders\s+fl\s+wardle\.example\.com\/v1alpha1\s+true\s+Flunder$/m);
  const group = await c.raw("GET", "/apis/wardle.example.com");
  assert.equal(group.status, 200);
  assert.equal(JSON.parse(group.body).preferredVersion.groupVersion, "wardle.example.com/v1alpha1");

  const before = seen.length;
  assert.equal(await c.ok("get", "flunders", "-o", "jsonpath={.items[0].metadata.name}={.items[0].metadata.annotations.seen-user}"), "f1=system:admin");
  const hit = seen.slice(before).find((s) => s.user === "system:admin");
  assert.ok(hit, JSON.stringify(seen));
  assert.equal(hit.clientCN, "front-proxy-client");
  assert.match(hit.groups!, /system:masters/);
  assert.equal(hit.authorization, undefined, "the caller's bearer token is not passed on");
  // Without a token the request never reaches the extension.
  assert.equal((await c.raw("GET", `${GV}/namespaces/default/flunders`, { token: null })).status, 401);

  // The backend stops answering: the APIService turns unavailable, requests 503.
  await new Promise((r) => ext!.close(r));
  ext!.closeAllConnections();
  ext = undefined;
  assert.equal(await eventually("unavailable", async () => ((await available()) === "False/FailedDiscoveryCheck" ? "ok" : undefined)), "ok");
  const r = await c.raw("GET", `${GV}/namespaces/default/flunders`);
  assert.equal(r.status, 503);
  assert.equal(JSON.parse(r.body).reason, "ServiceUnavailable");

  // Endpoints gone: MissingEndpoints.
  await c.ok("delete", "endpoints", "-n", "wardle", "api");
  assert.equal(await eventually("MissingEndpoints", async () => ((await available()) === "False/MissingEndpoints" ? "ok" : undefined)), "ok");
});

test("metrics.k8s.io is answered by the server until an APIService v1beta1.metrics.k8s.io names a metrics-server, then proxied there; once it is deleted, answered here again", { skip }, async () => {
  const nodeMetrics = async () => (JSON.parse(await c.ok("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
  // No APIService names the group (as in a cluster without metrics-server), yet the server answers it.
  assert.equal((await c.kubectl(["get", "apiservice", "v1beta1.metrics.k8s.io"])).code, 1);
  assert.ok(!(await nodeMetrics()).includes("from-metrics-server"));

  const auth = JSON.parse(await c.ok("get", "configmap", "-n", "kube-system", "extension-apiserver-authentication", "-o", "json")).data as Record<string, string>;
  await startExtension(makeServingCert(join(c.dir, "metrics-server"), "metrics-server.metrics.svc"), auth);
  await c.ok("create", "namespace", "metrics");
  const apiService = (spec: Record<string, unknown>) => JSON.stringify({ apiVersion: "apiregistration.k8s.io/v1", kind: "APIService", metadata: { name: "v1beta1.metrics.k8s.io" }, spec: { group: "metrics.k8s.io", version: "v1beta1", groupPriorityMinimum: 100, versionPriority: 100, ...spec } });
  const manifest = JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      { apiVersion: "v1", kind: "Service", metadata: { name: "metrics-server", namespace: "metrics" }, spec: { ports: [{ port: 443, targetPort: extPort }] } },
      { apiVersion: "v1", kind: "Endpoints", metadata: { name: "metrics-server", namespace: "metrics" }, subsets: [{ addresses: [{ ip: "127.0.0.1" }], ports: [{ port: extPort }] }] },
    ],
  });
  assert.equal((await c.kubectl(["create", "-f", "-"], { input: manifest })).code, 0);
  // As metrics-server's manifest is installed.
  const applied = await c.kubectl(["apply", "-f", "-"], { input: apiService({ service: { namespace: "metrics", name: "metrics-server" }, caBundle: Buffer.from(caCert).toString("base64") }) });
  assert.equal(applied.code, 0, applied.stderr);
  const status = async () => (await c.ok("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.status.conditions[?(@.type==\"Available\")].reason}")).trim();
  await eventually("the metrics-server APIService Available", async () => ((await status()) === "Passed" ? true : undefined));
  const before = seen.length;
  assert.deepEqual(await nodeMetrics(), ["from-metrics-server"]);
  assert.ok(seen.slice(before).some((s) => s.user === "system:admin" && s.clientCN === "front-proxy-client"), "the request reached the metrics-server through the front proxy");

  // metrics-server uninstalled: the server answers again.
  await c.ok("delete", "apiservice", "v1beta1.metrics.k8s.io");
  await eventually("metrics answered locally", async () => ((await nodeMetrics()).includes("from-metrics-server") ? undefined : true));
  await new Promise((r) => ext!.close(r));
  ext!.closeAllConnections();
  ext = undefined;
});

test("an APIService must be named <version>.<group> and have valid priorities", { skip }, async () => {
  const bad = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "apiregistration.k8s.io/v1", kind: "APIService", metadata: { name: "wrong" }, spec: { group: "a.example.com", version: "v1", groupPriorityMinimum: 0, versionPriority: 15, service: { namespace: "x", name: "y" } } }) });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /The APIService "wrong" is invalid: \n\* metadata.name: Invalid value: "wrong": must be `spec.version\+"."\+spec.group`: "v1.a.example.com"\n\* spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000/);
});
