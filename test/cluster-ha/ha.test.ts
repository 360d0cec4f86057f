// High availability as users run it: a 3-member etcd cluster on loopback and two
// `gantry server --no-agent --etcd-endpoints e1,e2,e3` processes on it (each with its own data
// dir, TLS material and kubeconfig). With no node agent the test plays the kubelet through
// whichever server answers. A Deployment rollout is started, then the server holding the
// Lease kube-system/gantry-controller-manager is killed with SIGKILL: the rollout completes
// through the other server, nothing is lost and no ReplicaSet has more pods than it wants.
// Then each etcd member of three in turn is killed (and brought back): the API keeps answering
// reads and writes, and the controllers keep acting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, isConflict, isNotFound, type KubeObject } from "../../src/cluster/client/index.ts";
import { kubectlMissing } from "../cluster-api/_server.ts";
import { freePort, startGantry, until, type GantryServer } from "../cluster-controllers/_gantry-server.ts";
import { NODES, PODS } from "../cluster-controllers/_harness.ts";
import { TestEtcd, etcdSkipReason } from "../cluster-store/_etcd.ts";

const ELECTION = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "250ms"];
const identityOf = (s: GantryServer) => /leader election: (\S+) is a candidate/.exec(s.output)?.[1];
const leads = (s: GantryServer) => /leader election: \S+ is the leader of kube-system\/gantry-controller-manager/.test(s.output);
const names = (out: string) => out.trim().split("\n").filter(Boolean);

interface Deployment {
  metadata: { generation: number };
  spec: { replicas: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number };
}
interface ReplicaSet {
  metadata: { name: string; uid: string };
  spec: { replicas: number };
}

/** The deployment has rolled out: every wanted pod is updated and available, and no other pod is left. */
const rolledOut = (d: Deployment) =>
  d.status?.observedGeneration === d.metadata.generation && d.status.updatedReplicas === d.spec.replicas && d.status.availableReplicas === d.spec.replicas && d.status.replicas === d.spec.replicas;

/**
 * The kubelet's part, through whichever server answers: bind each new pod to n1 and report it
 * Running and Ready; remove a pod being deleted (grace 0). held: leave new pods Pending.
 */
