// Leader failover time of the control plane (issue 17, high availability): two
// `gantry server --no-agent` on a 3-member etcd cluster with the default leader election
// flags (15 s lease, 10 s renew deadline, 2 s retry). Each run kill -9s the server holding the
// Lease kube-system/gantry-controller-manager, scales a Deployment through the survivor at
// once, and times until the survivor's controllers have carried the scale out (the
// ReplicaSet wants, and has, the new number of pods). A fresh server then joins as the next
// candidate. Target: ≤ 15 s (the lease duration bounds it, plus up to one retry period).
// Usage: node --import tsx bench/cluster/ha/failover.ts [--runs 3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "../../../src/cluster/client/index.ts";
import { freePort, startGantry, until, type GantryServer } from "../../../test/cluster-controllers/_gantry-server.ts";
import { PODS } from "../../../test/cluster-controllers/_harness.ts";
import { TestEtcd } from "../../../test/cluster-store/_etcd.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const RUNS = Number(values.runs);
const DEPLOYMENTS = { group: "apps", version: "v1", resource: "deployments", kind: "Deployment", namespaced: true };
const REPLICASETS = { group: "apps", version: "v1", resource: "replicasets", kind: "ReplicaSet", namespaced: true };
const LEASES = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };
const identityOf = (s: GantryServer) => /leader election: (\S+) is a candidate/.exec(s.output)?.[1];
/** Like until, but every 100 ms: the measured wait should not round up to half a second. */
async function poll(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await probe().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const root = mkdtempSync(join(tmpdir(), "gantry-bench-failover-"));
const servers: Array<{ server: GantryServer; client: Client }> = [];
let etcd: TestEtcd[] = [];
try {
  etcd = await TestEtcd.startCluster(3);
  const flags = ["--etcd-endpoints", etcd.map((e) => e.endpoint).join(",")];
  let n = 0;
  const join1 = async () => {
    const data = join(root, `s${n++}`);
    const server = await startGantry(root, data, await freePort(), flags);
    await until("the new server to stand as a candidate", 60_000, async () => identityOf(server));
    servers.push({ server, client: Client.fromKubeconfig(join(data, "admin.kubeconfig")) });
  };
  await join1();
  await join1();
  const first = servers[0]!.client;
  await first.resource(DEPLOYMENTS).create("default", {
    metadata: { name: "failover" },
    spec: { replicas: 1, selector: { matchLabels: { app: "failover" } }, template: { metadata: { labels: { app: "failover" } }, spec: { containers: [{ name: "c", image: "busybox" }] } } },
  });
  const times: number[] = [];
  const taken: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const anyClient = servers[0]!.client;
    const replicas = run + 2;
    const holder = await until("a leader", 60_000, async () => {
      const lease = await anyClient.resource(LEASES).get("kube-system", "gantry-controller-manager").catch(() => undefined);
      return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity || undefined;
    });
    // The current leader's controllers have made the pods of the previous scale.
    await until("the previous scale to be carried out", 60_000, async () => ((await anyClient.resource(PODS).list("default")).items.length === replicas - 1 ? true : undefined));
    const leaderAt = servers.findIndex((s) => identityOf(s.server) === holder);
    if (leaderAt < 0) throw new Error(`the Lease is held by ${holder}, which is no server of this bench`);
    const [leader] = servers.splice(leaderAt, 1);
    const survivor = servers[0]!.client;
    const t0 = performance.now();
    await leader!.server.stop("SIGKILL");
    await survivor.resource(DEPLOYMENTS).patch("default", "failover", "merge", { spec: { replicas } });
    const survivorId = identityOf(servers[0]!.server);
    let leaseTakenMs: number | undefined;
    await poll(`the survivor's controllers to scale to ${replicas}`, 120_000, async () => {
      if (leaseTakenMs === undefined) {
        const lease = await survivor.resource(LEASES).get("kube-system", "gantry-controller-manager");
        if ((lease.spec as { holderIdentity?: string }).holderIdentity === survivorId) leaseTakenMs = performance.now() - t0;
      }
      const rs = (await survivor.resource(REPLICASETS).list("default")).items;
      const pods = (await survivor.resource(PODS).list("default")).items;
      return rs.length === 1 && (rs[0]!.spec as { replicas: number }).replicas === replicas && pods.length === replicas;
    });
    const ms = performance.now() - t0;
    times.push(ms);
    taken.push(leaseTakenMs ?? ms);
    console.log(`run ${run + 1}: kill -9 of the leader until the survivor's controllers scaled to ${replicas}: ${(ms / 1000).toFixed(1)} s (Lease taken after ${((leaseTakenMs ?? ms) / 1000).toFixed(1)} s)`);
    await join1();
  }
  console.log(`leader failover (default flags 15s/10s/2s, 2 servers, 3-member etcd), median of ${RUNS}: ${(median(times) / 1000).toFixed(1)} s (target ≤ 15 s); of it until the Lease is taken: ${(median(taken) / 1000).toFixed(1)} s`);
} finally {
  for (const s of servers) await s.server.stop();
  for (const e of etcd) await e.stop();
  rmSync(root, { recursive: true, force: true });
}
