// The scheduler inside the server (the same control loops `gantry server` starts), against
// hollow nodes, checked through the real kubectl: placement by resources, taints,
// nodeSelector and anti-affinity; the FailedScheduling message `kubectl describe pod`
// shows; a waiting pod placed when a node joins (no polling); preemption.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startControlLoops } from "../../src/cli/gantry/server-command.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { startHollowNodes, type HollowNodes } from "../../src/cluster/hollow/index.ts";
import { kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("scheduler with hollow nodes, through kubectl", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  let client: Client;
  const fleets: HollowNodes[] = [];
  const logs: string[] = [];

  before(async () => {
    c = await startTestCluster({ startControllers: (t) => startControlLoops(t, (m) => logs.push(m)) });
    client = Client.fromKubeconfig(c.server.kubeconfigPath);
    fleets.push(
      await startHollowNodes(client, {
        namePrefix: "n",
        count: 3,
        capacity: { cpu: "2", memory: "4Gi", pods: "10" },
        labels: (i) => ({ zone: i < 2 ? "a" : "b" }),
        taints: (i) => (i === 0 ? [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] : []),
      }),
    );
  });
  after(async () => {
    for (const f of fleets) await f.stop();
    await c?.stop();
  });

  const apply = async (obj: object) => {
    const r = await c.kubectl(["apply", "-f", "-"], { input: JSON.stringify(obj) });
    assert.equal(r.code, 0, r.stderr);
  };
  const pod = (name: string, spec: object = {}, cpu = "100m", meta: object = {}) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, ...meta },
    spec: { containers: [{ name: "c", image: "busybox", resources: { requests: { cpu } } }], ...spec },
  });
  const jsonpath = async (name: string, path: string) => (await c.kubectl(["get", "pod", name, "-o", `jsonpath=${path}`])).stdout;
  /** Waits (bounded) until kubectl's answer satisfies pred; returns the last answer. */
  async function until(what: () => Promise<string>, pred: (s: string) => boolean, ms = 20_000): Promise<string> {
    const end = Date.now() + ms;
    let last = await what();
    while (!pred(last) && Date.now() < end) {
      await sleep(200);
      last = await what();
    }
    return last;
  }

  test("a pod too big for every node stays Pending with the FailedScheduling message kubectl describe shows", async () => {
    await apply(pod("huge", {}, "3"));
    const msg = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.";
    const cond = await until(() => jsonpath("huge", "{.status.conditions[?(@.type=='PodScheduled')].message}"), (s) => s.length > 0);
    assert.equal(cond, msg);
    assert.equal(await jsonpath("huge", "{.status.phase} {.status.conditions[?(@.type=='PodScheduled')].reason} {.spec.nodeName}"), "Pending Unschedulable ");
    const describe = await c.kubectl(["describe", "pod", "huge"]);
    assert.match(describe.stdout, /Warning\s+FailedScheduling\s+\S+(?: \(x\d+ over \S+\))?\s+default-scheduler\s+0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: gpu\}, 2 Insufficient cpu\. preemption:/);
    await c.kubectl(["delete", "pod", "huge", "--wait=false"]);
  });

  test("a bound pod gets the Scheduled event and is reported Running by its hollow node", async () => {
    await apply(pod("p1"));
    const node = await until(() => jsonpath("p1", "{.spec.nodeName}"), (s) => s.length > 0);
    assert.match(node, /^n-[12]$/, "not the tainted node");
    assert.equal(await until(() => jsonpath("p1", "{.status.phase}"), (s) => s === "Running"), "Running");
    assert.match(await jsonpath("p1", "{.status.podIP}"), /^10\.\d+\.\d+\.\d+$/);
    const describe = await until(async () => (await c.kubectl(["describe", "pod", "p1"])).stdout, (s) => /Scheduled/.test(s));
    assert.match(describe, new RegExp(`Normal\\s+Scheduled\\s+\\S+\\s+default-scheduler\\s+Successfully assigned default/p1 to ${node}`));
  });

  test("tolerations and nodeSelector bring a pod onto the tainted node", async () => {
    await apply(pod("gpu", { nodeSelector: { "kubernetes.io/hostname": "n-0" }, tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] }));
    assert.equal(await until(() => jsonpath("gpu", "{.spec.nodeName}"), (s) => s.length > 0), "n-0");
    await apply(pod("nogpu", { nodeSelector: { "kubernetes.io/hostname": "n-0" } }));
    const msg = await until(() => jsonpath("nogpu", "{.status.conditions[?(@.type=='PodScheduled')].message}"), (s) => s.length > 0);
    assert.match(msg, /^0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: gpu\}, 2 node\(s\) didn't match Pod's node affinity\/selector\./);
    await c.kubectl(["delete", "pod", "nogpu", "--wait=false"]);
  });

  test("required anti-affinity spreads replicas one per node and leaves the extra one Pending", async () => {
    const anti = (name: string) =>
      pod(name, { tolerations: [{ operator: "Exists" }], affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: "spread" } }, topologyKey: "kubernetes.io/hostname" }] } } }, "100m", { labels: { app: "spread" } });
    for (const n of ["s1", "s2", "s3"]) await apply(anti(n));
    const nodes = await until(async () => (await c.kubectl(["get", "pods", "-l", "app=spread", "-o", "jsonpath={.items[*].spec.nodeName}"])).stdout, (s) => s.split(" ").filter(Boolean).length === 3);
    assert.deepEqual(nodes.split(" ").sort(), ["n-0", "n-1", "n-2"]);
    await apply(anti("s4"));
    const msg = await until(() => jsonpath("s4", "{.status.conditions[?(@.type=='PodScheduled')].message}"), (s) => s.length > 0);
    assert.match(msg, /^0\/3 nodes are available: 3 node\(s\) didn't match pod anti-affinity rules\./);
  });

  test("a waiting pod is placed as soon as a node that fits joins", async () => {
    await apply(pod("big", {}, "6"));
    await until(() => jsonpath("big", "{.status.conditions[?(@.type=='PodScheduled')].reason}"), (s) => s === "Unschedulable");
    fleets.push(await startHollowNodes(client, { namePrefix: "big", count: 1, capacity: { cpu: "8", memory: "16Gi" } }));
    assert.equal(await until(() => jsonpath("big", "{.spec.nodeName}"), (s) => s.length > 0), "big-0");
  });

  test("preemption: a high-priority pod evicts the least important pods that make room, and takes their place", async () => {
    await apply({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "low" }, value: 10 });
    await apply({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "high" }, value: 1000 });
    // big-0 (8 cpu) holds "big" (6 cpu, priority 0); "mid" (priority 10) fills it.
    await apply(pod("mid", { priorityClassName: "low", nodeSelector: { "kubernetes.io/hostname": "big-0" } }, "2"));
    assert.equal(await until(() => jsonpath("mid", "{.spec.nodeName}"), (s) => s.length > 0), "big-0");
    await apply(pod("vip", { priorityClassName: "high", nodeSelector: { "kubernetes.io/hostname": "big-0" } }, "2"));
    assert.equal(await until(() => jsonpath("vip", "{.spec.nodeName}"), (s) => s.length > 0), "big-0");
    // Taking either frees 2 cpu; the more important "mid" is given back first and still leaves room, so "big" goes.
    assert.match((await c.kubectl(["get", "pod", "big"])).stderr, /NotFound/);
    assert.equal(await jsonpath("mid", "{.spec.nodeName}"), "big-0");
    const events = await c.kubectl(["get", "events", "--field-selector", "involvedObject.name=big", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}"]);
    assert.match(events.stdout, /Preempted: Preempted by pod \S+ on node big-0/);
    const vipEvents = await c.kubectl(["get", "events", "--field-selector", "involvedObject.name=vip", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}"]);
    assert.match(vipEvents.stdout, /Scheduled: Successfully assigned default\/vip to big-0/);
  });
});
