// The Endpoints, EndpointSlice and ServiceAccount controllers against a real API server
// (SQLite) on the in-process transport, time on a fake clock; the test plays the kubelet.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EndpointsController, EndpointSliceController, ServiceAccountController } from "../../src/cluster/controllers/index.ts";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { ENDPOINT_SLICES, ENDPOINTS, NAMESPACES, NODES, PODS, SERVICE_ACCOUNTS, SERVICES, startHarness, type Harness } from "./_harness.ts";

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new EndpointsController(ctx), new EndpointSliceController(ctx), new ServiceAccountController(ctx)]);
  await h.client.resource(NODES).create(undefined, { metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": "z1" } } });
});
after(async () => {
  await h.stop();
});

const podSpec = { containers: [{ name: "c", image: "nginx", ports: [{ name: "web", containerPort: 8080 }] }] };

async function namespace(name: string) {
  await h.client.resource(NAMESPACES).create(undefined, { metadata: { name } });
}

async function pods(ns: string, n: number, labels = { app: "web" }): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (let i = 0; i < n; i++) out.push(await h.client.resource(PODS).create(ns, { metadata: { name: `web-${i}`, labels }, spec: podSpec }));
  return out;
}

type Slice = KubeObject & { endpoints: { addresses: string[]; conditions: Record<string, boolean>; targetRef: { name: string }; nodeName?: string; zone?: string }[] | null; ports: { name: string; port: number; protocol: string }[] | null };
const slicesOf = async (ns: string, svc: string) => (await h.list(ENDPOINT_SLICES, ns, `kubernetes.io/service-name=${svc}`)) as Slice[];

test("a Service gets Endpoints and an EndpointSlice of its pods, ready ones ready, named ports resolved", async () => {
  await namespace("s1");
  const svc = await h.client.resource(SERVICES).create("s1", { metadata: { name: "web", labels: { tier: "fe" } }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "web" }] } });
  const [a, b, c] = await pods("s1", 3);
  await pods("s1", 1, { app: "db" }).catch(() => undefined);
  await h.setPodRunning(a!, { ip: "10.42.1.2" });
  await h.setPodRunning(b!, { ip: "10.42.1.3", ready: false });
  void c; // no IP yet: in neither
  await h.runToQuiet();

  const ep = (await h.get(ENDPOINTS, "s1", "web"))!;
  assert.deepEqual(ep.metadata.labels, { tier: "fe" });
  assert.deepEqual(ep.subsets, [
    {
      addresses: [{ ip: "10.42.1.2", nodeName: "n1", targetRef: { kind: "Pod", namespace: "s1", name: "web-0", uid: a!.metadata.uid } }],
      notReadyAddresses: [{ ip: "10.42.1.3", nodeName: "n1", targetRef: { kind: "Pod", namespace: "s1", name: "web-1", uid: b!.metadata.uid } }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    },
  ]);

  const slices = await slicesOf("s1", "web");
  assert.equal(slices.length, 1);
  const s = slices[0]!;
  assert.match(s.metadata.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.equal(s.metadata.labels!["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
  assert.equal(s.metadata.labels!.tier, "fe");
  assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: "v1", kind: "Service", name: "web", uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(s.ports, [{ name: "http", port: 8080, protocol: "TCP" }]);
  assert.deepEqual(
    s.endpoints!.map((e) => [e.targetRef.name, e.addresses, e.conditions, e.nodeName, e.zone]),
    [
      ["web-0", ["10.42.1.2"], { ready: true, serving: true, terminating: false }, "n1", "z1"],
      ["web-1", ["10.42.1.3"], { ready: false, serving: false, terminating: false }, "n1", "z1"],
    ],
  );

  // The unready pod becomes ready; a pod is deleted.
  await h.setPodRunning(b!, { ip: "10.42.1.3" });
  await h.client.resource(PODS).delete("s1", "web-0");
  await h.runToQuiet();
  const after = (await h.get(ENDPOINTS, "s1", "web"))!;
  assert.deepEqual((after.subsets as { addresses: { ip: string }[] }[]).map((x) => x.addresses.map((y) => y.ip)), [["10.42.1.3"]]);
  const [s2] = await slicesOf("s1", "web");
  assert.equal(s2!.metadata.name, s.metadata.name, "the same slice, rewritten");
  assert.deepEqual(s2!.endpoints!.map((e) => [e.targetRef.name, e.conditions.ready]), [["web-1", true]]);
});

test("a Service with no pods gets an empty Endpoints and a placeholder slice; selector-less Services are left to their users", async () => {
  await namespace("s2");
  await h.client.resource(SERVICES).create("s2", { metadata: { name: "lonely" }, spec: { selector: { app: "none" }, ports: [{ port: 80 }] } });
  await h.client.resource(SERVICES).create("s2", { metadata: { name: "manual" }, spec: { ports: [{ port: 80 }] } });
  await h.client.resource(ENDPOINTS).create("s2", { metadata: { name: "manual" }, subsets: [{ addresses: [{ ip: "192.0.2.1" }], ports: [{ port: 80 }] }] });
  await h.runToQuiet();
  assert.deepEqual((await h.get(ENDPOINTS, "s2", "lonely"))!.subsets ?? [], []);
  const placeholder = await slicesOf("s2", "lonely");
  assert.equal(placeholder.length, 1);
  assert.deepEqual(placeholder[0]!.endpoints ?? [], []);
  assert.deepEqual((await h.get(ENDPOINTS, "s2", "manual"))!.subsets, [{ addresses: [{ ip: "192.0.2.1" }], ports: [{ port: 80 }] }], "untouched");
  assert.deepEqual(await slicesOf("s2", "manual"), []);
});

test("deleting a Service deletes its Endpoints; Endpoints changed by hand are put back", async () => {
  await namespace("s3");
  await h.client.resource(SERVICES).create("s3", { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] } });
  const [p] = await pods("s3", 1);
  await h.setPodRunning(p!, { ip: "10.42.3.2" });
  await h.runToQuiet();
  await h.client.resource(ENDPOINTS).patch("s3", "web", "merge", { subsets: [] });
  await h.runToQuiet();
  assert.equal(((await h.get(ENDPOINTS, "s3", "web"))!.subsets as { addresses: { ip: string }[] }[])[0]!.addresses[0]!.ip, "10.42.3.2");
  await h.client.resource(SERVICES).delete("s3", "web");
  await h.runToQuiet();
  assert.equal(await h.get(ENDPOINTS, "s3", "web"), undefined);
});