function startKubelet(clients: Client[]) {
  const errors: string[] = [];
  const state = { stopped: false, held: false };
  let ip = 2;
  const markRunning = async (client: Client, p: KubeObject) => {
    const { namespace, name } = p.metadata;
    if (!(p.spec as { nodeName?: string }).nodeName) {
      await client.resource(PODS).createSubresource(namespace, name!, "binding", { apiVersion: "v1", kind: "Binding", metadata: { name, namespace }, target: { kind: "Node", name: "n1" } });
    }
    const addr = `10.42.${Math.floor(ip / 250)}.${(ip++ % 250) + 2}`;
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const status = { phase: "Running", podIP: addr, podIPs: [{ ip: addr }], conditions: [{ type: "Ready", status: "True", lastTransitionTime: now }] };
    await client.resource(PODS).patch(namespace, name!, "merge", { status, metadata: { uid: p.metadata.uid } }, { subresource: "status" });
  };
  const gone = (err: unknown) => {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  };
  const loop = (async () => {
    let current = 0;
    while (!state.stopped) {
      const client = clients[current]!;
      try {
        for (const p of (await client.resource(PODS).list(undefined)).items) {
          if (p.metadata.deletionTimestamp) {
            await client.resource(PODS).delete(p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } }).catch(gone);
          } else if ((p.status as { phase?: string } | undefined)?.phase !== "Running" && !state.held) {
            await markRunning(client, p).catch(gone);
          }
        }
      } catch (err) {
        // That server is gone (killed by the test): go on through the next one.
        if (/ECONNREFUSED|ECONNRESET|socket hang up|fetch failed/.test(String(err) + String((err as { cause?: unknown }).cause ?? ""))) current = (current + 1) % clients.length;
        else errors.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    errors,
    state,
    async stop() {
      state.stopped = true;
      await loop;
    },
  };
}

test("two gantry servers on a 3-member etcd: a rollout survives kill -9 of the leading server, and the API survives losing one etcd member", { skip: kubectlMissing || etcdSkipReason() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-ha-"));
  const servers: GantryServer[] = [];
  let etcd: TestEtcd[] = [];
  let kubelet: ReturnType<typeof startKubelet> | undefined;
  try {
    etcd = await TestEtcd.startCluster(3);
    const flags = ["--etcd-endpoints", etcd.map((e) => e.endpoint).join(","), ...ELECTION];
    const a = await startGantry(dir, join(dir, "a"), await freePort(), flags);
    servers.push(a);
    await until("server a to lead", 30_000, async () => (leads(a) ? true : undefined));
    const b = await startGantry(dir, join(dir, "b"), await freePort(), flags);
    servers.push(b);
    await until("server b to stand as a candidate", 30_000, async () => identityOf(b));
    const clients = [a, b].map((s, i) => Client.fromKubeconfig(join(dir, i === 0 ? "a" : "b", "admin.kubeconfig")));
    await clients[1]!.resource(NODES).create(undefined, { metadata: { name: "n1", labels: { "kubernetes.io/hostname": "n1" } } });
    kubelet = startKubelet(clients);

    // Both servers see one store: what is written through b is read through a.
    await b.ok("create", "configmap", "before-failover", "--from-literal=k=v");
    assert.equal(await a.ok("get", "configmap", "before-failover", "-o", "jsonpath={.data.k}"), "v");
    await a.ok("create", "deployment", "web", "--image=busybox", "--replicas=4");
    const deployment = async (s: GantryServer) => JSON.parse(await s.ok("get", "deployment", "web", "-o", "json")) as Deployment;
    await until("web to roll out", 60_000, async () => (rolledOut(await deployment(a)) ? true : undefined));

    // Start a rollout with the kubelet holding new pods Pending, so it is surely mid-way.
    kubelet.state.held = true;
    await a.ok("set", "image", "deployment/web", "busybox=busybox:1.36");
    await until("the new ReplicaSet's first pods", 30_000, async () => (names(await a.ok("get", "rs", "-l", "app=web", "-o", "name")).length === 2 ? true : undefined));

    const holder = await a.ok("get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}");
    const leader = [a, b].find((s) => identityOf(s) === holder);
    assert.ok(leader, `the Lease is held by ${holder}, neither server`);
    const other = leader === a ? b : a;
    await leader.stop("SIGKILL");
    kubelet.state.held = false;

    await until("the other server to lead", 60_000, async () => (leads(other) ? true : undefined));
    await until("web's rollout to complete through the other server", 90_000, async () => {
      const d = await deployment(other);
      return rolledOut(d) && d.spec.replicas === 4 ? true : undefined;
    });
    assert.equal(await other.ok("get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"), identityOf(other));

    // Nothing lost, nothing duplicated: each ReplicaSet owns exactly as many pods as it wants.
    const countPods = async () => {
      const rss = (JSON.parse(await other.ok("get", "rs", "-l", "app=web", "-o", "json")) as { items: ReplicaSet[] }).items;
      const pods = (JSON.parse(await other.ok("get", "pods", "-l", "app=web", "-o", "json")) as { items: KubeObject[] }).items;
      return rss.map((rs) => ({ name: rs.metadata.name, want: rs.spec.replicas, have: pods.filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === rs.metadata.uid)).length }));
    };
    const afterRollout = await countPods();
    assert.equal(afterRollout.length, 2, JSON.stringify(afterRollout));
    assert.deepEqual(afterRollout.map((r) => r.want).sort(), [0, 4]);
    for (const r of afterRollout) assert.equal(r.have, r.want, JSON.stringify(afterRollout));
    assert.equal(await other.ok("get", "configmap", "before-failover", "-o", "jsonpath={.data.k}"), "v");
    assert.deepEqual(names(await other.ok("get", "nodes", "-o", "name")), ["node/n1"]);
    assert.match(await other.ok("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), /^busybox:1\.36$/);

    // One etcd member of three dies: reads and writes still answer, and the controllers act.
    // Each member in turn (brought back before the next), so whichever member a server's
    // requests and watches went to is killed at least once.
    for (const [i, member] of etcd.entries()) {
      await member.kill9();
      assert.equal(await other.ok("get", "configmap", "before-failover", "-o", "jsonpath={.data.k}"), "v");
      await other.ok("create", "configmap", `member-${i}-down`, `--from-literal=k=${i}`);
      assert.equal(await other.ok("get", "configmap", `member-${i}-down`, "-o", "jsonpath={.data.k}"), String(i));
      await other.ok("scale", "deployment", "web", `--replicas=${5 + i}`);
      await until(`web scaled to ${5 + i} with etcd member ${i} down`, 90_000, async () => {
        const d = await deployment(other);
        return rolledOut(d) && d.spec.replicas === 5 + i ? true : undefined;
      });
      const afterScale = await countPods();
      for (const r of afterScale) assert.equal(r.have, r.want, JSON.stringify(afterScale));
      assert.deepEqual(afterScale.map((r) => r.want).sort(), [0, 5 + i]);
      await member.launch();
    }
    assert.deepEqual(names(await other.ok("get", "configmaps", "-o", "name")).filter((n) => n.startsWith("configmap/member-")), ["configmap/member-0-down", "configmap/member-1-down", "configmap/member-2-down"]);
    await kubelet.stop();
    assert.deepEqual(kubelet.errors, []);
  } finally {
    await kubelet?.stop();
    for (const s of servers) await s.stop();
    for (const e of etcd) await e.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
