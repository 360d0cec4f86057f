// CoreDNS's answers for cluster names (pure): which names exist, NXDOMAIN vs NODATA, SRV weights.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EndpointSlice, Service } from "./_types.ts";
import { resolveQuestion, type ClusterView, type Resolution } from "./records.ts";

const svc = (name: string, spec: Service["spec"]): Service => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "shop" }, spec });
const services = [
  svc("web", { clusterIP: "10.43.1.2", ports: [{ name: "http", port: 80, protocol: "TCP" }, { name: "metrics", port: 9090, protocol: "TCP" }] }),
  svc("db", { clusterIP: "None", ports: [{ name: "pg", port: 5432 }] }),
  svc("empty", { clusterIP: "None" }),
  svc("ext", { type: "ExternalName", externalName: "db.example.com" }),
];
const dbSlice: EndpointSlice = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "db-1", namespace: "shop" },
  ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
  endpoints: [{ addresses: ["10.42.0.7"], hostname: "db-0" }, { addresses: ["10.42.0.8"] }, { addresses: ["10.42.0.9"], conditions: { ready: false } }],
};
const view: ClusterView = {
  service: (ns, name) => services.find((s) => ns === "shop" && s.metadata.name === name),
  slices: (ns, name) => (ns === "shop" && name === "db" ? [dbSlice] : []),
  hasNamespace: (ns) => ns === "shop" || ns === "default",
  services: () => services,
};
const ask = (name: string, type = "A"): Resolution => resolveQuestion({ name, type }, view, { domain: "cluster.local", ttl: 5 });
const data = (r: Resolution) => (r.forward ? "forward" : r.answers.map((a) => JSON.stringify((a as { data: unknown }).data)).join(" "));

test("a ClusterIP Service's A record; AAAA of it is NODATA with the SOA", () => {
  assert.equal(data(ask("web.shop.svc.cluster.local.")), '"10.43.1.2"');
  const aaaa = ask("web.shop.svc.cluster.local", "AAAA");
  assert.ok(!aaaa.forward && aaaa.rcode === "NOERROR" && aaaa.answers.length === 0);
  assert.equal(!aaaa.forward && aaaa.authorities[0]!.type, "SOA");
  assert.equal(!aaaa.forward && (aaaa.authorities[0] as { data: { minimum: number } }).data.minimum, 5);
});

test("NXDOMAIN for unknown Services, namespaces, labels and the search path's wrong guesses", () => {
  for (const name of ["nothere.shop.svc.cluster.local", "web.nons.svc.cluster.local", "web.shop.foo.cluster.local", "web.shop.svc.cluster.local.shop.svc.cluster.local", "empty.shop.svc.cluster.local", "nons.svc.cluster.local"]) {
    const r = ask(name);
    assert.ok(!r.forward && r.rcode === "NXDOMAIN", name);
  }
});

test("NODATA for a namespace, svc.<domain> and the domain", () => {
  for (const name of ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]) {
    const r = ask(name);
    assert.ok(!r.forward && r.rcode === "NOERROR" && r.answers.length === 0, name);
  }
});

test("headless: every ready endpoint, one by hostname or dashed address, SRV per endpoint", () => {
  assert.equal(data(ask("db.shop.svc.cluster.local")), '"10.42.0.7" "10.42.0.8"');
  assert.equal(data(ask("db-0.db.shop.svc.cluster.local")), '"10.42.0.7"');
  assert.equal(data(ask("10-42-0-8.db.shop.svc.cluster.local")), '"10.42.0.8"');
  assert.ok(!ask("10-42-0-9.db.shop.svc.cluster.local").forward && (ask("10-42-0-9.db.shop.svc.cluster.local") as { rcode: string }).rcode === "NXDOMAIN", "not ready: not published");
  const srv = ask("_pg._tcp.db.shop.svc.cluster.local", "SRV");
  assert.equal(data(srv), '{"priority":0,"weight":50,"port":5432,"target":"db-0.db.shop.svc.cluster.local"} {"priority":0,"weight":50,"port":5432,"target":"10-42-0-8.db.shop.svc.cluster.local"}');
  assert.equal(!srv.forward && srv.additionals.length, 2);
});

test("SRV of a ClusterIP Service's named port, of all its ports, and a missing port", () => {
  assert.equal(data(ask("_http._tcp.web.shop.svc.cluster.local", "SRV")), '{"priority":0,"weight":100,"port":80,"target":"web.shop.svc.cluster.local"}');
  assert.equal(data(ask("web.shop.svc.cluster.local", "SRV")).split("} {").length, 2);
  const missing = ask("_ftp._tcp.web.shop.svc.cluster.local", "SRV");
  assert.ok(!missing.forward && missing.rcode === "NXDOMAIN");
  const aOfSrvName = ask("_http._tcp.web.shop.svc.cluster.local", "A");
  assert.ok(!aOfSrvName.forward && aOfSrvName.rcode === "NOERROR" && aOfSrvName.answers.length === 0);
});

test("ExternalName is a CNAME; pods by dashed address; PTR; other names forwarded", () => {
  assert.equal(data(ask("ext.shop.svc.cluster.local")), '"db.example.com"');
  assert.equal(data(ask("10-42-0-5.shop.pod.cluster.local")), '"10.42.0.5"');
  assert.equal(data(ask("2.1.43.10.in-addr.arpa", "PTR")), '"web.shop.svc.cluster.local"');
  assert.equal(data(ask("7.0.42.10.in-addr.arpa", "PTR")), '"db-0.db.shop.svc.cluster.local"');
  assert.equal(ask("9.9.9.9.in-addr.arpa", "PTR").forward, true);
  assert.equal(ask("example.com").forward, true);
});
