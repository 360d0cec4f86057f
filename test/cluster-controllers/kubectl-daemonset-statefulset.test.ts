// DaemonSet and StatefulSet as users meet them: the server's control loops (controller
// manager + scheduler, as `gantry server` starts them) behind real HTTPS, hollow nodes that
// report bound pods Running and Ready, and the real kubectl. A DaemonSet lands on each node
// and on a node that joins later, and `rollout status ds` completes; with maxSurge each new
// pod starts beside the old one (seen on a kubectl watch), and old ControllerRevisions are
// pruned to revisionHistoryLimit; a StatefulSet's pods
// come up in order with their claims (the test binds each claim to a volume, as the
// PersistentVolume controller would — there is none yet) and `rollout status sts` completes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startControlLoops } from "../../src/cli/gantry/server-command.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { startHollowNodes, type HollowNodes } from "../../src/cluster/hollow/index.ts";
import { kubectlBackground, kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PVCS = { group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true };
const PVS = { group: "", version: "v1", resource: "persistentvolumes", kind: "PersistentVolume", namespaced: false };

describe("DaemonSet and StatefulSet through kubectl, on hollow nodes", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  let client: Client;
  const fleets: HollowNodes[] = [];
  const logs: string[] = [];

  before(async () => {
    c = await startTestCluster({ startControllers: (t) => startControlLoops(t, (m) => logs.push(m)) });
    client = Client.fromKubeconfig(c.server.kubeconfigPath);
    fleets.push(await startHollowNodes(client, { namePrefix: "n", count: 2, capacity: { cpu: "4", memory: "8Gi", pods: "20" } }));
  });
  after(async () => {
    for (const f of fleets) await f.stop();
    await c?.stop();
  });

  const apply = async (obj: object) => {
    const r = await c.kubectl(["apply", "-f", "-"], { input: JSON.stringify(obj) });
    assert.equal(r.code, 0, r.stderr);
  };
  async function until(what: () => Promise<string>, pred: (s: string) => boolean, ms = 30_000): Promise<string> {
    const end = Date.now() + ms;
    let last = await what();
    while (!pred(last) && Date.now() < end) {
      await sleep(200);
      last = await what();
    }
    return last;
  }
  const podNodes = async (selector: string) => (await c.kubectl(["get", "pods", "-l", selector, "-o", "jsonpath={range .items[*]}{.spec.nodeName}={.status.phase} {end}"])).stdout.trim().split(/\s+/).filter(Boolean).sort().join(" ");

  test("a DaemonSet lands on each node and on a node that joins later; rollout status completes", async () => {
    await apply({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "agent" },
      spec: { selector: { matchLabels: { app: "agent" } }, template: { metadata: { labels: { app: "agent" } }, spec: { containers: [{ name: "c", image: "busybox" }] } } },
    });
    assert.equal(await until(() => podNodes("app=agent"), (s) => s === "n-0=Running n-1=Running"), "n-0=Running n-1=Running");
    const status = await c.kubectl(["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /daemon set "agent" successfully rolled out/);

    fleets.push(await startHollowNodes(client, { namePrefix: "late", count: 1, capacity: { cpu: "4", memory: "8Gi", pods: "20" } }));
    assert.equal(await until(() => podNodes("app=agent"), (s) => s === "late-0=Running n-0=Running n-1=Running"), "late-0=Running n-0=Running n-1=Running");
    const get = await until(async () => (await c.kubectl(["get", "ds", "agent", "--no-headers"])).stdout, (s) => /^agent\s+3\s+3\s+3\s+3\s+3\s/.test(s));
    assert.match(get, /^agent\s+3\s+3\s+3\s+3\s+3\s/, "DESIRED CURRENT READY UP-TO-DATE AVAILABLE");

    // A new template: a second ControllerRevision, rolled out node by node; rollout history shows both.
    const patch = await c.kubectl(["patch", "ds", "agent", "--type=merge", "-p", JSON.stringify({ spec: { template: { spec: { containers: [{ name: "c", image: "busybox:2" }] } } } })]);
    assert.equal(patch.code, 0, patch.stderr);
    const rolled = await c.kubectl(["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert.equal(rolled.code, 0, rolled.stderr);
    const images = await until(async () => (await c.kubectl(["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.containers[0].image}"])).stdout, (s) => s === "busybox:2 busybox:2 busybox:2");
    assert.equal(images, "busybox:2 busybox:2 busybox:2");
    const history = await c.kubectl(["rollout", "history", "ds/agent"]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    const rev1 = await c.kubectl(["rollout", "history", "ds/agent", "--revision=1"]);
    assert.match(rev1.stdout, /Image:\s+busybox\n/);
    const revs = await c.kubectl(["get", "controllerrevisions", "--no-headers"]);
    assert.match(revs.stdout, /^agent-\S+\s+daemonset\.apps\/agent\s+1\s/m);

    // Undo: kubectl patches the set with revision 1's template; that revision becomes 3.
    const undo = await c.kubectl(["rollout", "undo", "ds/agent"]);
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /daemonset.apps\/agent rolled back/);
    const back = await until(async () => (await c.kubectl(["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.containers[0].image}"])).stdout, (s) => s === "busybox busybox busybox");
    assert.equal(back, "busybox busybox busybox");
    const after = await until(async () => (await c.kubectl(["rollout", "history", "ds/agent"])).stdout, (s) => /\n2\s+<none>\n3\s+<none>/.test(s));
    assert.match(after, /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/);
  });

  test("maxSurge: each node's new pod starts beside the old one, which goes once it is available; old revisions are pruned to revisionHistoryLimit", async () => {
    const ds = (image: string) => ({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "surge" },
      spec: {
        selector: { matchLabels: { app: "surge" } },
        revisionHistoryLimit: 1,
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: { metadata: { labels: { app: "surge" } }, spec: { containers: [{ name: "c", image }] } },
      },
    });
    await apply(ds("busybox:1"));
    const nodes = (await c.kubectl(["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.trim().split(" ").sort();
    const expected = nodes.map((n) => `${n}=Running`).join(" ");
    assert.equal(await until(() => podNodes("app=surge"), (s) => s === expected), expected);

    // Every pod event of the rollout, as kubectl -w reports it.
    const watch = kubectlBackground(c, ["get", "pods", "-l", "app=surge", "-w", "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.name} {.object.spec.nodeName} {.object.metadata.deletionTimestamp}{\"\\n\"}"]);
    try {
      await watch.waitFor((out) => out.split("\n").filter((l) => l.startsWith("ADDED")).length >= nodes.length);
      for (const image of ["busybox:2", "busybox:3", "busybox:4"]) {
        await apply(ds(image));
        const rolled = await c.kubectl(["rollout", "status", "ds/surge", "--timeout=60s"]);
        assert.equal(rolled.code, 0, rolled.stderr);
      }
      assert.equal(await until(() => podNodes("app=surge"), (s) => s === expected), expected);
      await sleep(500);
    } finally {
      await watch.stop();
    }
    const live = new Map<string, Set<string>>(nodes.map((n) => [n, new Set()]));
    let most = 0;
    for (const line of watch.stdout.split("\n").filter(Boolean)) {
      const [type, name, node, deleting] = line.split(" ");
      const here = live.get(node ?? "");
      if (!here) continue; // not bound yet
      if (type === "DELETED" || deleting) here.delete(name!);
      else here.add(name!);
      most = Math.max(most, here.size);
      // Never a node without its daemon pod once it had one (maxUnavailable 0), never three.
      if (type === "DELETED" || deleting) assert.ok(here.size >= 1, `${node} left without a pod at: ${line}\n${watch.stdout}`);
      assert.ok(here.size <= 2, `${node} ran ${here.size} pods at once`);
    }
    assert.equal(most, 2, "a new pod ran beside an old one");
    // Three updates made four revisions; the current one and one more (revisionHistoryLimit 1) stay.
    const revisions = await until(async () => (await c.kubectl(["get", "controllerrevisions", "-l", "app=surge", "-o", "jsonpath={.items[*].revision}"])).stdout.trim(), (s) => s.split(" ").length === 2);
    assert.deepEqual(revisions.split(" ").map(Number).sort(), [3, 4]);
    assert.match((await c.kubectl(["rollout", "history", "ds/surge"])).stdout, /^3\s+<none>\n4\s+<none>/m);
  });

  test("a StatefulSet's pods come up in order with their claims; rollout status completes", async () => {
    // Plays the PersistentVolume controller: each claim the StatefulSet makes is bound to a new volume.
    let binding = true;
    const bound = new Set<string>();
    const binder = (async () => {
      while (binding) {
        for (const pvc of (await client.resource(PVCS).list("default")).items) {
          const name = pvc.metadata.name!;
          if (bound.has(name)) continue;
          await client.resource(PVS).create(undefined, { metadata: { name: `pv-${name}` }, spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], hostPath: { path: `/tmp/${name}` }, claimRef: { namespace: "default", name, uid: pvc.metadata.uid } } });
          await client.resource(PVCS).patch("default", name, "merge", { spec: { volumeName: `pv-${name}` } });
          await client.resource(PVCS).patch("default", name, "merge", { status: { phase: "Bound" } }, { subresource: "status" });
          bound.add(name);
        }
        await sleep(100);
      }
    })();
    // The server's own ordered stream of pod changes: each pod must be added only after every
    // lower ordinal was seen Ready.
    const created: string[] = [];
    const outOfOrder: string[] = [];
    const readyPods = new Set<string>();
    const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
    const watch = await client.resource(PODS).watch(
      "default",
      { labelSelector: "app=db" },
      (e) => {
        const name = e.object.metadata.name!;
        if (e.type === "ADDED" && !created.includes(name)) {
          created.push(name);
          const ordinal = Number(name.slice("db-".length));
          for (let i = 0; i < ordinal; i++) if (!readyPods.has(`db-${i}`)) outOfOrder.push(`${name} appeared before db-${i} was ready`);
        }
        const conds = ((e.object.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []);
        if (conds.some((x) => x.type === "Ready" && x.status === "True")) readyPods.add(name);
      },
      () => {},
    );
    try {
      await apply({
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "db" },
        spec: {
          replicas: 3,
          serviceName: "db",
          selector: { matchLabels: { app: "db" } },
          template: { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "c", image: "postgres", volumeMounts: [{ name: "data", mountPath: "/data" }] }] } },
          volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } }],
        },
      });
      const status = await c.kubectl(["rollout", "status", "sts/db", "--timeout=60s"]);
      assert.equal(status.code, 0, `${status.stderr}\n${logs.join("\n")}`);
      // The defaulted rollingUpdate.partition (0) makes kubectl report it as a partitioned roll out, as against Kubernetes.
      assert.match(status.stdout, /partitioned roll out complete: 3 new pods have been updated/);
      assert.deepEqual(created, ["db-0", "db-1", "db-2"]);
      assert.deepEqual(outOfOrder, [], "each pod appeared only after the ones before it were ready");
      const claims = (await c.kubectl(["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.split(/\s+/).sort();
      assert.deepEqual(claims, ["data-db-0", "data-db-1", "data-db-2"]);
      const hostname = (await c.kubectl(["get", "pod", "db-1", "-o", "jsonpath={.spec.hostname}.{.spec.subdomain} {.spec.volumes[0].persistentVolumeClaim.claimName}"])).stdout;
      assert.equal(hostname, "db-1.db data-db-1");
      const history = await c.kubectl(["rollout", "history", "sts/db"]);
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n/);
    } finally {
      binding = false;
      watch.stop();
      await binder;
    }
  });
});
