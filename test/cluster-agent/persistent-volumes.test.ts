// PersistentVolumeClaims on a real node through the local-path provisioner: the default
// StorageClass `local-path` (WaitForFirstConsumer), a claim that waits for its first pod, the
// agent making the directory and a PersistentVolume pinned to its node, the PV controller
// binding them; data that outlives the pod and is seen by the next one; a claim in use is only
// Terminating; once its last pod is gone the claim, the volume and its directory go. With the scheduler running in this process, a
// StatefulSet's volumeClaimTemplates work end to end, and a restarted replica finds its data.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { startScheduler, type RunningScheduler } from "../../src/cluster/scheduler/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const PVCS = { group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true };
const PVS = { group: "", version: "v1", resource: "persistentvolumes", kind: "PersistentVolume", namespaced: false };
const EVENTS = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };

interface Claim extends KubeObject {
  spec: { storageClassName?: string; volumeName?: string };
  status?: { phase?: string; capacity?: { storage?: string }; accessModes?: string[] };
}
interface Volume extends KubeObject {
  spec: { hostPath?: { path: string }; persistentVolumeReclaimPolicy?: string; claimRef?: { name?: string; uid?: string }; nodeAffinity?: unknown; capacity?: { storage?: string } };
  status?: { phase?: string };
}

const skip = skipReason();

