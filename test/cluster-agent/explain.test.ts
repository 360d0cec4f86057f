// `gantry explain` for a pod's containers on a real node: the agent's kubelet server answers
// /gantry/pods/NS/POD/C/explain and /glass, reached through the API server's nodes/proxy
// (kubectl get --raw, and gantry explain --kubeconfig pod/NAME), and the node's engine socket
// answers gantry explain k8s_<c>_<pod>_<ns>_<uid>_<n>. A pod of two containers shares net, ipc
// and uts through its sandbox: the recorded setns steps name the sandbox, the live inodes are
// the sandbox's (as readlink /proc/PID/ns/* says), and the pod-level cgroup is kubepods/…/pod<uid>.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { repo, skipReason, startTestNode, until, type TestNode } from "./_node.ts";

interface Step {
  step: string;
  [k: string]: unknown;
}
interface PodSection {
  uid: string;
  sandbox: { name: string; pid: number } | null;
  sharedThroughSandbox: string[];
  cgroup: { path: string; paths: Record<string, string>; files: { name: string; value: string; path: string }[] };
}
interface Explained {
  name: string;
  steps: Step[];
  pod: PodSection;
}
interface Glass {
  name: string;
  pid: number;
  namespaces: { type: string; inode: number; sharedWith: string[] }[];
  pod: PodSection;
}

