import { test } from "node:test";
import assert from "node:assert/strict";
import { node, pod, snapshotOf } from "./_fixtures.ts";
import { fitErrorMessage } from "./fit-error.ts";
import type { Snapshot } from "./framework.ts";
import { PodInfo } from "./node-info.ts";
import { feasibleNodesToFind, schedule } from "./schedule.ts";
import type { Pod } from "./_types.ts";
import { delayedClaims, SELECTED_NODE_ANNOTATION } from "./plugins/volume-binding.ts";

/** Where the pod goes, or the FailedScheduling message. */
function place(p: Pod, snap: Snapshot, random = () => 0): string {
  const r = schedule(new PodInfo(p), snap, { random });
  return r.node ?? fitErrorMessage(r.diagnosis);
}

/** How often each node is chosen over many tie-breaks. */
function placements(p: Pod, snap: Snapshot): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) seen.add(place(p, snap, Math.random));
  return seen;
}

test("requests must fit in allocatable minus what bound pods request", () => {
  const snap = snapshotOf([node("n1", { cpu: "1" }), node("n2", { cpu: "2" })], [pod("a", { cpu: "900m", nodeName: "n1" })]);
  assert.equal(place(pod("p", { cpu: "500m" }), snap), "n2");
  assert.equal(place(pod("p", { cpu: "3" }), snap), "0/2 nodes are available: 2 Insufficient cpu.");
  assert.equal(place(pod("p", { cpu: "3", memory: "20Gi" }), snap), "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.");
});

test("a full node refuses with Too many pods; ephemeral storage and extended resources are checked", () => {
  const snap = snapshotOf([node("n1", { pods: 1 }), node("n2", { extra: { "example.com/gpu": "1" } })], [pod("a", { nodeName: "n1" })]);
  assert.equal(place(pod("p"), snap), "n2");
  const gpu: Pod = { ...pod("g"), spec: { containers: [{ name: "c", resources: { requests: { "example.com/gpu": "2", "ephemeral-storage": "200Gi" } } }] } };
  assert.equal(place(gpu, snap), "0/2 nodes are available: 1 Too many pods, 2 Insufficient ephemeral-storage, 2 Insufficient example.com/gpu.");
});

test("taints keep off pods that do not tolerate them, in Kubernetes' words", () => {
  const snap = snapshotOf([node("n1", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }), node("n2", { cpu: "1" }), node("n3", { cpu: "1" })]);
  assert.equal(place(pod("p", { cpu: "2" }), snap), "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.");
  assert.equal(place(pod("p", { cpu: "2", tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] }), snap), "n1");
  assert.equal(place(pod("p", { cpu: "2", tolerations: [{ key: "dedicated", operator: "Exists" }] }), snap), "n1");
  assert.equal(place(pod("p", { cpu: "2", tolerations: [{ operator: "Exists" }] }), snap), "n1");
  assert.match(place(pod("p", { cpu: "2", tolerations: [{ key: "dedicated", value: "cpu" }] }), snap), /untolerated taint/);
  assert.match(place(pod("p", { cpu: "2", tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoExecute" }] }), snap), /untolerated taint/);
  const noExec = snapshotOf([node("n1", { taints: [{ key: "k", effect: "NoExecute" }] })]);
  assert.equal(place(pod("p"), noExec), "0/1 nodes are available: 1 node(s) had untolerated taint {k: }.");
});

test("PreferNoSchedule taints only lower the score", () => {
  const snap = snapshotOf([node("n1", { taints: [{ key: "spot", value: "yes", effect: "PreferNoSchedule" }] }), node("n2")]);
  assert.deepEqual(placements(pod("p"), snap), new Set(["n2"]));
  const alone = snapshotOf([node("n1", { taints: [{ key: "spot", value: "yes", effect: "PreferNoSchedule" }] })]);
  assert.equal(place(pod("p"), alone), "n1");
});

test("cordoned nodes take only pods that tolerate the unschedulable taint", () => {
  const snap = snapshotOf([node("n1", { unschedulable: true }), node("n2", { cpu: "100m" })]);
  assert.equal(place(pod("p", { cpu: "1" }), snap), "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable.");
  assert.equal(place(pod("p", { cpu: "1", tolerations: [{ key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" }] }), snap), "n1");
});

test("nodeSelector and required node affinity (matchExpressions, matchFields, Gt) choose nodes", () => {
  const snap = snapshotOf([node("n1", { labels: { disk: "ssd", gen: "3" } }), node("n2", { labels: { disk: "hdd", gen: "5" } }), node("n3")]);
  assert.equal(place(pod("p", { nodeSelector: { disk: "hdd" } }), snap), "n2");
  assert.equal(place(pod("p", { nodeSelector: { disk: "nvme" } }), snap), "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
  const affinity = (terms: object[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });
  assert.equal(place(pod("p", { affinity: affinity([{ matchExpressions: [{ key: "gen", operator: "Gt", values: ["4"] }] }]) }), snap), "n2");
  assert.equal(place(pod("p", { affinity: affinity([{ matchFields: [{ key: "metadata.name", operator: "In", values: ["n3"] }] }]) }), snap), "n3");
  assert.equal(place(pod("p", { affinity: affinity([{ matchExpressions: [{ key: "disk", operator: "DoesNotExist" }] }]) }), snap), "n3");
  // Terms are ORed; an empty term matches nothing.
  const either = affinity([{}, { matchExpressions: [{ key: "disk", operator: "In", values: ["ssd"] }] }]);
  assert.equal(place(pod("p", { affinity: either }), snap), "n1");
  assert.match(place(pod("p", { affinity: affinity([{}]) }), snap), /3 node\(s\) didn't match Pod's node affinity\/selector/);
});

test("preferred node affinity steers the pod to the heaviest matching node", () => {
  const snap = snapshotOf([node("n1", { labels: { zone: "a" } }), node("n2", { labels: { zone: "b" } }), node("n3")]);
  const preferred = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] } }, { weight: 80, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["b"] }] } }] } };
  assert.deepEqual(placements(pod("p", { affinity: preferred }), snap), new Set(["n2"]));
});

