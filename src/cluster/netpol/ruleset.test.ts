// The pure half of NetworkPolicy: which pods get chains, what the rules say, and that a pod
// joining a selected set changes elements only (the table is not rebuilt), while a new policy
// rebuilds it. Against a real kernel: test/cluster-netpol/truth-table.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NetworkPolicy, Pod } from "./_types.ts";
import { policyScript, renderPolicies, type PolicyState } from "./ruleset.ts";

const pod = (ns: string, name: string, ip: string, node = "n1", labels: Record<string, string> = { pod: name }): Pod => ({
  metadata: { namespace: ns, name, labels },
  spec: { nodeName: node, containers: [{ ports: [{ name: "serve-81", containerPort: 81 }] }] },
  status: { podIP: ip, phase: "Running" },
});
const policy = (ns: string, name: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({ metadata: { namespace: ns, name }, spec });
const state = (pods: Pod[], policies: NetworkPolicy[]): PolicyState => ({
  pods,
  namespaces: new Map(["x", "y"].map((n) => [n, { "kubernetes.io/metadata.name": n }])),
  policies,
});
const text = (s: PolicyState) => renderPolicies("t", "n1", s).structure.join("\n");

test("only selected local pods get chains; policyTypes defaults to Ingress, plus Egress with egress rules", () => {
  const pods = [pod("x", "a", "10.42.0.2"), pod("x", "b", "10.42.0.3"), pod("x", "far", "10.42.1.2", "n2")];
  const out = text(state(pods, [policy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, egress: [{}] })]));
  assert.match(out, /map ingress-pods \{ type ipv4_addr : verdict; elements = \{ 10\.42\.0\.2 : jump ingress-\w+ \}/);
  assert.match(out, /map egress-pods \{ type ipv4_addr : verdict; elements = \{ 10\.42\.0\.2 : jump egress-\w+ \}/);
  assert.doesNotMatch(out, /10\.42\.0\.3|10\.42\.1\.2 :/);
  assert.match(out, /chain egress-\w+ \{\n {4}return\n/, "an empty egress rule allows everything");
  assert.match(out, /chain ingress-\w+ \{\n {4}reject with icmp type admin-prohibited\n/, "no ingress rules: deny");
});

test("namespace and pod selectors in one peer are ANDed into one set; ports, endPort and named ports", () => {
  const pods = [pod("x", "a", "10.42.0.2"), pod("y", "a", "10.42.0.4"), pod("y", "b", "10.42.0.5")];
  const np = policy("x", "p", {
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "y" } }, podSelector: { matchLabels: { pod: "b" } } }], ports: [{ port: 80, endPort: 90 }, { port: "serve-81" }, { port: "no-such-port" }, { protocol: "UDP", port: 53 }] }],
  });
  const rs = renderPolicies("t", "n1", state(pods, [np]));
  const sets = [...rs.sets.values()];
  assert.deepEqual(sets.map((s) => s.elements), [["10.42.0.5"]]);
  const out = rs.structure.join("\n");
  assert.match(out, /ip saddr @peer-\w+ meta l4proto tcp th dport 80-90 accept/);
  assert.match(out, /ip saddr @peer-\w+ meta l4proto tcp th dport \{ 81 \} accept/);
  assert.match(out, /ip saddr @peer-\w+ meta l4proto udp th dport 53 accept/);
  assert.doesNotMatch(out, /no-such-port/);
});

test("ipBlock with except; a CIDR nft would refuse is skipped instead of failing every policy", () => {
  const np = policy("x", "p", { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.42.0.0/24"] } }, { ipBlock: { cidr: "not-a-cidr" } }, { ipBlock: { cidr: "fd00::/8" } }] }] });
  const out = text(state([pod("x", "a", "10.42.0.2")], [np]));
  assert.match(out, /ip saddr 10\.0\.0\.0\/8 ip saddr != \{ 10\.42\.0\.0\/24 \} accept/);
  assert.doesNotMatch(out, /not-a-cidr|fd00/);
});

test("a pod joining a selected set is applied as element changes; a new policy replaces the table", () => {
  const np = policy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] });
  const before = renderPolicies("t", "n1", state([pod("x", "a", "10.42.0.2"), pod("x", "b", "10.42.0.3")], [np]));
  const joined = renderPolicies("t", "n1", state([pod("x", "a", "10.42.0.2"), pod("x", "b", "10.42.0.3"), pod("x", "b2", "10.42.0.9", "n2", { pod: "b" })], [np]));
  const [set] = [...joined.sets.keys()];
  assert.deepEqual(policyScript("t", before, joined), [`add element ip t ${set} { 10.42.0.9 }`]);
  assert.deepEqual(policyScript("t", joined, before), [`delete element ip t ${set} { 10.42.0.9 }`]);
  assert.deepEqual(policyScript("t", before, before), []);
  const full = policyScript("t", before, renderPolicies("t", "n1", state([pod("x", "a", "10.42.0.2")], [np, policy("x", "q", { podSelector: {}, policyTypes: ["Egress"] })])));
  assert.deepEqual(full.slice(0, 2), ["add table ip t", "delete table ip t"]);
});
