// ClusterIP and NodePort allocation by one store key per value: concurrent creates on one
// server and on two servers sharing one SQLite file never hand out a value twice; deletes,
// type changes and failed creates give values back; a taken value gets Kubernetes' 422; a
// claim left by a server that died is taken over; claims are made for stores written before
// claims existed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RANGES_PREFIX } from "../../src/cluster/api/ranges.ts";
import { startTestCluster, type TestCluster } from "./_server.ts";

interface Svc {
  metadata: { name: string; uid: string };
  spec: { clusterIP: string; clusterIPs: string[]; type: string; ports: { port: number; nodePort?: number }[] };
}

const service = (name: string, spec: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });

async function create(c: TestCluster, body: string) {
  const r = await c.raw("POST", "/api/v1/namespaces/default/services", { body, headers: { "Content-Type": "application/json" } });
  return { status: r.status, body: JSON.parse(r.body) as Svc & { message: string; reason: string; details?: { causes?: { field: string }[] } } };
}

async function createOk(c: TestCluster, body: string): Promise<Svc> {
  const r = await create(c, body);
  assert.equal(r.status, 201, r.body.message);
  return r.body;
}

const claimKeys = async (c: TestCluster, what: string) => (await c.server.store.list(`${RANGES_PREFIX}${what}/`)).items.map((i) => i.key.slice(RANGES_PREFIX.length + what.length + 1));

function assertDistinct(values: unknown[], what: string) {
  const seen = new Map<unknown, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  const dup = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(dup, [], `${what} handed out twice`);
}