test("host ports conflict per protocol and address", () => {
  const withPort = (name: string, hostPort: number, o: { nodeName?: string; protocol?: string; hostIP?: string } = {}): Pod => {
    const p = pod(name, { nodeName: o.nodeName });
    return { ...p, spec: { ...p.spec, containers: [{ name: "c", ports: [{ containerPort: 80, hostPort, protocol: o.protocol, hostIP: o.hostIP }] }] } };
  };
  const snap = snapshotOf([node("n1"), node("n2")], [withPort("a", 8080, { nodeName: "n1" }), withPort("b", 8080, { nodeName: "n2", hostIP: "10.0.0.2" })]);
  assert.equal(place(withPort("p", 8080), snap), "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.");
  assert.deepEqual(placements(withPort("p", 8080, { protocol: "UDP" }), snap), new Set(["n1", "n2"]));
  assert.equal(place(withPort("p", 8080, { hostIP: "10.0.0.3" }), snap), "n2");
  assert.deepEqual(placements(withPort("p", 9090), snap), new Set(["n1", "n2"]));
});

test("least allocated: an emptier node wins; pods without requests still spread by the defaults", () => {
  const snap = snapshotOf([node("n1"), node("n2")], [pod("a", { cpu: "2", memory: "4Gi", nodeName: "n1" })]);
  assert.deepEqual(placements(pod("p", { cpu: "100m", memory: "100Mi" }), snap), new Set(["n2"]));
  const busy = snapshotOf([node("n1"), node("n2")], [pod("a", { nodeName: "n1" }), pod("b", { nodeName: "n1" })]);
  assert.deepEqual(placements(pod("p"), busy), new Set(["n2"]));
});

test("balanced allocation prefers the node where cpu and memory would be used evenly", () => {
  // Both nodes have the same free cpu+memory share on average, but n2 ends up balanced.
  const snap = snapshotOf([node("n1", { cpu: "4", memory: "4Gi" }), node("n2", { cpu: "4", memory: "4Gi" })], [pod("a", { cpu: "2", nodeName: "n1" }), pod("b", { cpu: "1", memory: "1Gi", nodeName: "n2" })]);
  assert.deepEqual(placements(pod("p", { cpu: "100m", memory: "1Gi" }), snap), new Set(["n2"]));
});

test("the failure message counts reasons over all nodes and sorts them as strings", () => {
  const nodes = [node("n1", { taints: [{ key: "a", value: "1", effect: "NoSchedule" }] }), ...Array.from({ length: 11 }, (_, i) => node(`m${i}`, { cpu: "1" }))];
  assert.equal(place(pod("p", { cpu: "2" }), snapshotOf(nodes)), "0/12 nodes are available: 1 node(s) had untolerated taint {a: 1}, 11 Insufficient cpu.");
  assert.equal(place(pod("p"), snapshotOf([])), "0/0 nodes are available:");
});

