// User-namespaced pods (`spec.hostUsers: false`) on a real node (`gantry agent` as a child,
// kubectl against the API server): the pod's sandbox and containers share a user namespace
// whose /proc/PID/uid_map (read from the host) is not the identity, root inside is the range's
// first id outside, the pod writes its emptyDir and reads its configMap (mode 0400, root's);
// two pods get disjoint 65536-id ranges, kept across an agent restart and freed with the pod;
// hostUsers: false with hostNetwork or hostPID is refused with kube's messages; a default pod
// keeps the host's identity map.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const EVENTS = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };

interface PodObj extends KubeObject {
  status?: { phase?: string; containerStatuses?: { name: string; state: { running?: object } }[] };
}

/** /proc/PID/uid_map (or gid_map) as [inside, outside, count] lines. */
function idMap(pid: number, file: "uid_map" | "gid_map"): number[][] {
  return readFileSync(`/proc/${pid}/${file}`, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
}

const skip = skipReason();

describe("pods with hostUsers: false", { skip, concurrency: false }, () => {
  let node: TestNode;
  const getPod = (name: string) => node.admin.resource<PodObj>(PODS).get("default", name);
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });
  const podJson = (name: string, spec: Record<string, unknown>) =>
    JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, ...spec } });
  const sh = (script: string, extra: Record<string, unknown> = {}) => ({ name: "app", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", script], ...extra });
  const running = (name: string) =>
    until(`${name} Running`, async () => {
      const p = await getPod(name);
      return p.status?.phase === "Running" && p.status.containerStatuses?.every((c) => c.state.running) ? p : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nstatus: ${JSON.stringify((await getPod(name)).status)}\nagent log:\n${node.log.join("").slice(-4000)}`);
    });
  /** The host pids of the pod's sandbox and of its app container (from the node's engine). */
  const pids = async (pod: string) => {
    const uid = (await getPod(pod)).metadata.uid!;
    const pidOf = (name: string) => {
      const r = docker(["inspect", "-f", "{{.State.Pid}}", name]);
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout.trim());
    };
    return { uid, sandbox: pidOf(`k8s_POD_${pod}_default_${uid}_0`), app: pidOf(`k8s_app_${pod}_default_${uid}_0`) };
  };
  const exec = async (pod: string, cmd: string) => {
    const uid = (await getPod(pod)).metadata.uid!;
    const r = docker(["exec", `k8s_app_${pod}_default_${uid}_0`, "sh", "-c", cmd]);
    return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };
  /** [first host id, count] of the pod's user namespace, checked to be one range, not the identity. */
  const rangeOf = async (pod: string): Promise<[number, number]> => {
    const { sandbox, app } = await pids(pod);
    const map = idMap(app, "uid_map");
    assert.equal(map.length, 1, `one range: ${JSON.stringify(map)}`);
    const [inside, outside, count] = map[0]!;
    assert.equal(inside, 0);
    assert.notEqual(outside, 0, "not the host's ids");
    assert.equal(count, 65536, "the kubelet's 65536 ids per pod");
    assert.deepEqual(idMap(app, "gid_map")[0]!.slice(0, 1), [0]);
    // The container is in the sandbox's user namespace, as in its network namespace.
    assert.equal(readlinkSync(`/proc/${app}/ns/user`), readlinkSync(`/proc/${sandbox}/ns/user`));
    assert.notEqual(readlinkSync(`/proc/${app}/ns/user`), readlinkSync("/proc/self/ns/user"));
    return [outside!, count!];
  };
  const disjoint = (a: [number, number], b: [number, number]) => a[0] + a[1] <= b[0] || b[0] + b[1] <= a[0];
  const userPod = (name: string, extra: Record<string, unknown> = {}) => node.kubectl(["apply", "-f", "-"], podJson(name, { hostUsers: false, containers: [sh("exec sleep 300")], ...extra }));

  before(async () => {
    node = await startTestNode();
    // The pods' roots are no owners of the test's directory: they only need to pass through.
    chmodSync(node.cluster.dir, 0o711);
    await node.start();
  });
  after(async () => {
    await node?.cleanup();
  });

  test("a pod with hostUsers: false has a uid map of its own, root inside, writes its emptyDir and reads its configMap", async () => {
    await node.kubectl(["create", "configmap", "userns-cfg", "--from-literal=greeting=hello"]);
    await node.kubectl(
      ["apply", "-f", "-"],
      podJson("alone", {
        hostUsers: false,
        volumes: [
          { name: "scratch", emptyDir: {} },
          { name: "cfg", configMap: { name: "userns-cfg", defaultMode: 0o400 } },
        ],
        containers: [sh("exec sleep 300", { volumeMounts: [{ name: "scratch", mountPath: "/scratch" }, { name: "cfg", mountPath: "/cfg" }] })],
      }),
    );
    await running("alone");
    const [first] = await rangeOf("alone");
    const { uid, app } = await pids("alone");
    // Root inside (asked through kubectl exec, as a user would), the range's first id outside.
    assert.equal((await node.kubectl(["exec", "alone", "--", "id", "-u"])).trim(), "0");
    assert.equal(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${app}/status`, "utf8"))![1], String(first));
    // The emptyDir: written inside, the range's root's on the host.
    const w = await exec("alone", "echo written > /scratch/f && cat /scratch/f && stat -c %u /scratch/f");
    assert.equal(w.code, 0, w.err);
    assert.deepEqual(w.out.split("\n"), ["written", "0"]);
    const hostFile = join(node.dataRoot, "pods", uid, "volumes", "kubernetes.io~empty-dir", "scratch", "f");
    assert.equal(statSync(hostFile).uid, first);
    // The configMap file is mode 0400 and root's inside: only the pod's own root reads it.
    const r = await exec("alone", "cat /cfg/greeting; echo; stat -L -c '%a %u' /cfg/greeting");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split("\n"), ["hello", "400 0"]);
    // The range is recorded with the pod (the kubelet's file), so it outlives an agent restart.
    const record = JSON.parse(readFileSync(join(node.dataRoot, "pods", uid, "userns"), "utf8")) as { uidMappings: { hostId: number; containerId: number; length: number }[] };
    assert.deepEqual(record.uidMappings, [{ hostId: first, containerId: 0, length: 65536 }]);
  });

  test("runAsUser and fsGroup are ids inside the range: a 0440 secret is read through fsGroup, the emptyDir written", async () => {
    await node.kubectl(["create", "secret", "generic", "userns-secret", "--from-literal=token=s3cret"]);
    await node.kubectl(
      ["apply", "-f", "-"],
      podJson("grouped", {
        hostUsers: false,
        securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
        volumes: [
          { name: "scratch", emptyDir: {} },
          { name: "sec", secret: { secretName: "userns-secret", defaultMode: 0o440 } },
        ],
        containers: [sh("exec sleep 300", { volumeMounts: [{ name: "scratch", mountPath: "/scratch" }, { name: "sec", mountPath: "/sec" }] })],
      }),
    );
    await running("grouped");
    const [first] = await rangeOf("grouped");
    const { uid, app } = await pids("grouped");
    const status = readFileSync(`/proc/${app}/status`, "utf8");
    assert.equal(/^Uid:\s+(\d+)/m.exec(status)![1], String(first + 1000), "runAsUser 1000 is first+1000 on the host");
    assert.ok(/^Groups:.*\b(\d+)\b/m.exec(status)![0].split(/\s+/).includes(String(first + 2000)), `fsGroup 2000 is first+2000 on the host: ${status}`);
    const r = await exec("grouped", "id -u; cat /sec/token; echo; stat -L -c '%a %g' /sec/token; echo mine > /scratch/f && stat -c '%u %g' /scratch/f");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split("\n"), ["1000", "s3cret", "440 2000", "1000 2000"]);
    const hostFile = join(node.dataRoot, "pods", uid, "volumes", "kubernetes.io~empty-dir", "scratch", "f");
    assert.deepEqual([statSync(hostFile).uid, statSync(hostFile).gid], [first + 1000, first + 2000]);
    await node.kubectl(["delete", "pod", "grouped", "--timeout=60s"]);
  });

  test("two pods get disjoint ranges, kept across an agent restart; a deleted pod's range is free again", async () => {
    await userPod("second");
    await running("second");
    const a = await rangeOf("alone");
    const b = await rangeOf("second");
    assert.ok(disjoint(a, b), `disjoint: ${a} and ${b}`);
    // A restarted agent knows both ranges from their records: a new pod gets neither.
    await node.kill("SIGTERM");
    await node.start();
    await userPod("third");
    await running("third");
    const c = await rangeOf("third");
    assert.ok(disjoint(c, a) && disjoint(c, b), `disjoint: ${c} from ${a} and ${b}`);
    assert.deepEqual(await rangeOf("alone"), a, "a running pod keeps its range");
    // Deleting a pod frees its range: the next pod may have it.
    const uidA = (await getPod("alone")).metadata.uid!;
    await node.kubectl(["delete", "pod", "alone", "--timeout=60s"]);
    await until("the pod's directory to go", () => (!existsSync(join(node.dataRoot, "pods", uidA)) ? true : undefined));
    await userPod("fourth");
    await running("fourth");
    assert.deepEqual(await rangeOf("fourth"), a, "the freed range is handed out again (first fit)");
    await node.kubectl(["delete", "pod", "second", "third", "fourth", "--timeout=60s"]);
  });

  test("a data root the pod's ids cannot pass through is told (FailedCreatePodSandBox naming the directory), then the pod starts once it is opened", async () => {
    chmodSync(node.cluster.dir, 0o700);
    try {
      await userPod("blocked");
      const ev = await until("the FailedCreatePodSandBox event", async () => {
        const list = await node.admin.resource<KubeObject & { reason?: string; message?: string; type?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
        return list.items.find((e) => e.involvedObject?.name === "blocked" && e.reason === "FailedCreatePodSandBox");
      });
      assert.equal(ev.type, "Warning");
      assert.equal(ev.message, `Failed to create pod sandbox: a pod with hostUsers: false cannot reach its files: ${node.cluster.dir} lacks the o+x permission its ids need to pass through`);
      assert.equal((await getPod("blocked")).status?.phase, "Pending");
    } finally {
      chmodSync(node.cluster.dir, 0o711);
    }
    await running("blocked");
    await rangeOf("blocked");
    await node.kubectl(["delete", "pod", "blocked", "--timeout=60s"]);
  });

  test("hostUsers: false with hostNetwork, hostPID or hostIPC is refused with kube's messages", async () => {
    for (const [field, shown] of [
      ["hostNetwork", "spec.hostNetwork"],
      ["hostPID", "spec.HostPID"],
      ["hostIPC", "spec.HostIPC"],
    ] as const) {
      const r = await node.cluster.kubectl(["apply", "-f", "-"], { input: podJson(`refused-${field.toLowerCase()}`, { hostUsers: false, [field]: true, containers: [sh("true")] }) });
      assert.notEqual(r.code, 0, `${field} is refused`);
      assert.match(r.stderr, new RegExp(`${shown.replace(".", "\\.")}: Forbidden: when \`pod\\.Spec\\.HostUsers\` is false`));
    }
    // A Deployment's template is checked the same way.
    const dep = await node.cluster.kubectl(["create", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "refused-template" },
        spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { hostUsers: false, hostNetwork: true, containers: [sh("true")] } } },
      }),
    });
    assert.notEqual(dep.code, 0);
    assert.match(dep.stderr, /spec\.template\.spec\.hostNetwork: Forbidden/);
    // hostUsers: true (the default) with hostNetwork stays allowed.
    const ok = await node.cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: podJson("allowed-hostnet", { hostUsers: true, hostNetwork: true, containers: [sh("true")] }) });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("a default pod keeps the host's identity map", async () => {
    await node.kubectl(["apply", "-f", "-"], podJson("plain", { containers: [sh("exec sleep 300")] }));
    await running("plain");
    const { app, uid } = await pids("plain");
    assert.deepEqual(idMap(app, "uid_map"), [[0, 0, 4294967295]]);
    assert.equal(readlinkSync(`/proc/${app}/ns/user`), readlinkSync("/proc/self/ns/user"));
    assert.equal(existsSync(join(node.dataRoot, "pods", uid, "userns")), false, "no range recorded");
    await node.kubectl(["delete", "pod", "plain", "--timeout=60s"]);
  });
});
