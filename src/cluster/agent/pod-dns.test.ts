// A pod's resolv.conf by dnsPolicy (pure), as the kubelet writes it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseResolvConf, podResolvConf } from "./pod-dns.ts";
import type { Pod } from "./pod-types.ts";

const node = parseResolvConf("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n");
const cluster = { servers: ["10.43.0.10"], domain: "cluster.local" };
const pod = (spec: Partial<Pod["spec"]>): Pod => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "shop", uid: "u1" }, spec: { containers: [], ...spec } }) as Pod;

test("ClusterFirst: cluster DNS, the namespace's search path then the node's, ndots:5", () => {
  assert.equal(podResolvConf(pod({}), cluster, node), "nameserver 10.43.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n");
});

test("hostNetwork makes ClusterFirst mean Default; ClusterFirstWithHostNet keeps cluster DNS", () => {
  assert.equal(podResolvConf(pod({ hostNetwork: true }), cluster, node), "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n");
  assert.match(podResolvConf(pod({ hostNetwork: true, dnsPolicy: "ClusterFirstWithHostNet" }), cluster, node), /^nameserver 10\.43\.0\.10$/m);
});

test("Default is the node's file; without cluster DNS ClusterFirst falls back to it", () => {
  assert.equal(podResolvConf(pod({ dnsPolicy: "Default" }), cluster, node), "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n");
  assert.equal(podResolvConf(pod({}), { servers: [], domain: "cluster.local" }, node), "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n");
});

test("dnsConfig adds to the policy's file: None is dnsConfig alone; options replace by name", () => {
  const cfg = { nameservers: ["10.43.0.10", "192.0.2.1"], searches: ["a.example"], options: [{ name: "ndots", value: "2" }, { name: "edns0" }] };
  assert.equal(podResolvConf(pod({ dnsPolicy: "None", dnsConfig: cfg }), cluster, node), "nameserver 10.43.0.10\nnameserver 192.0.2.1\nsearch a.example\noptions ndots:2 edns0\n");
  assert.equal(podResolvConf(pod({ dnsConfig: cfg }), cluster, node), "nameserver 10.43.0.10\nnameserver 192.0.2.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example a.example\noptions ndots:2 edns0\n");
});
