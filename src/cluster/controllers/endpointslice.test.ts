import { test } from "node:test";
import assert from "node:assert/strict";
import { desiredSliceEndpoints, MAX_ENDPOINTS_PER_SLICE, planEndpointSlices, sliceLabels } from "./endpointslice.ts";
import type { EndpointSlice, Pod, Service } from "./_types.ts";

const svc = (spec: Partial<NonNullable<Service["spec"]>> = {}): Service => ({
  metadata: { name: "web", namespace: "ns", uid: "svc-uid", labels: { tier: "fe" } },
  spec: { selector: { app: "web" }, clusterIP: "10.43.0.20", ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }], ...spec },
});
const nodes = (name: string) => (name === "n1" ? { labels: { "topology.kubernetes.io/zone": "z1" } } : name === "n2" ? {} : undefined);

function pod(i: number, o: { ready?: boolean; deleting?: boolean; node?: string; port?: string } = {}): Pod {
  return {
    metadata: { name: `p${String(i).padStart(3, "0")}`, namespace: "ns", uid: `u${i}`, labels: { app: "web" }, ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec: { nodeName: o.node ?? "n1", containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: `10.42.${Math.floor(i / 250)}.${(i % 250) + 2}`, conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
  };
}

/** Applies a plan to a store of slices, naming new ones as the API server would. */
function apply(store: EndpointSlice[], plan: ReturnType<typeof planEndpointSlices>): EndpointSlice[] {
  let n = store.length;
  let out = store.filter((s) => !plan.delete.some((d) => d.metadata.name === s.metadata.name));
  out = out.map((s) => plan.update.find((u) => u.metadata.name === s.metadata.name) ?? s);
  for (const c of plan.create) out.push({ ...c, metadata: { ...c.metadata, name: `web-${++n}`, uid: `s${n}` } });
  return out;
}

test("one endpoint per pod: conditions, targetRef, nodeName, zone; ports with the Service's (empty) name", () => {
  const d = desiredSliceEndpoints(svc(), [pod(1), pod(2, { ready: false }), pod(3, { deleting: true, node: "n2" })], nodes);
  const [group] = [...d.byPorts.values()];
  assert.deepEqual(group!.ports, [{ name: "", port: 8080, protocol: "TCP" }]);
  assert.deepEqual(group!.endpoints, [
    { addresses: ["10.42.0.3"], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: "Pod", namespace: "ns", name: "p001", uid: "u1" }, nodeName: "n1", zone: "z1" },
    { addresses: ["10.42.0.4"], conditions: { ready: false, serving: false, terminating: false }, targetRef: { kind: "Pod", namespace: "ns", name: "p002", uid: "u2" }, nodeName: "n1", zone: "z1" },
    { addresses: ["10.42.0.5"], conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: "Pod", namespace: "ns", name: "p003", uid: "u3" }, nodeName: "n2" },
  ]);
});

test("a pod on a node not (yet) known is left out and reported, unless not-ready addresses are published", () => {
  assert.deepEqual(desiredSliceEndpoints(svc(), [pod(1, { node: "ghost" })], nodes).missingNodes, ["p001 on ghost"]);
  assert.equal([...desiredSliceEndpoints(svc({ publishNotReadyAddresses: true }), [pod(1, { node: "ghost" })], nodes).byPorts.values()][0]!.endpoints.length, 1);
});

test("slices are named after the Service, labelled, owned by it, and hold at most 100 endpoints", () => {
  const pods = Array.from({ length: 250 }, (_, i) => pod(i));
  const plan = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), pods, nodes), []);
  assert.deepEqual(plan.create.map((s) => s.endpoints!.length), [100, 100, 50]);
  const s = plan.create[0]!;
  assert.equal(s.metadata.generateName, "web-");
  assert.deepEqual(s.metadata.labels, { tier: "fe", "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" });
  assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: "v1", kind: "Service", name: "web", uid: "svc-uid", controller: true, blockOwnerDeletion: true }]);
  assert.equal(s.addressType, "IPv4");
  assert.equal(MAX_ENDPOINTS_PER_SLICE, 100);
});

test("changes touch few slices: a pod going rewrites only its slice; a new pod fills that slice; unchanged means no writes", () => {
  let pods = Array.from({ length: 150 }, (_, i) => pod(i));
  let store = apply([], planEndpointSlices(svc(), desiredSliceEndpoints(svc(), pods, nodes), []));
  assert.equal(store.length, 2);
  assert.deepEqual(planEndpointSlices(svc(), desiredSliceEndpoints(svc(), pods, nodes), store), { create: [], update: [], delete: [] });
  pods = pods.filter((p) => p.metadata.name !== "p005");
  const removal = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), pods, nodes), store);
  assert.deepEqual([removal.create.length, removal.update.length, removal.delete.length], [0, 1, 0]);
  store = apply(store, removal);
  pods.push(pod(500));
  const addition = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), pods, nodes), store);
  assert.deepEqual([addition.create.length, addition.update.length, addition.delete.length], [0, 1, 0]);
  store = apply(store, addition);
  assert.equal(store.flatMap((s) => s.endpoints!).length, 150);
});

test("no endpoints: one empty placeholder slice, replaced by real ones when pods come", () => {
  const empty = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [], nodes), []);
  assert.equal(empty.create.length, 1);
  assert.deepEqual([empty.create[0]!.endpoints, empty.create[0]!.ports], [[], null]);
  let store = apply([], empty);
  assert.deepEqual(planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [], nodes), store), { create: [], update: [], delete: [] }, "the placeholder stays");
  const withPods = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [pod(1)], nodes), store);
  assert.deepEqual([withPods.create.length, withPods.delete.length], [1, 1]);
  store = apply(store, withPods);
  assert.equal(store.length, 1);
  const gone = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [], nodes), store);
  assert.deepEqual([gone.create.length, gone.delete.length], [1, 1], "back to a placeholder");
});

test("slices owned by an earlier Service of the same name are deleted", () => {
  const old = { ...planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [pod(1)], nodes), []).create[0]!, metadata: { name: "web-old", uid: "x", labels: sliceLabels(svc()), ownerReferences: [{ apiVersion: "v1", kind: "Service", name: "web", uid: "previous", controller: true }] } };
  const plan = planEndpointSlices(svc(), desiredSliceEndpoints(svc(), [pod(1)], nodes), [old]);
  assert.deepEqual(plan.delete.map((s) => s.metadata.name), ["web-old"]);
  assert.equal(plan.create.length, 1);
});

test("headless Services' slices carry the headless label", () => {
  assert.equal(sliceLabels(svc({ clusterIP: "None" }))["service.kubernetes.io/headless"], "");
});
