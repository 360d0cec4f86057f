import { test } from "node:test";
import assert from "node:assert/strict";
import { computeEndpointSubsets, desiredEndpoints, endpointsEqual, repackSubsets } from "./endpoints.ts";
import type { Pod, Service } from "./_types.ts";

const svc = (spec: Partial<NonNullable<Service["spec"]>> = {}, labels?: Record<string, string>): Service => ({
  metadata: { name: "web", namespace: "ns", uid: "svc-uid", labels },
  spec: { selector: { app: "web" }, clusterIP: "10.43.0.20", ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }], ...spec },
});

function pod(name: string, ip: string, o: { ready?: boolean; port?: number; deleting?: boolean; phase?: string; labels?: Record<string, string>; hostname?: string } = {}): Pod {
  return {
    metadata: { name, namespace: "ns", uid: `uid-${name}`, labels: o.labels ?? { app: "web" }, ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec: { nodeName: "n1", hostname: o.hostname, subdomain: o.hostname ? "web" : undefined, containers: [{ name: "c", ports: [{ name: "http", containerPort: o.port ?? 8080 }] }] },
    status: { phase: o.phase ?? "Running", podIP: ip, conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
  };
}

const addr = (name: string, ip: string) => ({ ip, nodeName: "n1", targetRef: { kind: "Pod", namespace: "ns", name, uid: `uid-${name}` } });

test("ready pods are addresses, others notReadyAddresses; named target ports resolved per pod", () => {
  const subsets = computeEndpointSubsets(svc(), [pod("b", "10.42.0.3"), pod("a", "10.42.0.2"), pod("c", "10.42.0.4", { ready: false }), pod("other", "10.42.0.9", { labels: { app: "db" } })]);
  assert.deepEqual(subsets, [{ addresses: [addr("a", "10.42.0.2"), addr("b", "10.42.0.3")], notReadyAddresses: [addr("c", "10.42.0.4")], ports: [{ name: "http", port: 8080, protocol: "TCP" }] }]);
});

test("pods serving a named port on different numbers get separate subsets; a pod without the port is left out", () => {
  const noPort: Pod = { ...pod("x", "10.42.0.7"), spec: { nodeName: "n1", containers: [{ name: "c" }] } };
  const subsets = computeEndpointSubsets(svc(), [pod("a", "10.42.0.2"), pod("b", "10.42.0.3", { port: 9090 }), noPort]);
  assert.deepEqual(subsets.map((s) => [s.addresses?.map((a) => a.ip), s.ports?.map((p) => p.port)]), [
    [["10.42.0.2"], [8080]],
    [["10.42.0.3"], [9090]],
  ]);
});

test("terminating, finished and address-less pods are left out; publishNotReadyAddresses lists unready ones as ready", () => {
  const pods = [pod("gone", "10.42.0.2", { deleting: true }), pod("done", "10.42.0.3", { phase: "Succeeded" }), { ...pod("noip", ""), status: { phase: "Pending" } }, pod("slow", "10.42.0.5", { ready: false })];
  assert.deepEqual(computeEndpointSubsets(svc(), pods).flatMap((s) => [...(s.addresses ?? []), ...(s.notReadyAddresses ?? [])].map((a) => a.ip)), ["10.42.0.5"]);
  const published = computeEndpointSubsets(svc({ publishNotReadyAddresses: true }), pods);
  assert.deepEqual(published[0]!.addresses?.map((a) => a.ip), ["10.42.0.2", "10.42.0.5"], "terminating included too, all ready");
});

test("a headless Service without ports still publishes addresses, with hostnames for its subdomain", () => {
  const subsets = computeEndpointSubsets(svc({ clusterIP: "None", ports: [] }), [pod("a", "10.42.0.2", { hostname: "a0" })]);
  assert.deepEqual(subsets, [{ addresses: [{ ...addr("a", "10.42.0.2"), hostname: "a0" }] }]);
  assert.deepEqual(computeEndpointSubsets(svc({ ports: [] }), [pod("a", "10.42.0.2")]), [], "a ClusterIP Service without ports has none");
});

test("repacking merges ports served by the same addresses", () => {
  const a = addr("a", "10.42.0.2");
  const b = addr("b", "10.42.0.3");
  const p80 = { name: "http", port: 80, protocol: "TCP" };
  const p443 = { name: "https", port: 443, protocol: "TCP" };
  assert.deepEqual(repackSubsets([{ addresses: [a], ports: [p80] }, { addresses: [a], ports: [p443] }, { addresses: [b], ports: [p80] }]), [
    { addresses: [a, b], ports: [p80] },
    { addresses: [a], ports: [p443] },
  ]);
});

test("the Endpoints object carries the Service's labels (and the headless label); equality ignores the rest", () => {
  const e = desiredEndpoints(svc({ clusterIP: "None" }, { tier: "fe" }), [pod("a", "10.42.0.2")], undefined);
  assert.equal(e.metadata.name, "web");
  assert.deepEqual(e.metadata.labels, { tier: "fe", "service.kubernetes.io/headless": "" });
  const again = desiredEndpoints(svc({ clusterIP: "None" }, { tier: "fe" }), [pod("a", "10.42.0.2")], { ...e, metadata: { ...e.metadata, resourceVersion: "7" } });
  assert.equal(again.metadata.resourceVersion, "7");
  assert.equal(endpointsEqual(e, again), true);
  assert.equal(endpointsEqual(e, desiredEndpoints(svc({ clusterIP: "None" }), [pod("a", "10.42.0.2")], undefined)), false);
});