test("more than 100 pods spread over slices of at most 100", async () => {
  await namespace("s4");
  await h.client.resource(SERVICES).create("s4", { metadata: { name: "big" }, spec: { selector: { app: "big" }, ports: [{ port: 80, targetPort: 8080 }] } });
  for (let i = 0; i < 130; i++) {
    const p = await h.client.resource(PODS).create("s4", { metadata: { name: `big-${i}`, labels: { app: "big" } }, spec: podSpec });
    await h.setPodRunning(p, { ip: `10.42.4.${i + 2}` });
  }
  await h.runToQuiet();
  const slices = await slicesOf("s4", "big");
  // Pods arrived one by one, so slices filled as they came (never repacked): none over 100, all there.
  const sizes = slices.map((s) => s.endpoints!.length);
  assert.ok(sizes.every((n) => n <= 100) && sizes.length >= 2, String(sizes));
  assert.equal(sizes.reduce((a, b) => a + b, 0), 130);
  assert.equal(new Set(slices.flatMap((s) => s.endpoints!.map((e) => e.targetRef.name))).size, 130, "each pod once");
});

test("every namespace has a default ServiceAccount, made again when deleted", async () => {
  await namespace("sa1");
  await h.runToQuiet();
  for (const ns of ["default", "kube-system", "sa1"]) assert.ok(await h.get(SERVICE_ACCOUNTS, ns, "default"), ns);
  const first = (await h.get(SERVICE_ACCOUNTS, "sa1", "default"))!;
  await h.client.resource(SERVICE_ACCOUNTS).delete("sa1", "default");
  await h.runToQuiet();
  const again = await h.get(SERVICE_ACCOUNTS, "sa1", "default");
  assert.ok(again);
  assert.notEqual(again.metadata.uid, first.metadata.uid);
});
