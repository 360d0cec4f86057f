// Which endpoints a Service port uses, and which rules and transactions follow (pure).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EndpointSlice, Service } from "./_types.ts";
import { planServicePorts } from "./service-ports.ts";
import { addServicePort, emptyRuleset, type Ruleset } from "./nft-ruleset.ts";
import { diffScript } from "./nft-transaction.ts";

const net = { clusterCIDRs: ["10.42.0.0/16"], serviceCIDR: "10.43.0.0/16" };

function svc(spec: Service["spec"], name = "web"): Service {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: "shop" }, spec: { clusterIP: "10.43.1.2", ports: [{ name: "http", port: 80, protocol: "TCP", nodePort: 30080 }], ...spec } };
}
function slice(endpoints: EndpointSlice["endpoints"], name = "web-a"): EndpointSlice {
  return { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name, namespace: "shop" }, addressType: "IPv4", ports: [{ name: "http", port: 8080, protocol: "TCP" }], endpoints };
}
const ep = (ip: string, nodeName: string, conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }) => ({ addresses: [ip], nodeName, ...(conditions ? { conditions } : {}) });

function rules(s: Service, slices: EndpointSlice[], node = "n1"): Ruleset {
  const rs = emptyRuleset();
  for (const p of planServicePorts(s, slices, node)) addServicePort(rs, p, net);
  return rs;
}

test("headless and ExternalName Services are not proxied", () => {
  assert.deepEqual(planServicePorts(svc({ clusterIP: "None" }), [slice([ep("10.42.0.5", "n1")])], "n1"), []);
  assert.deepEqual(planServicePorts(svc({ type: "ExternalName", externalName: "example.com", clusterIP: "" }), [], "n1"), []);
});

test("ready endpoints are used; serving-terminating ones only when none is ready", () => {
  const [p] = planServicePorts(svc({}), [slice([ep("10.42.0.5", "n1"), ep("10.42.0.6", "n2", { ready: false }), ep("10.42.0.7", "n1", { ready: false, serving: true, terminating: true })])], "n1");
  assert.deepEqual(p!.clusterEndpoints.map((e) => e.ip), ["10.42.0.5"]);
  const [q] = planServicePorts(svc({}), [slice([ep("10.42.0.6", "n2", { ready: false }), ep("10.42.0.7", "n1", { ready: false, serving: true, terminating: true })])], "n1");
  assert.deepEqual(q!.clusterEndpoints.map((e) => e.ip), ["10.42.0.7"]);
  assert.equal(q!.clusterEndpoints[0]!.port, 8080);
});

test("endpoints from several slices are merged, a slice for another port name is ignored", () => {
  const other = { ...slice([ep("10.42.0.9", "n1")], "web-b"), ports: [{ name: "metrics", port: 9090, protocol: "TCP" as const }] };
  const [p] = planServicePorts(svc({}), [slice([ep("10.42.0.5", "n1")]), slice([ep("10.42.0.6", "n1"), ep("10.42.0.5", "n1")], "web-c"), other], "n1");
  assert.deepEqual(p!.clusterEndpoints.map((e) => e.ip), ["10.42.0.5", "10.42.0.6"]);
});

test("a ClusterIP maps to a chain choosing at random among endpoint chains that DNAT", () => {
  const rs = rules(svc({}), [slice([ep("10.42.0.5", "n1"), ep("10.42.0.6", "n2")])]);
  const el = rs.elements.get("service-ips 10.43.1.2 . tcp . 80");
  assert.match(el!.value!, /^goto service-[A-Z2-7]{8}-shop\/web\/tcp\/http$/);
  const chain = rs.chains.get(el!.value!.slice(5))!;
  assert.match(chain[0]!, /ip saddr != \{ 10\.42\.0\.0\/16 \} jump mark-for-masquerade/);
  assert.match(chain.at(-1)!, /^numgen random mod 2 vmap \{ 0 : goto endpoint-\S+__10\.42\.0\.5\/8080, 1 : goto endpoint-\S+__10\.42\.0\.6\/8080 \}$/);
  const endpoint = [...rs.chains].find(([n]) => n.endsWith("__10.42.0.5/8080"))![1];
  assert.deepEqual(endpoint, ["ip saddr 10.42.0.5 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.42.0.5:8080"]);
  assert.equal(rs.elements.has("service-nodeports tcp . 30080"), false, "a ClusterIP Service has no NodePort");
});