test("percentageOfNodesToScore: small clusters are searched whole, large ones in part, rotating the start", () => {
  assert.equal(feasibleNodesToFind(50), 50);
  assert.equal(feasibleNodesToFind(1000), 420);
  assert.equal(feasibleNodesToFind(5000), 500);
  assert.equal(feasibleNodesToFind(200), 100);
  assert.equal(feasibleNodesToFind(1000, 100), 1000);
  const snap = snapshotOf(Array.from({ length: 1000 }, (_, i) => node(`n${i}`)));
  const r = schedule(new PodInfo(pod("p")), snap, { startIndex: 990 });
  assert.ok(r.node);
  assert.equal(r.evaluatedNodes, 420);
  assert.equal(r.nextStartIndex, (990 + 420) % 1000);
});

test("a pod nominated by preemption tries its node first, and nominated pods hold their room", () => {
  const snap = snapshotOf([node("n1", { cpu: "1" }), node("n2", { cpu: "1" })]);
  const nominated = { ...pod("p", { cpu: "1" }), status: { nominatedNodeName: "n2" } };
  assert.equal(place(nominated, snap, () => 0.99), "n2");
  const holder = new PodInfo({ ...pod("big", { cpu: "1", priority: 100 }), status: { nominatedNodeName: "n1" } });
  const r = schedule(new PodInfo(pod("small", { cpu: "600m" })), snap, { nominatedPods: (n) => (n === "n1" ? [holder] : []) });
  assert.equal(r.node, "n2");
});

test("volumes: claims must exist and be bound; a local PV pins the pod to its node", () => {
  const pvc = (name: string, volumeName?: string) => ({ metadata: { name, namespace: "default" }, spec: { volumeName } });
  const pv = { metadata: { name: "pv1" }, spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["n2"] }] }] } } } };
  const claims = new Map([["bound", pvc("bound", "pv1")], ["unbound", pvc("unbound")]]);
  const snap = snapshotOf([node("n1"), node("n2")], [], { persistentVolumeClaim: (_ns, n) => claims.get(n), persistentVolume: (n) => (n === "pv1" ? pv : undefined) });
  const using = (claimName: string, o = {}) => pod("p", { volumes: [{ name: "v", persistentVolumeClaim: { claimName } }], ...o });
  assert.equal(place(using("bound"), snap), "n2");
  assert.equal(place(using("bound", { nodeSelector: { "kubernetes.io/hostname": "n1" } }), snap), "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had volume node affinity conflict.");
  assert.equal(place(using("unbound"), snap), "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.");
  assert.equal(place(using("gone"), snap), '0/2 nodes are available: persistentvolumeclaim "gone" not found.');
});

test("volumes: a WaitForFirstConsumer claim fits where its class can provision or a free local PV is reachable, and pins to a selected node", () => {
  const wffc = (name: string, storageClassName: string, selected?: string) => ({ metadata: { name, namespace: "default", ...(selected ? { annotations: { [SELECTED_NODE_ANNOTATION]: selected } } : {}) }, spec: { storageClassName } });
  const classes = new Map([
    ["local-path", { metadata: { name: "local-path" }, provisioner: "rancher.io/local-path", volumeBindingMode: "WaitForFirstConsumer" }],
    ["static", { metadata: { name: "static" }, provisioner: "kubernetes.io/no-provisioner", volumeBindingMode: "WaitForFirstConsumer" }],
  ]);
  const freePV = { metadata: { name: "free" }, spec: { storageClassName: "static", nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["n1"] }] }] } } }, status: { phase: "Available" } };
  const claims = new Map([["dyn", wffc("dyn", "local-path")], ["stat", wffc("stat", "static")], ["chosen", wffc("chosen", "local-path", "n2")]]);
  const snap = snapshotOf([node("n1"), node("n2")], [], { persistentVolumeClaim: (_ns, n) => claims.get(n), persistentVolumes: () => [freePV], storageClass: (n) => classes.get(n) });
  const using = (claimName: string) => pod("p", { volumes: [{ name: "v", persistentVolumeClaim: { claimName } }] });
  assert.ok(["n1", "n2"].includes(place(using("dyn"), snap)), "a provisioner can make one anywhere");
  assert.deepEqual(delayedClaims(using("dyn"), snap).map((c) => c.metadata.name), ["dyn"], "the scheduler annotates it at bind");
  assert.equal(place(using("stat"), snap), "n1", "only n1 reaches the free local PV");
  assert.equal(place(using("chosen"), snap), "n2");
  assert.deepEqual(delayedClaims(using("chosen"), snap), [], "a claim with a node is not annotated again");
});
