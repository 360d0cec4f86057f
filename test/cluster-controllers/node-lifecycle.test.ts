// The node lifecycle controller against a real API server on the fake clock: a node whose
// Lease stops being renewed goes Unknown with the unreachable taints at exactly the grace
// period, its pods go Ready=False, pods are deleted when their tolerationSeconds run out
// (300 s from the DefaultTolerationSeconds admission when they name none; never with an
// unlimited toleration), and a node that posts
// Ready again loses the taints.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { NodeLifecycleController } from "../../src/cluster/controllers/index.ts";
import type { KubeObject, ResourceRef } from "../../src/cluster/client/index.ts";
import { NODES, PODS, EVENTS, startHarness, type Harness } from "./_harness.ts";

const LEASES: ResourceRef = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };
const GRACE_S = 40;
const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new NodeLifecycleController(ctx, { gracePeriodSeconds: GRACE_S })]);
});
after(async () => {
  await h.stop();
});

const ready = (status: string) => ({ type: "Ready", status, reason: "KubeletReady", message: "kubelet is posting ready status", lastHeartbeatTime: time(h.clock.now()), lastTransitionTime: time(h.clock.now()) });

async function renewLease(name: string) {
  const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date(h.clock.now()).toISOString().replace("Z", "000Z") };
  const leases = h.client.resource(LEASES);
  if (await h.get(LEASES, "kube-node-lease", name)) await leases.patch("kube-node-lease", name, "merge", { spec });
  else await leases.create("kube-node-lease", { metadata: { name, namespace: "kube-node-lease" }, spec });
}

async function pod(name: string, node: string, tolerations: unknown[]): Promise<KubeObject> {
  await h.client.resource(PODS).create("default", { metadata: { name }, spec: { nodeName: node, tolerations, containers: [{ name: "c", image: "busybox" }] } });
  const now = time(h.clock.now());
  return h.client.resource(PODS).patch("default", name, "merge", { status: { phase: "Running", conditions: [{ type: "Ready", status: "True", lastTransitionTime: now }] } }, { subresource: "status" });
}

/** Moves the clock by ms (firing what comes due) and lets the controller finish. */
async function pass(ms: number) {
  await h.clock.advance(ms);
  await h.runToQuiet(0);
}

const readyOf = (o: KubeObject | undefined) => ((o?.status as { conditions?: { type: string; status: string; message?: string }[] })?.conditions ?? []).find((c) => c.type === "Ready");
const taintsOf = (o: KubeObject | undefined) => ((o?.spec as { taints?: { key: string; effect: string; timeAdded?: string }[] })?.taints ?? []).map((t) => `${t.key}:${t.effect}${t.timeAdded ? `@${t.timeAdded}` : ""}`);

test("a node that stops renewing its lease goes Unknown and tainted at the grace period; pods evicted after tolerationSeconds; recovery removes the taints", async () => {
  const t0 = h.clock.now();
  await h.client.resource(NODES).create(undefined, { metadata: { name: "n1" }, spec: { taints: [{ key: "dedicated", value: "x", effect: "NoSchedule" }] }, status: { conditions: [ready("True")] } });
  await renewLease("n1");
  await pod("bare", "n1", []);
  await pod("tolerant", "n1", [{ key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 }]);
  await pod("forever", "n1", [{ operator: "Exists" }]);
  await pod("elsewhere", "n2", []);

  await pass(GRACE_S * 1000 - 1);
  assert.equal(readyOf(await h.get(NODES, undefined, "n1"))?.status, "True", "one millisecond before the grace period: still Ready");
  assert.deepEqual(taintsOf(await h.get(NODES, undefined, "n1")), ["dedicated:NoSchedule"]);

  await pass(1);
  assert.equal(h.clock.now(), t0 + GRACE_S * 1000, "acted at exactly the grace period");
  const node = await h.get(NODES, undefined, "n1");
  const conditions = (node!.status as { conditions: { type: string; status: string; reason: string; message: string }[] }).conditions;
  assert.deepEqual(
    conditions.map((c) => [c.type, c.status, c.reason, c.message]),
    [
      ["Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."],
      ["MemoryPressure", "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status."],
      ["DiskPressure", "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status."],
      ["PIDPressure", "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status."],
    ],
  );
  const added = time(t0 + GRACE_S * 1000);
  assert.deepEqual(taintsOf(node), ["dedicated:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule", `node.kubernetes.io/unreachable:NoExecute@${added}`]);
  const bare = await h.get(PODS, "default", "bare");
  assert.deepEqual((bare!.spec as { tolerations: unknown[] }).tolerations, [
    { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
  ], "DefaultTolerationSeconds admission gave it 300 s");
  assert.equal(readyOf(bare)?.status, "False");
  assert.equal(readyOf(await h.get(PODS, "default", "tolerant"))?.status, "False", "pods of a silent node are not ready");
  assert.equal(readyOf(await h.get(PODS, "default", "forever"))?.status, "False");
  assert.equal(readyOf(await h.get(PODS, "default", "elsewhere"))?.status, "True", "a pod of another node is left alone");

  await pass(60_000 - 1);
  assert.ok(await h.get(PODS, "default", "tolerant"), "still within its 60 s");
  await pass(1);
  assert.equal(h.clock.now(), t0 + (GRACE_S + 60) * 1000);
  assert.equal(await h.get(PODS, "default", "tolerant"), undefined, "evicted when tolerationSeconds ran out");
  assert.ok(await h.get(PODS, "default", "bare"));
  await pass(240_000 - 1);
  assert.ok(await h.get(PODS, "default", "bare"), "the default 300 s have not run out");
  await pass(1);
  assert.equal(await h.get(PODS, "default", "bare"), undefined, "evicted 300 s after the taint");
  const reasons = (await h.list(EVENTS, "default")).map((e) => `${e.reason} ${e.message as string}`);
  assert.ok(reasons.includes("TaintManagerEviction Marking for deletion Pod default/bare"), reasons.join("\n"));
  await pass(3_600_000);
  assert.ok(await h.get(PODS, "default", "forever"), "an unlimited toleration keeps the pod");

  // The kubelet comes back: renews and posts Ready.
  await renewLease("n1");
  await h.client.resource(NODES).patch(undefined, "n1", "strategic", { status: { conditions: [ready("True")] } }, { subresource: "status" });
  await h.runToQuiet(1000);
  assert.deepEqual(taintsOf(await h.get(NODES, undefined, "n1")), ["dedicated:NoSchedule"], "our taints gone, the user's kept");
});

test("a node whose kubelet reports Ready=False gets the not-ready taints", async () => {
  await h.client.resource(NODES).create(undefined, { metadata: { name: "n3" }, status: { conditions: [ready("False")] } });
  await renewLease("n3");
  await h.runToQuiet(1000);
  const node = await h.get(NODES, undefined, "n3");
  assert.equal(readyOf(node)?.status, "False", "the kubelet is posting: its word stands");
  assert.deepEqual(taintsOf(node), ["node.kubernetes.io/not-ready:NoSchedule", `node.kubernetes.io/not-ready:NoExecute@${time(h.clock.now())}`]);
});
