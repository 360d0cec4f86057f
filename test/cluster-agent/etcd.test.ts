// The node agent against an API server whose state lives in etcd (Debian's etcd-server,
// started privately for this file), as the issue asks of every kubectl test: "on SQLite and on
// etcd". One pass through what the agent leans on the store for: the Node and its Lease, a
// Deployment scheduled onto the node, logs and exec through the API server, configMap and
// shared emptyDir volumes, a readiness flip written as status, the agent's SIGKILL with
// nothing restarted, and deletion down to the engine.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { startControllerManager } from "../../src/cluster/controllers/index.ts";
import { startScheduler } from "../../src/cluster/scheduler/index.ts";
import { etcdSkipReason, TestEtcd } from "../cluster-store/_etcd.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };

interface PodObj extends KubeObject {
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID?: string; state: { running?: { startedAt: string } } }[] };
}

const PREFIX = "/gantry-agent-test";
const skip = skipReason() || etcdSkipReason() || false;

const DEPLOYMENT = (replicas: number) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "default" },
  spec: {
    replicas,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        terminationGracePeriodSeconds: 1, // sleep as pid 1 ignores SIGTERM
        volumes: [
          { name: "cfg", configMap: { name: "cfg" } },
          { name: "shared", emptyDir: {} },
        ],
        containers: [
          {
            name: "writer",
            image: "busybox",
            imagePullPolicy: "Never",
            command: ["sh", "-c", 'echo "color=$(cat /cfg/color)"; echo from-writer > /shared/note; exec sleep 300'],
            volumeMounts: [
              { name: "cfg", mountPath: "/cfg" },
              { name: "shared", mountPath: "/shared" },
            ],
            // Ready only once /shared/ready exists: the test flips it through exec.
            readinessProbe: { exec: { command: ["test", "-e", "/shared/ready"] }, periodSeconds: 1 },
          },
          { name: "reader", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "300"], volumeMounts: [{ name: "shared", mountPath: "/data" }] },
        ],
      },
    },
  },
});

describe("node agent on an etcd-backed server", { skip }, () => {
  let etcd: TestEtcd;
  let node: TestNode;
  const pods = async () => (await node.admin.resource<PodObj>(PODS).list("default", { labelSelector: "app=web" })).items;
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });

  before(async () => {
    etcd = await TestEtcd.start();
    node = await startTestNode({
      storeSpec: { kind: "etcd", endpoints: [etcd.endpoint], prefix: PREFIX },
      // The controllers and the scheduler, as `gantry server` runs them: the Deployment's pods are bound by it.
      startControllers: async (transport) => {
        const controllers = await startControllerManager(transport);
        const scheduler = await startScheduler(transport, { informers: controllers.informers });
        return { stop: async () => (await scheduler.stop(), await controllers.stop()) };
      },
    });
    await node.start();
  });
  after(async () => {
    await node?.cleanup();
    await etcd?.stop();
  });

  test("the node joins Ready and its objects are in etcd", async () => {
    await until("the node Ready", async () => ((await node.kubectl(["get", "node", node.name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"])) === "True" ? true : undefined));
    // Asked of etcd itself, not of the server: the keys are under the server's prefix there.
    const keys = spawnSync("etcdctl", ["--endpoints", etcd.endpoint, "get", "--prefix", "--keys-only", `${PREFIX}/registry/`], { encoding: "utf8" }).stdout.split("\n");
    assert.ok(keys.some((k) => k.startsWith(`${PREFIX}/registry/core/nodes/${node.name}`)), "the Node is kept in etcd");
    assert.ok(keys.some((k) => k.startsWith(`${PREFIX}/registry/coordination.k8s.io/leases/kube-node-lease/${node.name}`)), "so is its Lease");
  });

  test("a Deployment's pods are scheduled onto the node, run with volumes, log, exec and turn Ready", async () => {
    await node.kubectl(["create", "configmap", "cfg", "--from-literal=color=teal"]);
    await node.kubectl(["apply", "-f", "-"], JSON.stringify(DEPLOYMENT(2)));
    let seen: PodObj[] = [];
    const running = await until("two pods Running", async () => {
      const list = (seen = await pods());
      return list.length === 2 && list.every((p) => p.status?.phase === "Running") ? list : undefined;
    }, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}\npods: ${JSON.stringify(seen.map((p) => [p.metadata.name, p.spec.nodeName, p.status]))}\nagent log:\n${node.log.join("").slice(-3000)}`);
    });
    for (const p of running) assert.equal(p.spec.nodeName, node.name, "the scheduler bound it to the only node");
    const name = running[0]!.metadata.name!;
    assert.match(await node.kubectl(["logs", name, "-c", "writer"]), /^color=teal$/m);
    assert.equal((await node.kubectl(["exec", name, "-c", "reader", "--", "cat", "/data/note"])).trim(), "from-writer", "the containers share the emptyDir");
    const ready = (p: PodObj | undefined) => p?.status?.conditions?.find((c) => c.type === "Ready")?.status;
    assert.equal(ready(running[0]), "False", "not Ready before the probe's file exists");
    await node.kubectl(["exec", name, "-c", "reader", "--", "touch", "/data/ready"]);
    await until("the pod Ready", async () => (ready((await pods()).find((p) => p.metadata.name === name)) === "True" ? true : undefined));
    assert.match(await node.kubectl(["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"]), /^1$/);
  });

  test("SIGKILL of the agent restarts no container; the restarted agent keeps writing status", async () => {
    const before = await pods();
    const ids = before.flatMap((p) => p.status!.containerStatuses!.map((s) => s.containerID));
    await node.kill("SIGKILL");
    await node.start();
    await node.kubectl(["scale", "deploy", "web", "--replicas=3"]);
    await until("a third pod Running", async () => {
      const list = await pods();
      return list.length === 3 && list.every((p) => p.status?.phase === "Running") ? true : undefined;
    }, 90_000);
    const after = await pods();
    for (const p of before) {
      const now = after.find((q) => q.metadata.uid === p.metadata.uid);
      assert.ok(now, `${p.metadata.name} is still there`);
      assert.deepEqual(now.status!.containerStatuses!.map((s) => [s.containerID, s.restartCount]), p.status!.containerStatuses!.map((s) => [s.containerID, 0]));
    }
    assert.equal(new Set(ids).size, 4);
  });

  test("deleting the Deployment removes its pods from etcd and its containers from the engine", async () => {
    await node.kubectl(["delete", "deploy", "web", "--wait=true"]);
    await until("no pods", async () => ((await pods()).length === 0 ? true : undefined), 90_000);
    assert.equal(await node.cluster.server.store.count("/registry/core/pods/default/"), 0);
    await until("the engine's containers gone", () => (docker(["ps", "-a", "-q", "--filter", "label=io.kubernetes.pod.namespace=default"]).stdout.trim() === "" ? true : undefined));
  });
});