/** The gantry CLI, asynchronously: the API server runs in this process. */
function gantry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), ...args], { cwd: repo });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("gantry explain for pod containers: through nodes/proxy and the node's engine socket", { skip: skipReason() }, () => {
  let node: TestNode;
  let uid = "";
  const raw = async <T>(path: string): Promise<T> => JSON.parse(await node.kubectl(["get", "--raw", `/api/v1/nodes/${node.name}/proxy/gantry/pods/default/duo/${path}`])) as T;

  before(async () => {
    node = await startTestNode();
    await node.start();
    const container = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: "busybox", imagePullPolicy: "Never", command: ["sleep", "1000"], ...extra });
    await node.kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "duo" },
      spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [container("a", { resources: { limits: { memory: "64Mi" } } }), container("b")] },
    }));
    await until("duo Running", async () => (JSON.parse(await node.kubectl(["get", "pod", "duo", "-o", "json"])) as { status: { phase: string } }).status.phase === "Running" || undefined);
    uid = (await node.kubectl(["get", "pod", "duo", "-o", "jsonpath={.metadata.uid}"])).trim();
  });
  after(async () => {
    await node?.cleanup();
  });

  test("explain through the API server: the setns steps join the sandbox's net, ipc and uts; the memory limit's file is under the pod's cgroup", async () => {
    const a = await raw<Explained>("a/explain");
    const sandbox = a.pod.sandbox!;
    assert.equal(sandbox.name, `k8s_POD_duo_default_${uid}_0`);
    assert.equal(a.name, `k8s_a_duo_default_${uid}_0`);
    const joins = a.steps.filter((s) => s.step === "setns");
    for (const ns of ["net", "ipc", "uts"]) {
      const j = joins.find((s) => s.namespace === ns);
      assert.equal(j?.path, `/proc/${sandbox.pid}/ns/${ns}`, `${ns} joined from the sandbox`);
      assert.equal(j?.sharedWith, sandbox.name);
    }
    assert.deepEqual(a.pod.sharedThroughSandbox, ["ipc", "net", "uts"]);
    assert.ok(!a.steps.some((s) => s.step === "clone" && (s.flags as string[]).includes("CLONE_NEWNET")), "no network namespace of its own");
    // The pod-level cgroup (Burstable: a limit without every request) and the container's limit under it.
    assert.equal(a.pod.cgroup.path, `/kubepods/burstable/pod${uid}`);
    const mem = a.steps.find((s) => s.step === "cgroup-write" && /\/memory\.(limit_in_bytes|max)$/.test(String(s.path)));
    assert.equal(mem?.value, String(64 * 1024 * 1024));
    assert.match(String(mem?.path), new RegExp(`/kubepods/burstable/pod${uid}/[0-9a-f]{64}/memory\\.(limit_in_bytes|max)$`));
    const podDir = a.pod.cgroup.paths.memory ?? a.pod.cgroup.paths.unified!;
    assert.ok(podDir.endsWith(`/kubepods/burstable/pod${uid}`), podDir);
    for (const f of a.pod.cgroup.files) assert.equal(readFileSync(f.path, "utf8").trim(), f.value, `${f.path} as the kernel has it`);
    assert.ok(a.pod.cgroup.files.some((f) => f.path.startsWith(`${podDir}/`)));
  });

  test("glass: both containers hold the sandbox's net, ipc and uts inodes, as /proc/PID/ns says; their mount namespaces are their own", async () => {
    const a = await raw<Glass>("a/glass");
    const b = await raw<Glass>("b/glass");
    const sandbox = a.pod.sandbox!;
    for (const g of [a, b]) {
      for (const ns of g.namespaces) assert.equal(readlinkSync(`/proc/${g.pid}/ns/${ns.type}`), `${ns.type}:[${ns.inode}]`);
      for (const type of ["net", "ipc", "uts"]) {
        const mine = g.namespaces.find((n) => n.type === type)!;
        assert.equal(`${type}:[${mine.inode}]`, readlinkSync(`/proc/${sandbox.pid}/ns/${type}`), `${g.name} ${type} is the sandbox's`);
        assert.ok(mine.sharedWith.includes(sandbox.name) && mine.sharedWith.includes(g === a ? b.name : a.name), JSON.stringify(mine));
      }
      assert.deepEqual(g.namespaces.find((n) => n.type === "mnt")!.sharedWith, []);
      assert.deepEqual(g.pod.sharedThroughSandbox, ["ipc", "net", "uts"]);
    }
  });

  test("the gantry CLI: explain --kubeconfig pod/NAME -c C, explain and ns of the engine name on the node's socket, ns of the pod", async () => {
    const kubeconfig = node.cluster.server.kubeconfigPath;
    const viaApi = await gantry(["explain", "--kubeconfig", kubeconfig, "pod/duo", "-c", "b"]);
    assert.equal(viaApi.code, 0, viaApi.stderr);
    assert.match(viaApi.stdout, new RegExp(`setns\\(/proc/\\d+/ns/net, net\\)  joins k8s_POD_duo_default_${uid}_0`));
    assert.match(viaApi.stdout, /namespaces shared through it: ipc, net, uts/);
    assert.match(viaApi.stdout, new RegExp(`pod cgroup /kubepods/burstable/pod${uid}:`));
    const onNode = await gantry(["-H", `unix://${node.engineSocket}`, "explain", `k8s_a_duo_default_${uid}_0`]);
    assert.equal(onNode.code, 0, onNode.stderr);
    assert.match(onNode.stdout, /write "67108864" > \S+\/memory\.(limit_in_bytes|max)/);
    assert.match(onNode.stdout, new RegExp(`net +net:\\[\\d+\\] +shared with: .*k8s_POD_duo_default_${uid}_0`));
    const ns = await gantry(["-H", `unix://${node.engineSocket}`, "ns", `k8s_a_duo_default_${uid}_0`]);
    assert.match(ns.stdout, new RegExp(`ipc +-> ipc:\\[\\d+\\] +shared with: .*k8s_POD_duo_default_${uid}_0`));
    // gantry ns for the whole pod: one column per container, the sandbox's inodes where shared.
    const podNs = await gantry(["ns", "--kubeconfig", kubeconfig, "pod/duo"]);
    assert.equal(podNs.code, 0, podNs.stderr);
    const sandboxPid = (await raw<Glass>("a/glass")).pod.sandbox!.pid;
    for (const type of ["net", "ipc", "uts"]) {
      const link = readlinkSync(`/proc/${sandboxPid}/ns/${type}`).replace(/[[\]]/g, "\\$&");
      assert.match(podNs.stdout, new RegExp(`^${type} +${link} sandbox +${link} sandbox$`, "m"));
    }
    assert.match(podNs.stdout, /^mnt +mnt:\[\d+\] own +mnt:\[\d+\] own$/m);
    assert.match(podNs.stdout, /^user +user:\[\d+\] host +user:\[\d+\] host$/m);
    assert.match(podNs.stdout, /shared through the sandbox by every container: ipc, net, uts/);
    assert.match(podNs.stdout, new RegExp(`pod cgroup /kubepods/burstable/pod${uid}:`));
  });

  test("errors: an unknown container of the pod, an unknown pod, a pod without --kubeconfig", async () => {
    const r = await node.cluster.kubectl(["get", "--raw", `/api/v1/nodes/${node.name}/proxy/gantry/pods/default/duo/nope/explain`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound|not found/);
    const ghost = await gantry(["explain", "--kubeconfig", node.cluster.server.kubeconfigPath, "pod/ghost"]);
    assert.notEqual(ghost.code, 0);
    assert.match(ghost.stderr, /pods "ghost" not found/);
    const wrongC = await gantry(["explain", "--kubeconfig", node.cluster.server.kubeconfigPath, "pod/duo", "-c", "zzz"]);
    assert.notEqual(wrongC.code, 0);
    assert.match(wrongC.stderr, /container zzz is not valid for pod duo: choose one of a, b/);
    const noConfig = await gantry(["explain", "pod/duo"]);
    assert.notEqual(noConfig.code, 0);
    assert.match(noConfig.stderr, /a pod needs --kubeconfig/);
  });
});