test("no endpoints: reject; a Local policy with endpoints only elsewhere: drop", () => {
  const none = rules(svc({ type: "NodePort" }), []);
  assert.equal(none.elements.get("no-endpoint-services 10.43.1.2 . tcp . 80")!.value, "goto reject-chain");
  assert.equal(none.elements.get("no-endpoint-nodeports tcp . 30080")!.value, "goto reject-chain");
  const elsewhere = rules(svc({ internalTrafficPolicy: "Local" }), [slice([ep("10.42.0.6", "n2")])]);
  assert.equal(elsewhere.elements.get("no-endpoint-services 10.43.1.2 . tcp . 80")!.value, "drop");
});

test("externalTrafficPolicy Local: pods and the node reach every endpoint, others only this node's", () => {
  const rs = rules(svc({ type: "NodePort", externalTrafficPolicy: "Local" }), [slice([ep("10.42.0.5", "n1"), ep("10.42.0.6", "n2")])]);
  const ext = rs.elements.get("service-nodeports tcp . 30080")!.value!.slice(5);
  const chain = rs.chains.get(ext)!;
  assert.match(chain[0]!, /^ip saddr \{ 10\.42\.0\.0\/16 \} goto service-/);
  assert.match(chain.at(-1)!, /^goto local-/);
  const local = rs.chains.get(chain.at(-1)!.slice(5))!;
  assert.match(local.at(-1)!, /mod 1 vmap \{ 0 : goto endpoint-\S+__10\.42\.0\.5\/8080 \}/);
});

test("ClientIP affinity: a timed set per endpoint, checked before the random pick", () => {
  const rs = rules(svc({ sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }), [slice([ep("10.42.0.5", "n1")])]);
  const [set, body] = [...rs.sets][0]!;
  assert.match(set, /^affinity-.*__10\.42\.0\.5\/8080$/);
  assert.match(body, /timeout 60s/);
  const service = [...rs.chains].find(([n]) => n.startsWith("service-"))![1];
  assert.equal(service[1], `ip saddr @${set} goto ${set.replace(/^affinity-/, "endpoint-")}`);
});

test("a transaction touches only what changed, and deletes a Service's chains after its map elements", () => {
  const a = rules(svc({}), [slice([ep("10.42.0.5", "n1"), ep("10.42.0.6", "n1")])]);
  const other = rules(svc({ clusterIP: "10.43.9.9" }, "db"), [slice([ep("10.42.0.8", "n1")])]);
  const both = emptyRuleset();
  for (const rs of [a, other]) {
    for (const [k, v] of rs.chains) both.chains.set(k, v);
    for (const [k, v] of rs.elements) both.elements.set(k, v);
  }
  assert.deepEqual(diffScript("t", both, both), []);
  const lines = diffScript("t", both, other);
  assert.ok(lines.every((l) => !l.includes("shop/db/")), "the other Service is untouched");
  const firstDelete = lines.findIndex((l) => l.startsWith("delete chain"));
  const elementDelete = lines.findIndex((l) => l.startsWith("delete element ip t service-ips { 10.43.1.2 . tcp . 80 }"));
  assert.ok(elementDelete >= 0 && elementDelete < firstDelete, lines.join("\n"));
  assert.equal(lines.filter((l) => l.startsWith("delete chain")).length, 3);
  // One endpoint more: its chain is added, the service chain refilled; nothing else.
  const grown = rules(svc({}), [slice([ep("10.42.0.5", "n1"), ep("10.42.0.6", "n1"), ep("10.42.0.7", "n1")])]);
  const delta = diffScript("t", a, grown);
  assert.equal(delta.filter((l) => l.startsWith("add chain")).length, 1);
  assert.equal(delta.filter((l) => l.startsWith("flush chain")).length, 1);
  assert.ok(delta.every((l) => !l.includes("element")));
});

test("a Service served only to some sources (node-local DNS) lets others fall through", () => {
  const rs = emptyRuleset();
  for (const p of planServicePorts(svc({}), [slice([ep("10.42.0.1", "n1")])], "n1")) addServicePort(rs, { ...p, onlyFrom: ["10.42.0.0/24"] }, net);
  const chain = [...rs.chains].find(([n]) => n.startsWith("service-"))![1];
  assert.equal(chain[0], "ip saddr != { 10.42.0.0/24 } fib saddr type != local return");
});
