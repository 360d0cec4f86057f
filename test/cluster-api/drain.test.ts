// Binding and eviction: pods/binding (and the older bindings resource) over raw HTTPS, and
// kubectl drain through pods/eviction, honouring PodDisruptionBudgets. Nodes here run
// nothing: pods are bound by spec.nodeName and marked Running and Ready through their status,
// as an agent would.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

type Obj = { metadata: { name: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string; deletionGracePeriodSeconds?: number }; spec: Record<string, unknown>; status: Record<string, unknown> };

describe("pods/binding and pods/eviction", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  const json = { "Content-Type": "application/json" };
  const post = (path: string, body: unknown) => c.raw("POST", path, { body: JSON.stringify(body), headers: json });
  const get = async (path: string) => JSON.parse((await c.raw("GET", path)).body) as Obj;
  const exists = async (path: string) => (await c.raw("GET", path)).status === 200;

  async function ok(args: string[], input?: string): Promise<string> {
    const r = await c.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  async function node(name: string) {
    await ok(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name }, status: { conditions: [{ type: "Ready", status: "True" }] } }));
  }

  /** A pod bound to nodeName (or unbound), marked Running and Ready unless pending. */
  async function pod(name: string, opts: { nodeName?: string; labels?: Record<string, string>; owner?: Record<string, unknown>; pending?: boolean } = {}) {
    const metadata = { name, labels: opts.labels ?? {}, ...(opts.owner ? { ownerReferences: [opts.owner] } : {}) };
    const spec = { containers: [{ name: "c", image: "busybox:1.36" }], ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) };
    const r = await post("/api/v1/namespaces/default/pods", { apiVersion: "v1", kind: "Pod", metadata, spec });
    assert.equal(r.status, 201, r.body);
    if (opts.pending) return;
    const status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
    const s = await c.raw("PATCH", `/api/v1/namespaces/default/pods/${name}/status`, { body: JSON.stringify({ status }), headers: { "Content-Type": "application/merge-patch+json" } });
    assert.equal(s.status, 200, s.body);
  }

  // No node agent runs these pods, so nothing would end a graceful deletion: evictions and
  // drains ask for grace 0 (as --grace-period=0 does), which deletes a pod at once.
  const evict = (name: string, extra: Record<string, unknown> = {}) =>
    post(`/api/v1/namespaces/default/pods/${name}/eviction`, { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: "default" }, deleteOptions: { gracePeriodSeconds: 0 }, ...extra });

  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  test("binding sets spec.nodeName and PodScheduled once; a second binding is a 409", async () => {
    await pod("b1", { pending: true });
    const bind = (name: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      post(`/api/v1/namespaces/default/pods/${name}/binding`, { apiVersion: "v1", kind: "Binding", metadata: { name, ...extra }, target });
    const r = await bind("b1", { kind: "Node", name: "n-a" }, { annotations: { "example.com/by": "test" } });
    assert.equal(r.status, 201, r.body);
    assert.deepEqual(JSON.parse(r.body), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
    const bound = await get("/api/v1/namespaces/default/pods/b1");
    assert.equal(bound.spec.nodeName, "n-a");
    assert.equal(bound.metadata.annotations?.["example.com/by"], "test");
    const scheduled = (bound.status.conditions as { type: string; status: string }[]).find((x) => x.type === "PodScheduled");
    assert.equal(scheduled?.status, "True");

    const again = await bind("b1", { kind: "Node", name: "n-b" });
    assert.equal(again.status, 409);
    assert.equal(JSON.parse(again.body).message, 'Operation cannot be fulfilled on pods/binding "b1": pod b1 is already assigned to node "n-a"');
    assert.equal((await get("/api/v1/namespaces/default/pods/b1")).spec.nodeName, "n-a");

    // An update cannot move the pod either: its spec is fixed but for a few fields.
    const moved = await c.raw("PATCH", "/api/v1/namespaces/default/pods/b1", { body: JSON.stringify({ spec: { nodeName: "n-b" } }), headers: { "Content-Type": "application/merge-patch+json" } });
    assert.equal(moved.status, 422);
    assert.match(JSON.parse(moved.body).message, /spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`.*spec\.nodeName/s);
    const image = await c.raw("PATCH", "/api/v1/namespaces/default/pods/b1", { body: JSON.stringify({ spec: { containers: [{ name: "c", image: "busybox:1.37" }] } }), headers: { "Content-Type": "application/strategic-merge-patch+json" } });
    assert.equal(image.status, 200, image.body);

    // Bad bindings: nothing changes.
    await pod("b2", { pending: true });
    let bad = await bind("b2", { kind: "Pod", name: "n-a" });
    assert.equal(bad.status, 422);
    assert.equal(JSON.parse(bad.body).message, 'Binding "b2" is invalid: target.kind: Unsupported value: "Pod": supported values: "Node"');
    bad = await bind("b2", { kind: "Node" });
    assert.equal(bad.status, 422);
    assert.match(JSON.parse(bad.body).message, /target\.name: Required value/);
    bad = await post("/api/v1/namespaces/default/pods/b2/binding", { apiVersion: "v1", kind: "Binding", metadata: { name: "other" }, target: { name: "n-a" } });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /name in URL does not match name in Binding object/);
    bad = await bind("b2", { name: "n-a" }, { uid: "not-the-pod" });
    assert.equal(bad.status, 409);
    assert.match(JSON.parse(bad.body).message, /Precondition failed: UID in precondition: not-the-pod/);
    bad = await bind("nope", { name: "n-a" });
    assert.equal(bad.status, 404);
    assert.equal((await get("/api/v1/namespaces/default/pods/b2")).spec.nodeName, undefined);

    // The older way: a Binding named after the pod, POSTed to the namespace's bindings.
    const legacy = await post("/api/v1/namespaces/default/bindings", { apiVersion: "v1", kind: "Binding", metadata: { name: "b2" }, target: { kind: "Node", name: "n-b" } });
    assert.equal(legacy.status, 201, legacy.body);
    assert.equal((await get("/api/v1/namespaces/default/pods/b2")).spec.nodeName, "n-b");
    assert.equal((await c.raw("GET", "/api/v1/namespaces/default/bindings")).status, 405);
  });

  test("discovery lists pods/binding, pods/eviction (policy/v1) and poddisruptionbudgets", async () => {
    const v1 = JSON.parse((await c.raw("GET", "/api/v1")).body) as { resources: Record<string, unknown>[] };
    const byName = (n: string) => v1.resources.find((r) => r.name === n);
    assert.deepEqual(byName("pods/eviction"), { name: "pods/eviction", singularName: "", namespaced: true, group: "policy", version: "v1", kind: "Eviction", verbs: ["create"] });
    assert.deepEqual(byName("pods/binding"), { name: "pods/binding", singularName: "", namespaced: true, kind: "Binding", verbs: ["create"] });
    assert.deepEqual(byName("bindings")?.verbs, ["create"]);
    const out = await ok(["api-resources", "--api-group=policy"]);
    assert.match(out, /poddisruptionbudgets\s+pdb\s+policy\/v1\s+true\s+PodDisruptionBudget/);
  });

  test("kubectl drain cordons the node and evicts its pods, leaving DaemonSet pods", async () => {
    await node("n1");
    await pod("free", { nodeName: "n1", labels: { app: "free" } });
    await pod("elsewhere", { nodeName: "n9", labels: { app: "free" } });
    const ds = { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "agent" }, spec: { selector: { matchLabels: { app: "agent" } }, template: { metadata: { labels: { app: "agent" } }, spec: { containers: [{ name: "c", image: "busybox:1.36" }] } } } };
    await ok(["apply", "-f", "-"], JSON.stringify(ds));
    const dsUid = (await get("/apis/apps/v1/namespaces/default/daemonsets/agent")).metadata.uid;
    await pod("agent-n1", { nodeName: "n1", labels: { app: "agent" }, owner: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent", uid: dsUid, controller: true } });

    const out = await ok(["drain", "n1", "--ignore-daemonsets", "--force", "--grace-period=0", "--timeout=60s"]);
    assert.match(out, /node\/n1 cordoned/);
    assert.match(out, /evicting pod default\/free/);
    assert.match(out, /pod\/free evicted/);
    assert.match(out, /node\/n1 drained/);
    assert.equal(await exists("/api/v1/namespaces/default/pods/free"), false);
    assert.equal(await exists("/api/v1/namespaces/default/pods/agent-n1"), true);
    assert.equal(await exists("/api/v1/namespaces/default/pods/elsewhere"), true);
    assert.equal((await get("/api/v1/nodes/n1")).spec.unschedulable, true);
  });

  test("a PodDisruptionBudget blocks drain with the 429 text until it allows a disruption", async () => {
    await node("n2");
    for (const name of ["web-1", "web-2"]) await pod(name, { nodeName: "n2", labels: { app: "web" } });
    await pod("web-3", { nodeName: "n3", labels: { app: "web" } });
    const pdb = (minAvailable: number | string) => JSON.stringify({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "web" }, spec: { minAvailable, selector: { matchLabels: { app: "web" } } } });
    await ok(["apply", "-f", "-"], pdb(3));

    const r = await c.kubectl(["drain", "n2", "--force", "--grace-period=0", "--timeout=7s"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error when evicting pods\/"web-[12]" -n "default" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./);
    for (const name of ["web-1", "web-2", "web-3"]) assert.equal(await exists(`/api/v1/namespaces/default/pods/${name}`), true, name);

    const refused = await evict("web-1");
    assert.equal(refused.status, 429);
    const st = JSON.parse(refused.body);
    assert.equal(st.reason, "TooManyRequests");
    assert.deepEqual(st.details.causes, [{ reason: "DisruptionBudget", message: "The disruption budget web needs 3 healthy pods and has 3 currently" }]);
    const status = (await get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")).status;
    assert.deepEqual([status.expectedPods, status.desiredHealthy, status.currentHealthy, status.disruptionsAllowed], [3, 3, 3, 0]);
    assert.match(await ok(["get", "pdb", "web"]), /^web\s+3\s+N\/A\s+0\s+/m);

    // minAvailable 2: one disruption; the evicted pod counts until it is gone, so a second is refused.
    await ok(["apply", "-f", "-"], pdb(2));
    const first = await evict("web-1");
    assert.equal(first.status, 201, first.body);
    assert.equal(await exists("/api/v1/namespaces/default/pods/web-1"), false);
    const second = await evict("web-2");
    assert.equal(second.status, 429);
    assert.match(JSON.parse(second.body).details.causes[0].message, /needs 2 healthy pods and has 2 currently/);
    // Dry run asks the budget but changes nothing.
    await ok(["apply", "-f", "-"], pdb(1));
    const dry = await evict("web-2", { deleteOptions: { dryRun: ["All"] } });
    assert.equal(dry.status, 201);
    assert.equal(await exists("/api/v1/namespaces/default/pods/web-2"), true);
    const out = await ok(["drain", "n2", "--force", "--grace-period=0", "--timeout=30s"]);
    assert.match(out, /pod\/web-2 evicted/);
    assert.equal(await exists("/api/v1/namespaces/default/pods/web-2"), false);
  });

  test("pending pods ignore budgets; two budgets for one pod are refused; a missing pod is 404", async () => {
    await pod("lone", { labels: { tier: "x" }, pending: true });
    await ok(["apply", "-f", "-"], JSON.stringify({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "x-all" }, spec: { minAvailable: "100%", selector: { matchLabels: { tier: "x" } } } }));
    assert.equal((await evict("lone")).status, 201);
    assert.equal(await exists("/api/v1/namespaces/default/pods/lone"), false);

    await pod("twice", { labels: { tier: "x" } });
    await ok(["apply", "-f", "-"], JSON.stringify({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "x-too" }, spec: { maxUnavailable: 1, selector: { matchLabels: { tier: "x" } } } }));
    const r = await evict("twice");
    assert.equal(r.status, 500);
    assert.equal(JSON.parse(r.body).message, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
    assert.equal(await exists("/api/v1/namespaces/default/pods/twice"), true);

    assert.equal((await evict("ghost")).status, 404);
    const mismatch = await post("/api/v1/namespaces/default/pods/twice/eviction", { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "other" } });
    assert.equal(mismatch.status, 400);
    const both = await c.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "bad" }, spec: { minAvailable: 1, maxUnavailable: 1, selector: {} } }) });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /minAvailable and maxUnavailable cannot be both set/);
  });

  test("a pod on a node is deleted gracefully: it stays Terminating until deleted with grace 0, which a uid precondition guards", async () => {
    // node's client sends a DELETE body without a length unless told one.
    const del = (path: string, options: Record<string, unknown>) => {
      const body = JSON.stringify(options);
      return c.raw("DELETE", path, { body, headers: { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) } });
    };
    await pod("graceful", { nodeName: "n5" });
    const first = await del("/api/v1/namespaces/default/pods/graceful", { gracePeriodSeconds: 20 });
    assert.equal(first.status, 200, first.body);
    const marked = await get("/api/v1/namespaces/default/pods/graceful");
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 20);
    const deadline = Date.parse(marked.metadata.deletionTimestamp ?? "");
    assert.ok(Math.abs(deadline - (Date.now() + 20_000)) < 5_000, `deletionTimestamp ${marked.metadata.deletionTimestamp} is now + the grace period`);
    assert.match(await ok(["get", "pod", "graceful"]), /Terminating/);
    // A longer grace period does not extend it; a shorter one shortens it.
    await c.raw("DELETE", "/api/v1/namespaces/default/pods/graceful?gracePeriodSeconds=60");
    assert.equal((await get("/api/v1/namespaces/default/pods/graceful")).metadata.deletionGracePeriodSeconds, 20);
    await c.raw("DELETE", "/api/v1/namespaces/default/pods/graceful?gracePeriodSeconds=5");
    assert.equal((await get("/api/v1/namespaces/default/pods/graceful")).metadata.deletionGracePeriodSeconds, 5);
    // What the node agent sends once the containers stopped: grace 0 and the pod's uid.
    const wrongUid = await del("/api/v1/namespaces/default/pods/graceful", { gracePeriodSeconds: 0, preconditions: { uid: "not-this-one" } });
    assert.equal(wrongUid.status, 409);
    const gone = await del("/api/v1/namespaces/default/pods/graceful", { gracePeriodSeconds: 0, preconditions: { uid: marked.metadata.uid } });
    assert.equal(gone.status, 200, gone.body);
    assert.equal(await exists("/api/v1/namespaces/default/pods/graceful"), false);
    // Unbound and finished pods have nothing to wait for.
    await pod("unbound", { pending: true });
    await ok(["delete", "pod", "unbound", "--wait=false"]);
    assert.equal(await exists("/api/v1/namespaces/default/pods/unbound"), false);
    await pod("finished", { nodeName: "n5" });
    await c.raw("PATCH", "/api/v1/namespaces/default/pods/finished/status", { body: JSON.stringify({ status: { phase: "Succeeded" } }), headers: { "Content-Type": "application/merge-patch+json" } });
    await ok(["delete", "pod", "finished", "--wait=false"]);
    assert.equal(await exists("/api/v1/namespaces/default/pods/finished"), false);
    const bad = await c.raw("DELETE", "/api/v1/namespaces/default/pods/none?gracePeriodSeconds=soon");
    assert.equal(bad.status, 400);
  });
});