describe("Service ClusterIP and NodePort allocation", () => {
  let dir: string;
  let a: TestCluster;
  let b: TestCluster;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-alloc-"));
    // Two API servers, each with its own credentials, on one store file.
    const storeSpec = { kind: "sqlite" as const, path: join(dir, "shared.db") };
    a = await startTestCluster({ storeSpec });
    b = await startTestCluster({ storeSpec });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("concurrent NodePort creates on two servers sharing one store never share an IP or a port", async () => {
    // 2,768 node ports: 240 picks at random collide almost surely unless each is claimed.
    const created = await Promise.all(
      Array.from({ length: 240 }, (_, i) => createOk(i % 2 ? a : b, service(`np-${i}`, { type: "NodePort" }))),
    );
    const ips = created.map((s) => s.spec.clusterIP);
    const ports = created.map((s) => s.spec.ports[0]!.nodePort);
    assertDistinct(ips, "ClusterIP");
    assertDistinct(ports, "NodePort");
    for (const s of created) {
      assert.match(s.spec.clusterIP, /^10\.43\.\d+\.\d+$/);
      assert.deepEqual(s.spec.clusterIPs, [s.spec.clusterIP]);
      assert.ok(s.spec.ports[0]!.nodePort! >= 30000 && s.spec.ports[0]!.nodePort! <= 32767);
    }
    // Every value has exactly its claim key, owned by its Service.
    const ipClaims = new Set(await claimKeys(a, "serviceips"));
    const portClaims = new Set(await claimKeys(a, "servicenodeports"));
    for (const s of created) {
      assert.ok(ipClaims.has(s.spec.clusterIP), `claim for ${s.spec.clusterIP}`);
      assert.ok(portClaims.has(String(s.spec.ports[0]!.nodePort)));
      const claim = await a.server.store.get(`${RANGES_PREFIX}serviceips/${s.spec.clusterIP}`);
      assert.equal(JSON.parse(claim!.value).uid, s.metadata.uid);
    }
    // Give every value back, so the fixed values the next tests ask for (31999, 10.43.7.7, …)
    // cannot have been taken at random here.
    await Promise.all(created.map((s, i) => (i % 2 ? b : a).raw("DELETE", `/api/v1/namespaces/default/services/${s.metadata.name}`)));
    assert.deepEqual(await claimKeys(a, "servicenodeports"), []);
    assert.deepEqual(await claimKeys(a, "serviceips"), ["10.43.0.1"], "only the kubernetes Service keeps its address");
  });

  test("an address asked for that is taken is a 422 with Kubernetes' message; deleting the Service frees it", async () => {
    await createOk(a, service("first", { clusterIP: "10.43.7.7" }));
    const r = await create(b, service("second", { clusterIP: "10.43.7.7" }));
    assert.equal(r.status, 422);
    assert.equal(r.body.reason, "Invalid");
    assert.equal(r.body.message, 'Service "second" is invalid: spec.clusterIPs: Invalid value: []string{"10.43.7.7"}: failed to allocate IP 10.43.7.7: provided IP is already allocated');
    assert.equal((await b.raw("GET", "/api/v1/namespaces/default/services/second")).status, 404);
    const outside = await create(a, service("outside", { clusterIP: "10.96.0.5" }));
    assert.equal(outside.status, 422);
    assert.match(outside.body.message, /the provided IP \(10\.96\.0\.5\) is not in the valid range\. The range of valid IPs is 10\.43\.0\.0\/16/);

    assert.equal((await a.raw("DELETE", "/api/v1/namespaces/default/services/first")).status, 200);
    assert.ok(!(await claimKeys(a, "serviceips")).includes("10.43.7.7"));
    const again = await createOk(b, service("second", { clusterIP: "10.43.7.7" }));
    assert.equal(again.spec.clusterIP, "10.43.7.7");
  });

  test("node ports: a taken one is a 422; switching to ClusterIP gives it back; an update keeps the rest", async () => {
    const np = await createOk(a, service("np-fixed", { type: "NodePort", ports: [{ port: 80, nodePort: 31999 }] }));
    const r = await create(a, service("np-clash", { type: "NodePort", ports: [{ port: 80, nodePort: 31999 }] }));
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'Service "np-clash" is invalid: spec.ports[0].nodePort: Invalid value: 31999: provided port is already allocated');
    const low = await create(a, service("np-low", { type: "NodePort", ports: [{ port: 80, nodePort: 80 }] }));
    assert.equal(low.status, 422);
    assert.match(low.body.message, /spec\.ports\[0\]\.nodePort: Invalid value: 80: provided port is not in the valid range\. The range of valid ports is 30000-32767/);

    // A PUT that leaves clusterIP and nodePort out keeps both (the allocator copies them back).
    const put = await a.raw("PUT", "/api/v1/namespaces/default/services/np-fixed", {
      body: JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "np-fixed", resourceVersion: (np as unknown as { metadata: { resourceVersion: string } }).metadata.resourceVersion }, spec: { type: "NodePort", ports: [{ port: 80 }] } }),
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(put.status, 200, put.body);
    const kept = JSON.parse(put.body) as Svc;
    assert.equal(kept.spec.clusterIP, np.spec.clusterIP);
    assert.equal(kept.spec.ports[0]!.nodePort, 31999);

    // Changing the ClusterIP is refused.
    const moved = await a.raw("PATCH", "/api/v1/namespaces/default/services/np-fixed", { body: JSON.stringify({ spec: { clusterIP: "10.43.9.9" } }), headers: { "Content-Type": "application/merge-patch+json" } });
    assert.equal(moved.status, 422);
    assert.match(JSON.parse(moved.body).message, /spec\.clusterIPs\[0\]: Invalid value: "10\.43\.9\.9": field is immutable/);

    const patched = await a.raw("PATCH", "/api/v1/namespaces/default/services/np-fixed", { body: JSON.stringify({ spec: { type: "ClusterIP" } }), headers: { "Content-Type": "application/merge-patch+json" } });
    assert.equal(patched.status, 200, patched.body);
    assert.equal((JSON.parse(patched.body) as Svc).spec.ports[0]!.nodePort, undefined);
    assert.ok(!(await claimKeys(a, "servicenodeports")).includes("31999"));
    await createOk(b, service("np-clash", { type: "NodePort", ports: [{ port: 80, nodePort: 31999 }] }));
  });

  test("a create that fails gives back what it claimed", async () => {
    await createOk(a, service("dup"));
    const r = await create(a, service("dup", { clusterIP: "10.43.8.8", type: "NodePort", ports: [{ port: 80, nodePort: 31888 }] }));
    assert.equal(r.status, 409);
    assert.ok(!(await claimKeys(a, "serviceips")).includes("10.43.8.8"));
    assert.ok(!(await claimKeys(a, "servicenodeports")).includes("31888"));
    // Invalid after claiming: the second port's node port is taken, so the first's claim goes too.
    await createOk(a, service("holder", { type: "NodePort", ports: [{ port: 80, nodePort: 31777 }] }));
    const half = await create(a, service("half", { type: "NodePort", ports: [{ name: "a", port: 80, nodePort: 31666 }, { name: "b", port: 81, nodePort: 31777 }] }));
    assert.equal(half.status, 422);
    assert.ok(!(await claimKeys(a, "servicenodeports")).includes("31666"));
  });

  test("a claim whose owner never got written is taken over once it is old; a fresh one is not", async () => {
    const store = a.server.store;
    await store.create(`${RANGES_PREFIX}serviceips/10.43.6.6`, JSON.stringify({ owner: "/registry/core/services/default/ghost", uid: "dead", at: 0 }));
    await store.create(`${RANGES_PREFIX}serviceips/10.43.6.7`, JSON.stringify({ owner: "/registry/core/services/default/ghost2", uid: "dying", at: Date.now() }));
    const taken = await createOk(a, service("heir", { clusterIP: "10.43.6.6" }));
    assert.equal(JSON.parse((await store.get(`${RANGES_PREFIX}serviceips/10.43.6.6`))!.value).uid, taken.metadata.uid);
    assert.equal((await create(a, service("early", { clusterIP: "10.43.6.7" }))).status, 422);
  });

  test("a store written before claims existed gets them at start-up", async () => {
    const svc = await createOk(a, service("legacy", { clusterIP: "10.43.5.5" }));
    await a.server.store.delete(`${RANGES_PREFIX}serviceips/10.43.5.5`);
    await a.server.registry.claimHeldValues(() => {});
    const claim = await a.server.store.get(`${RANGES_PREFIX}serviceips/10.43.5.5`);
    assert.equal(JSON.parse(claim!.value).uid, svc.metadata.uid);
    assert.equal((await create(b, service("newcomer", { clusterIP: "10.43.5.5" }))).status, 422);
  });
});
