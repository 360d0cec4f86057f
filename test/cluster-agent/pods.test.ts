// The node agent with real containers: `gantry agent` joins with a node token, registers its
// Node and Lease, runs pods from kubectl (sandbox + containers sharing its namespaces, cgroups
// under kubepods), writes their status as the kubelet does, restarts crashing containers with
// CrashLoopBackOff, reports OOMKilled, stops pods gracefully on delete, and survives its own
// SIGKILL without restarting any pod.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import type { KubeObject, WatchEvent } from "../../src/cluster/client/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const LEASES = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };

interface ContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  imageID: string;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason: string; message?: string }; terminated?: { exitCode: number; reason: string } };
  lastState: { terminated?: { exitCode: number; reason: string } };
}
interface PodObj extends KubeObject {
  spec: Record<string, unknown>;
  status?: { phase?: string; podIP?: string; hostIP?: string; startTime?: string; qosClass?: string; conditions?: { type: string; status: string; reason?: string }[]; containerStatuses?: ContainerStatus[] };
}

const skip = skipReason();

describe("node agent", { skip }, () => {
  let node: TestNode;
  const getPod = (name: string) => node.admin.resource<PodObj>(PODS).get("default", name);
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });
  const pod = (name: string, spec: Record<string, unknown>) => JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, ...spec } });
  const statusOf = async (name: string, c = 0) => (await getPod(name)).status?.containerStatuses?.[c];

  before(async () => {
    node = await startTestNode();
    await node.start();
  });
  after(async () => {
    await node?.cleanup();
  });

  test("the node registers Ready with its capacity, nodeInfo and a renewed Lease owned by the Node", async () => {
    const n = JSON.parse(await until("the node", () => node.kubectl(["get", "node", node.name, "-o", "json"]))) as KubeObject & { status: { capacity: Record<string, string>; allocatable: Record<string, string>; nodeInfo: Record<string, string>; conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[] } };
    assert.equal(n.metadata.labels?.["kubernetes.io/hostname"], node.name);
    assert.equal(n.metadata.labels?.["kubernetes.io/os"], "linux");
    assert.equal(n.status.capacity.pods, "110");
    assert.match(n.status.capacity.cpu ?? "", /^\d+$/);
    assert.match(n.status.allocatable.memory ?? "", /^\d+Ki$/);
    assert.equal(n.status.nodeInfo.containerRuntimeVersion, "gantry://0.1.0");
    assert.equal(n.status.nodeInfo.kernelVersion, readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
    assert.deepEqual(n.status.conditions.map((c) => `${c.type}=${c.status}`), ["MemoryPressure=False", "DiskPressure=False", "PIDPressure=False", "Ready=True"]);
    assert.deepEqual(n.status.addresses.map((a) => a.type), ["InternalIP", "Hostname"]);
    const lease = (await node.admin.resource(LEASES).get("kube-node-lease", node.name)) as KubeObject & { spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } };
    assert.equal(lease.spec.holderIdentity, node.name);
    assert.equal(lease.spec.leaseDurationSeconds, 40);
    assert.deepEqual(lease.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid]), [["Node", node.name, n.metadata.uid]]);
    const renewed = await until("a renewal", async () => {
      const l = (await node.admin.resource(LEASES).get("kube-node-lease", node.name)) as typeof lease;
      return l.spec.renewTime !== lease.spec.renewTime ? l : undefined;
    }, 30_000);
    assert.ok(Date.parse(renewed.spec.renewTime) > Date.parse(lease.spec.renewTime));
  });

  test("kubectl run: a pod runs in a sandbox, with env from every source, in its kubepods cgroup, and its status is the kubelet's", async () => {
    await node.kubectl(["create", "configmap", "cfg", "--from-literal=color=blue", "--from-literal=size=L"]);
    await node.kubectl(["create", "secret", "generic", "sec", "--from-literal=password=hunter2"]);
    const overrides = {
      spec: {
        nodeName: node.name,
        containers: [
          {
            name: "web",
            image: "busybox",
            command: ["sh", "-c", 'echo "greeting=$GREETING pod=$POD_NAME ip=$POD_IP color=$color cfg_size=$CFG_size pw=$PASSWORD mem=$MEM_LIMIT"; hostname; exec sleep 300'],
            env: [
              { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
              { name: "GREETING", value: "hello $(POD_NAME)" },
              { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
              { name: "color", valueFrom: { configMapKeyRef: { name: "cfg", key: "color" } } },
              { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "sec", key: "password" } } },
              { name: "MEM_LIMIT", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
            ],
            envFrom: [{ prefix: "CFG_", configMapRef: { name: "cfg" } }],
            resources: { requests: { cpu: "100m", memory: "32Mi" }, limits: { memory: "64Mi" } },
          },
        ],
      },
    };
    await node.kubectl(["run", "web", "--image", "busybox", `--overrides=${JSON.stringify(overrides)}`]);
    const p = await until("web Running", async () => {
      const got = await getPod("web");
      return got.status?.phase === "Running" && got.status.containerStatuses?.[0]?.ready ? got : undefined;
    });
    const st = p.status!;
    assert.deepEqual(st.conditions?.map((c) => `${c.type}=${c.status}`), ["PodReadyToStartContainers=True", "Initialized=True", "Ready=True", "ContainersReady=True", "PodScheduled=True"]);
    const [a, b, c] = node.subnet.split(".");
    assert.ok(st.podIP?.startsWith(`${a}.${b}.${c}.`), `pod IP ${st.podIP} is in ${node.subnet}`);
    assert.ok(st.hostIP && st.startTime);
    assert.equal(st.qosClass, "Burstable");
    const cs = st.containerStatuses![0]!;
    assert.equal(cs.restartCount, 0);
    assert.equal(cs.started, true);
    assert.ok(cs.state.running?.startedAt);
    assert.match(cs.imageID, /^sha256:[0-9a-f]{64}$/);
    assert.match(cs.containerID!, /^gantry:\/\/[0-9a-f]{64}$/);

    // The engine shows the pod as dockershim named it; the container shares the sandbox's
    // network, IPC and UTS namespaces and sits in kubepods/burstable/pod<uid>.
    const uid = p.metadata.uid!;
    const id = cs.containerID!.slice("gantry://".length);
    const names = docker(["ps", "--format", "{{.Names}}"]).stdout;
    assert.match(names, new RegExp(`^k8s_web_web_default_${uid}_0$`, "m"));
    assert.match(names, new RegExp(`^k8s_POD_web_default_${uid}_0$`, "m"));
    const pidOf = (ref: string) => Number(docker(["inspect", "-f", "{{.State.Pid}}", ref]).stdout.trim());
    const pid = pidOf(id);
    const sandboxPid = pidOf(`k8s_POD_web_default_${uid}_0`);
    for (const ns of ["net", "ipc", "uts"]) assert.equal(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/${sandboxPid}/ns/${ns}`), ns);
    assert.notEqual(readlinkSync(`/proc/${pid}/ns/pid`), readlinkSync(`/proc/${sandboxPid}/ns/pid`), "no shared process namespace unless asked");
    assert.match(readFileSync(`/proc/${pid}/cgroup`, "utf8"), new RegExp(`:/kubepods/burstable/pod${uid}/${id}$`, "m"));
    assert.equal(readFileSync(`/sys/fs/cgroup/cpu/kubepods/burstable/pod${uid}/${id}/cpu.shares`, "utf8").trim(), "102");
    assert.equal(readFileSync(`/sys/fs/cgroup/memory/kubepods/burstable/pod${uid}/${id}/memory.limit_in_bytes`, "utf8").trim(), String(64 * 1024 * 1024));
    // The pod cgroup's own limits are its containers' sums: shares from the request, the memory
    // limit (every container declares one), no CFS quota (no container limits cpu).
    const podCg = (ctl: string, file: string) => readFileSync(`/sys/fs/cgroup/${ctl}/kubepods/burstable/pod${uid}/${file}`, "utf8").trim();
    assert.equal(podCg("cpu", "cpu.shares"), "102");
    assert.equal(podCg("memory", "memory.limit_in_bytes"), String(64 * 1024 * 1024));
    assert.equal(podCg("cpu", "cpu.cfs_quota_us"), "-1");

    const logs = await until("the container's output", () => {
      const out = docker(["logs", id]).stdout;
      return out.includes("greeting") ? out : undefined;
    });
    assert.match(logs, new RegExp(`greeting=hello web pod=web ip=${st.podIP!.replace(/\./g, "\\.")} color=blue cfg_size=L pw=hunter2 mem=64`));
    assert.match(logs, /^web$/m, "the hostname is the pod's name");
  });

  test("a crashing container restarts at once, then backs off (CrashLoopBackOff) with a counted restartCount", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("crash", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "exit 3"] }] }));
    const cs = await until("two restarts and a back-off", async () => {
      const s = await statusOf("crash");
      return s && s.restartCount >= 2 && s.state.waiting?.reason === "CrashLoopBackOff" ? s : undefined;
    }, 90_000);
    assert.match(cs.state.waiting!.message!, /^back-off (10|20|40)s restarting failed container=c pod=crash_default\(/);
    assert.deepEqual([cs.lastState.terminated?.exitCode, cs.lastState.terminated?.reason], [3, "Error"]);
    assert.equal((await getPod("crash")).status?.phase, "Running", "restartPolicy Always keeps the pod Running");
    assert.match(await node.kubectl(["get", "pod", "crash"]), /CrashLoopBackOff/);
  });

  test("a container over its memory limit is OOMKilled; with restartPolicy Never the pod Fails", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("oom", { restartPolicy: "Never", containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "x=a; while true; do x=$x$x; done"], resources: { limits: { memory: "16Mi", cpu: "200m" } } }] }));
    const p = await until("the pod to fail", async () => {
      const got = await getPod("oom");
      return got.status?.phase === "Failed" ? got : undefined;
    });
    const t = p.status!.containerStatuses![0]!.state.terminated!;
    assert.equal(t.reason, "OOMKilled");
    assert.equal(t.exitCode, 137);
    assert.equal(p.status!.qosClass, "Guaranteed");
  });

  test("init containers run first, in order; a failing init container with Never fails the pod", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("inits", { restartPolicy: "Never", initContainers: [{ name: "one", image: "busybox", imagePullPolicy: "Never", command: ["true"] }, { name: "two", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "exit 5"] }], containers: [{ name: "main", image: "busybox", imagePullPolicy: "Never", command: ["true"] }] }));
    const p = await until("inits to fail", async () => {
      const got = await getPod("inits");
      return got.status?.phase === "Failed" ? got : undefined;
    });
    const init = (p.status as { initContainerStatuses?: ContainerStatus[] }).initContainerStatuses!;
    assert.deepEqual(init.map((s) => [s.name, s.state.terminated?.exitCode]), [["one", 0], ["two", 5]]);
    assert.equal(p.status!.containerStatuses![0]!.state.waiting?.reason, "PodInitializing", "main never ran");
    assert.ok(p.status!.conditions!.some((c) => c.type === "Initialized" && c.status === "False"));
  });

  /** Deletes a pod and returns its last status before it left the API. */
  async function deleteAndWatch(name: string): Promise<PodObj> {
    const seen: PodObj[] = [];
    let gone = false;
    const w = await node.admin.resource<PodObj>(PODS).watch("default", { fieldSelector: `metadata.name=${name}` }, (e: WatchEvent<PodObj>) => {
      if (e.type === "DELETED") gone = true;
      else seen.push(e.object);
    }, () => undefined);
    try {
      await node.kubectl(["delete", "pod", name, "--timeout=90s"]);
      await until(`${name} to leave the API`, () => gone || undefined);
    } finally {
      w.stop();
    }
    return seen[seen.length - 1]!;
  }

  test("a pod bound to another node is not run here, though the node's pod cache (shared with its NetworkPolicy enforcer) holds every pod", async () => {
    await node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "not-mine" }, spec: { nodeName: "another-node", terminationGracePeriodSeconds: 1, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "3600"] }] } }));
    // A pod of this node created after it runs: by then the agent has seen both.
    await node.kubectl(["apply", "-f", "-"], pod("mine", { terminationGracePeriodSeconds: 1, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "3600"] }] }));
    await until("mine Running", async () => ((await getPod("mine")).status?.phase === "Running" ? true : undefined));
    const other = await getPod("not-mine");
    assert.equal(other.status?.phase ?? "Pending", "Pending", JSON.stringify(other.status));
    assert.equal(other.status?.containerStatuses, undefined);
    assert.equal(docker(["ps", "-a", "--filter", "name=_not-mine_", "-q"]).stdout.trim(), "", "no container of it on this node");
    assert.notEqual(docker(["ps", "-q", "--filter", "name=_mine_"]).stdout.trim(), "");
    await node.kubectl(["delete", "pod", "not-mine", "mine", "--grace-period=0", "--force"]);
  });

  test("delete stops a pod gracefully (SIGTERM, exit 0) and SIGKILLs one that ignores it after its grace period", async () => {
    await node.kubectl(["apply", "-f", "-"], pod("polite", { terminationGracePeriodSeconds: 60, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"] }] }));
    await node.kubectl(["apply", "-f", "-"], pod("stubborn", { terminationGracePeriodSeconds: 2, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"] }] }));
    for (const n of ["polite", "stubborn"]) await until(`${n} Running`, async () => ((await getPod(n)).status?.phase === "Running" ? true : undefined));
    const polite = await deleteAndWatch("polite");
    assert.ok(polite.metadata.deletionTimestamp, "the pod was Terminating before it went");
    assert.deepEqual([polite.status?.phase, polite.status?.containerStatuses?.[0]?.state.terminated?.exitCode, polite.status?.containerStatuses?.[0]?.state.terminated?.reason], ["Succeeded", 0, "Completed"]);
    const stubborn = await deleteAndWatch("stubborn");
    assert.deepEqual([stubborn.status?.phase, stubborn.status?.containerStatuses?.[0]?.state.terminated?.exitCode], ["Failed", 137]);
    assert.equal(docker(["ps", "-a", "--filter", "name=_polite_", "-q"]).stdout.trim(), "", "the engine's containers are removed with the pod");
  });

  test("SIGKILL of the agent leaves pods running; the restarted agent adopts them and restarts none", async () => {
    const before = await statusOf("web");
    assert.ok(before?.state.running);
    const id = before.containerID!.slice("gantry://".length);
    const pid = Number(docker(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim());
    await node.kill("SIGKILL");
    process.kill(pid, 0); // still there with no agent
    await node.start();
    // A pod created now runs, so the restarted agent's workers are past their first syncs.
    await node.kubectl(["apply", "-f", "-"], pod("after", { containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "300"] }] }));
    await until("the new pod Running", async () => ((await getPod("after")).status?.phase === "Running" ? true : undefined));
    const now = await statusOf("web");
    assert.equal(now?.containerID, before.containerID, "the same container");
    assert.equal(now?.restartCount, 0);
    assert.equal(now?.state.running?.startedAt, before.state.running!.startedAt);
    process.kill(pid, 0);
    assert.equal(Number(docker(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim()), pid);
  });
});