describe("persistent volumes (local-path)", { skip }, () => {
  let node: TestNode;
  let scheduler: RunningScheduler | undefined;
  const claim = (name: string) => node.admin.resource<Claim>(PVCS).get("default", name);
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });
  const running = (name: string) =>
    until(`${name} Running`, async () => {
      const p = (await node.admin.resource(PODS).get("default", name)) as KubeObject & { status?: { phase?: string } };
      return p.status?.phase === "Running" ? p : undefined;
    }, 90_000);
  const exec = async (pod: string, container: string, cmd: string) => {
    const uid = (await node.admin.resource(PODS).get("default", pod)).metadata.uid!;
    const prefix = `k8s_${container}_${pod}_default_${uid}_`;
    const attempt = docker(["ps", "--format", "{{.Names}}"]).stdout.split("\n").find((n) => n.startsWith(prefix));
    assert.ok(attempt, `a running ${prefix}*`);
    return docker(["exec", attempt, "sh", "-c", cmd]).stdout.trim();
  };
  const podWith = (name: string, claimName: string, script: string) =>
    JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, volumes: [{ name: "data", persistentVolumeClaim: { claimName } }], containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", script], volumeMounts: [{ name: "data", mountPath: "/data" }] }] } });

  before(async () => {
    node = await startTestNode();
    await node.start();
  });
  after(async () => {
    await scheduler?.stop();
    await node?.cleanup();
  });

  test("the default StorageClass is local-path, waiting for the first consumer", async () => {
    const out = await until("the class", async () => {
      const o = await node.kubectl(["get", "storageclass"]);
      return o.includes("local-path") ? o : undefined;
    });
    assert.match(out, /^local-path \(default\)\s+rancher\.io\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+/m);
  });

  test("a claim binds when its first pod comes; its data outlives the pod; deleting the claim removes the volume and its directory", async () => {
    await node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "64Mi" } } } }));
    const pending = await claim("data");
    assert.equal(pending.spec.storageClassName, "local-path", "the default class is filled in");
    assert.equal(pending.status?.phase, "Pending");
    await until("the WaitForFirstConsumer event", async () => {
      const list = await node.admin.resource<KubeObject & { reason?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
      return list.items.find((e) => e.involvedObject?.name === "data" && e.reason === "WaitForFirstConsumer");
    });

    await node.kubectl(["apply", "-f", "-"], podWith("writer", "data", "echo kept > /data/file; exec sleep 300"));
    await running("writer");
    const bound = await until("the claim Bound", async () => {
      const c = await claim("data");
      return c.status?.phase === "Bound" ? c : undefined;
    });
    assert.equal(bound.spec.volumeName, `pvc-${bound.metadata.uid}`);
    assert.equal(bound.status?.capacity?.storage, "64Mi");
    assert.deepEqual(bound.status?.accessModes, ["ReadWriteOnce"]);
    const pv = await node.admin.resource<Volume>(PVS).get(undefined, bound.spec.volumeName!);
    assert.equal(pv.status?.phase, "Bound");
    assert.equal(pv.spec.persistentVolumeReclaimPolicy, "Delete");
    assert.equal(pv.spec.claimRef?.uid, bound.metadata.uid);
    assert.deepEqual(pv.spec.nodeAffinity, { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node.name] }] }] } });
    const dir = pv.spec.hostPath!.path;
    assert.equal(dir, join(node.dataRoot, "storage", `pvc-${bound.metadata.uid}_default_data`));
    await until("the file on the node", () => (existsSync(join(dir, "file")) ? true : undefined));
    assert.equal(readFileSync(join(dir, "file"), "utf8"), "kept\n");
    assert.match(await node.kubectl(["get", "pv"]), new RegExp(`pvc-${bound.metadata.uid}\\s+64Mi\\s+RWO\\s+Delete\\s+Bound\\s+default/data\\s+local-path`));

    await node.kubectl(["delete", "pod", "writer", "--timeout=60s"]);
    await node.kubectl(["apply", "-f", "-"], podWith("reader", "data", "exec sleep 300"));
    await running("reader");
    assert.equal(await exec("reader", "c", "cat /data/file"), "kept", "the next pod sees the data");

    // In use: the pvc-protection finalizer holds the claim (Terminating) and the data stays.
    assert.deepEqual((await claim("data")).metadata.finalizers, ["kubernetes.io/pvc-protection"]);
    await node.kubectl(["delete", "pvc", "data", "--wait=false"]);
    await new Promise((r) => setTimeout(r, 2000));
    const held = await claim("data");
    assert.ok(held.metadata.deletionTimestamp, "Terminating while the reader runs");
    assert.equal(readFileSync(join(dir, "file"), "utf8"), "kept\n");
    assert.equal(await exec("reader", "c", "cat /data/file"), "kept");
    await node.kubectl(["delete", "pod", "reader", "--timeout=60s"]);
    await until("the volume to be deleted", async () => {
      try {
        await node.admin.resource(PVS).get(undefined, pv.metadata.name!);
        return undefined;
      } catch (err) {
        return /not found/.test((err as Error).message) || undefined;
      }
    });
    assert.equal(existsSync(dir), false, "the directory went with the volume");
  });

  test("a pod whose claim does not exist waits with FailedMount", async () => {
    await node.kubectl(["apply", "-f", "-"], podWith("orphan", "nope", "sleep 300"));
    const ev = await until("a FailedMount event", async () => {
      const list = await node.admin.resource<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
      return list.items.find((e) => e.involvedObject?.name === "orphan" && e.reason === "FailedMount");
    });
    assert.equal(ev.message, 'MountVolume.SetUp failed for volume "data" : persistentvolumeclaim "nope" not found');
    await node.kubectl(["delete", "pod", "orphan", "--timeout=60s"]);
  });

  test("a StatefulSet's volumeClaimTemplates: each replica gets its own volume through the scheduler, and keeps it across a restart", async () => {
    scheduler = await startScheduler(node.cluster.server.inProcessTransport());
    const sts = {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "web" },
      spec: {
        serviceName: "web",
        replicas: 2,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "[ -f /data/first ] || hostname > /data/first; exec sleep 300"], volumeMounts: [{ name: "data", mountPath: "/data" }] }] } },
        volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "16Mi" } } } }],
      },
    };
    await node.kubectl(["apply", "-f", "-"], JSON.stringify(sts));
    for (const i of [0, 1]) await running(`web-${i}`);
    for (const i of [0, 1]) {
      const c = await claim(`data-web-${i}`);
      assert.equal(c.status?.phase, "Bound");
      assert.equal(c.metadata.annotations?.["volume.kubernetes.io/selected-node"], node.name, "the scheduler chose the node");
      assert.equal(await exec(`web-${i}`, "c", "cat /data/first"), `web-${i}`);
    }
    const uid0 = (await node.admin.resource(PODS).get("default", "web-0")).metadata.uid;
    await node.kubectl(["delete", "pod", "web-0", "--timeout=60s"]);
    const again = await until("web-0 again", async () => {
      const p = (await node.admin.resource(PODS).get("default", "web-0")) as KubeObject & { status?: { phase?: string } };
      return p.metadata.uid !== uid0 && p.status?.phase === "Running" ? p : undefined;
    }, 90_000);
    assert.ok(again);
    assert.equal(await exec("web-0", "c", "cat /data/first"), "web-0", "the new web-0 has the old one's volume");
    await node.kubectl(["delete", "statefulset", "web", "--timeout=60s"]);
  });
});
