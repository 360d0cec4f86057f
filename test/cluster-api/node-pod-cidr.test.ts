// Node podCIDRs from the cluster CIDR 10.42.0.0/16 (node-pod-cidrs.ts): nodes created at
// once get distinct /24s, lowest first, each with its claim key; a node may ask for a free
// range and gets Kubernetes' 422 for a taken or malformed one; a range never changes once set
// and is kept when an update leaves it out; a deleted node's range is handed out again.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { RANGES_PREFIX } from "../../src/cluster/api/ranges.ts";
import { startTestCluster, type TestCluster } from "./_server.ts";

interface NodeObj {
  metadata: { name: string; uid: string; resourceVersion: string };
  spec: { podCIDR?: string; podCIDRs?: string[] };
  message?: string;
  details?: { causes?: { field: string; message: string }[] };
}

const node = (name: string, spec: Record<string, unknown> = {}) => JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name }, spec });

describe("Node podCIDR allocation", () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  const send = async (method: string, path: string, body?: string, type = "application/json") => {
    const r = await c.raw(method, path, { body, headers: { "Content-Type": type } });
    return { status: r.status, body: JSON.parse(r.body) as NodeObj };
  };
  const claims = async () => (await c.server.store.list(`${RANGES_PREFIX}podcidrs/`)).items.map((i) => i.key.slice(RANGES_PREFIX.length));

  test("concurrent node registrations get distinct /24s from the bottom of 10.42.0.0/16", async () => {
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => send("POST", "/api/v1/nodes", node(`n${i}`))));
    for (const r of made) assert.equal(r.status, 201, r.body.message);
    const cidrs = made.map((r) => r.body.spec.podCIDR!).sort((a, b) => Number(a.split(".")[2]) - Number(b.split(".")[2]));
    assert.deepEqual(cidrs, Array.from({ length: 12 }, (_, i) => `10.42.${i}.0/24`));
    for (const r of made) assert.deepEqual(r.body.spec.podCIDRs, [r.body.spec.podCIDR]);
    assert.deepEqual((await claims()).sort(), cidrs.map((x) => `podcidrs/${x.slice(0, -3)}`).sort());
    // kubectl shows them (the field every CNI plugin's node watcher reads).
    const got = await c.kubectl(["get", "node", "n3", "-o", "jsonpath={.spec.podCIDR} {.spec.podCIDRs[0]}"]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^10\.42\.\d+\.0\/24 10\.42\.\d+\.0\/24$/);
  });

  test("a node may ask for a free range; a taken or malformed one is 422 and nothing is stored", async () => {
    const asked = await send("POST", "/api/v1/nodes", node("asks", { podCIDR: "10.42.200.0/24" }));
    assert.equal(asked.status, 201, asked.body.message);
    assert.deepEqual(asked.body.spec.podCIDRs, ["10.42.200.0/24"]);
    const taken = await send("POST", "/api/v1/nodes", node("late", { podCIDRs: ["10.42.200.0/24"] }));
    assert.equal(taken.status, 422);
    assert.match(taken.body.message!, /Node "late" is invalid: spec.podCIDRs: .*already allocated/);
    const bad = await send("POST", "/api/v1/nodes", node("bad", { podCIDR: "10.42.1.7/24" }));
    assert.equal(bad.status, 422);
    assert.equal(bad.body.details?.causes?.[0]?.field, "spec.podCIDRs[0]");
    for (const name of ["late", "bad"]) assert.equal((await send("GET", `/api/v1/nodes/${name}`)).status, 404);
    assert.ok(!(await claims()).includes("podcidrs/10.42.1.7"));
  });

  test("a node registering again with the range it holds is AlreadyExists (409), as any second create", async () => {
    const again = await send("POST", "/api/v1/nodes", node("asks", { podCIDR: "10.42.200.0/24" }));
    assert.equal(again.status, 409, again.body.message);
  });

  test("the range is fixed once set and kept when an update leaves it out", async () => {
    const changed = await send("PATCH", "/api/v1/nodes/asks", JSON.stringify({ spec: { podCIDR: "10.42.201.0/24", podCIDRs: ["10.42.201.0/24"] } }), "application/merge-patch+json");
    assert.equal(changed.status, 422);
    assert.match(changed.body.message!, /node updates may not change podCIDR except from "" to valid/);
    const cur = (await send("GET", "/api/v1/nodes/asks")).body;
    const replaced = await send("PUT", "/api/v1/nodes/asks", JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: "asks", resourceVersion: cur.metadata.resourceVersion }, spec: { unschedulable: true } }));
    assert.equal(replaced.status, 200, replaced.body.message);
    assert.equal(replaced.body.spec.podCIDR, "10.42.200.0/24");
  });

  test("a deleted node's range goes back and is handed out again", async () => {
    // Whichever of the concurrent creates came first holds 10.42.0.0/24.
    const list = JSON.parse((await c.raw("GET", "/api/v1/nodes")).body) as { items: NodeObj[] };
    const holder = list.items.find((n) => n.spec.podCIDR === "10.42.0.0/24")!;
    assert.equal((await send("DELETE", `/api/v1/nodes/${holder.metadata.name}`)).status, 200);
    assert.ok(!(await claims()).includes("podcidrs/10.42.0.0"));
    const again = await send("POST", "/api/v1/nodes", node("again"));
    assert.equal(again.status, 201);
    assert.equal(again.body.spec.podCIDR, "10.42.0.0/24");
  });
});
