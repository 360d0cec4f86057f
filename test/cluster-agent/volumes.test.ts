// Pod volumes on a real node (`gantry agent` as a child, kubectl against the API server):
// two containers share an emptyDir and localhost; configMap, secret, downwardAPI and
// projected files with items, modes and the ..data symlink; a ConfigMap update reaches the
// mounted file; a missing ConfigMap holds the pod in ContainerCreating with the kubelet's
// FailedMount event until it exists; hostPath types; subPath and readOnly; medium Memory is a
// tmpfs of sizeLimit; fsGroup owns the volume and is among the process's groups; the pod's
// volume directory goes with the pod.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const EVENTS = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };

interface PodObj extends KubeObject {
  status?: { phase?: string; containerStatuses?: { name: string; state: { running?: object; waiting?: { reason: string; message?: string } } }[] };
}

const skip = skipReason();

describe("pod volumes", { skip }, () => {
  let node: TestNode;
  let hostDir: string;
  const getPod = (name: string) => node.admin.resource<PodObj>(PODS).get("default", name);
  const docker = (args: string[]) => spawnSync("docker", ["-H", `unix://${node.engineSocket}`, ...args], { encoding: "utf8", timeout: 30_000 });
  const apply = (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) =>
    node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name, ...(labels ? { labels } : {}) }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, ...spec } }));
  const running = (name: string) =>
    until(`${name} Running`, async () => {
      const p = await getPod(name);
      return p.status?.phase === "Running" && p.status.containerStatuses?.every((c) => c.state.running) ? p : undefined;
    });
  /** Runs a command in a pod's container through the node's engine (kubectl exec is not served yet). */
  const exec = async (pod: string, container: string, cmd: string) => {
    const uid = (await getPod(pod)).metadata.uid!;
    const r = docker(["exec", `k8s_${container}_${pod}_default_${uid}_0`, "sh", "-c", cmd]);
    return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };
  const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({ name, image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", script], ...extra });

  before(async () => {
    node = await startTestNode();
    await node.start();
    hostDir = mkdtempSync(join(tmpdir(), "gantry-hostpath-"));
  });
  after(async () => {
    await node?.cleanup();
    if (hostDir) {
      for (const t of [join(hostDir, "prop", "late"), hostDir]) spawnSync("umount", ["-l", t]);
      rmSync(hostDir, { recursive: true, force: true });
    }
  });

  test("two containers share an emptyDir and localhost; the pod's volume directory goes with the pod", async () => {
    await apply("share", {
      volumes: [{ name: "shared", emptyDir: {} }],
      containers: [
        sh("writer", "echo from-writer > /data/msg; exec httpd -f -p 8080 -h /data", { volumeMounts: [{ name: "shared", mountPath: "/data" }] }),
        sh("reader", "exec sleep 300", { volumeMounts: [{ name: "shared", mountPath: "/in" }] }),
      ],
    });
    const p = await running("share");
    const uid = p.metadata.uid!;
    assert.equal((await until("the file", async () => ((await exec("share", "reader", "cat /in/msg")).out || undefined))), "from-writer");
    assert.equal((await until("httpd", async () => ((await exec("share", "reader", "wget -qO- http://127.0.0.1:8080/msg")).out || undefined))), "from-writer");
    await exec("share", "reader", "echo back > /in/reply");
    assert.equal((await exec("share", "writer", "cat /data/reply")).out, "back");
    const dir = join(node.dataRoot, "pods", uid, "volumes", "kubernetes.io~empty-dir", "shared");
    assert.equal(statSync(dir).mode & 0o777, 0o777, "an emptyDir is world-writable");
    await node.kubectl(["delete", "pod", "share", "--timeout=60s"]);
    await until("the pod's directory to go", () => (!existsSync(join(node.dataRoot, "pods", uid)) ? true : undefined));
  });

  test("configMap, secret, downwardAPI and projected files: items, modes, tmpfs for secrets, and a ConfigMap update reaches the file", async () => {
    await node.kubectl(["create", "configmap", "app-cfg", "--from-literal=color=blue", "--from-literal=size=L"]);
    await node.kubectl(["create", "secret", "generic", "app-sec", "--from-literal=password=hunter2", "--from-literal=user=admin"]);
    await apply(
      "files",
      {
        volumes: [
          { name: "cfg", configMap: { name: "app-cfg" } },
          { name: "cfg-items", configMap: { name: "app-cfg", items: [{ key: "size", path: "nested/the-size", mode: 0o600 }] } },
          { name: "sec", secret: { secretName: "app-sec", defaultMode: 0o400 } },
          { name: "info", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }, { path: "name", fieldRef: { fieldPath: "metadata.name" } }, { path: "mem", resourceFieldRef: { containerName: "c", resource: "limits.memory", divisor: "1Mi" } }] } },
          { name: "all", projected: { sources: [{ configMap: { name: "app-cfg", items: [{ key: "color", path: "color" }] } }, { secret: { name: "app-sec", items: [{ key: "user", path: "user" }] } }, { downwardAPI: { items: [{ path: "ns", fieldRef: { fieldPath: "metadata.namespace" } }] } }] } },
        ],
        containers: [
          sh("c", "exec sleep 300", {
            resources: { limits: { memory: "48Mi" } },
            env: [{ name: "COLOR", valueFrom: { configMapKeyRef: { name: "app-cfg", key: "color" } } }],
            volumeMounts: [
              { name: "cfg", mountPath: "/etc/cfg" },
              { name: "cfg-items", mountPath: "/etc/items" },
              { name: "sec", mountPath: "/etc/sec" },
              { name: "info", mountPath: "/etc/info" },
              { name: "all", mountPath: "/etc/all" },
            ],
          }),
        ],
      },
      { app: "files", tier: "back" },
    );
    await running("files");
    const x = (cmd: string) => exec("files", "c", cmd).then((r) => r.out);
    assert.equal(await x("cat /etc/cfg/color; echo; cat /etc/cfg/size"), "blue\nL", "values as given, with no newline added");
    assert.equal(await x("readlink /etc/cfg/color"), "..data/color", "keys are symlinks through ..data");
    assert.match(await x("readlink /etc/cfg/..data"), /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$/);
    assert.equal(await x("ls /etc/items; cat /etc/items/nested/the-size; echo; stat -L -c %a /etc/items/nested/the-size"), "nested\nL\n600");
    assert.equal(await x("cat /etc/sec/password; echo; stat -L -c %a /etc/sec/password /etc/cfg/color"), "hunter2\n400\n644");
    assert.match(await x("grep ' /etc/sec ' /proc/mounts"), /^tmpfs \/etc\/sec tmpfs ro[, ]/, "a secret is a read-only tmpfs");
    assert.equal(await x("cat /etc/info/labels; echo; cat /etc/info/name; echo; cat /etc/info/mem"), 'app="files"\ntier="back"\nfiles\n48');
    assert.equal(await x("for f in color user ns; do cat /etc/all/$f; echo; done"), "blue\nadmin\ndefault");
    const denied = await exec("files", "c", "echo x > /etc/cfg/new");
    assert.notEqual(denied.code, 0, "configMap volumes are read-only");
    assert.match(denied.err, /Read-only file system/);
    assert.equal(await x("echo $COLOR"), "blue", "env from the same ConfigMap");

    // The kubelet's update: new content appears through a swapped ..data, labels too.
    const before = await x("readlink /etc/cfg/..data");
    await node.kubectl(["patch", "configmap", "app-cfg", "--type=merge", "-p", '{"data":{"color":"green"}}']);
    await node.kubectl(["label", "pod", "files", "tier=front", "--overwrite"]);
    await until("the new color in both volumes", async () => ((await x("cat /etc/cfg/color /etc/all/color")) === "greengreen" ? true : undefined), 45_000);
    assert.notEqual(await x("readlink /etc/cfg/..data"), before, "a new timestamped directory");
    assert.equal(await x("ls -a /etc/cfg | grep -c '^\\.\\.20'"), "1", "the old payload directory is removed");
    await until("the new label", async () => ((await x("cat /etc/info/labels")).includes('tier="front"') ? true : undefined), 45_000);
    assert.equal(await x("echo $COLOR"), "blue", "env is fixed at start, as in Kubernetes");
    await node.kubectl(["patch", "secret", "app-sec", "--type=merge", "-p", JSON.stringify({ data: { password: Buffer.from("changed").toString("base64") } })]);
    await until("the new secret on its tmpfs", async () => ((await x("cat /etc/sec/password")) === "changed" ? true : undefined), 45_000);
  });

  test("a missing ConfigMap holds the pod in ContainerCreating with FailedMount until it exists; optional ones do not", async () => {
    await apply("waits", { volumes: [{ name: "cfg", configMap: { name: "late" } }, { name: "opt", configMap: { name: "never", optional: true } }], containers: [sh("c", "cat /cfg/k; exec sleep 300", { volumeMounts: [{ name: "cfg", mountPath: "/cfg" }, { name: "opt", mountPath: "/opt" }] })] });
    const ev = await until("a FailedMount event", async () => {
      const list = await node.admin.resource<KubeObject & { reason?: string; message?: string; type?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
      return list.items.find((e) => e.involvedObject?.name === "waits" && e.reason === "FailedMount");
    });
    assert.equal(ev.type, "Warning");
    assert.equal(ev.message, 'MountVolume.SetUp failed for volume "cfg" : configmap "late" not found');
    // The event and the pod's status are separate writes: wait for the status, then check it.
    const p = await until("the pod's status to show its container waiting", async () => {
      const pod = await getPod("waits");
      return pod.status?.containerStatuses?.[0] ? pod : undefined;
    });
    assert.equal(p.status?.phase, "Pending");
    assert.equal(p.status?.containerStatuses?.[0]?.state.waiting?.reason, "ContainerCreating");
    assert.match(await node.kubectl(["describe", "pod", "waits"]), /FailedMount.*configmap "late" not found/);
    // A path that would leave the volume is refused the same way.
    await apply("escape", { volumes: [{ name: "cfg", configMap: { name: "app-cfg", items: [{ key: "color", path: "../../etc/passwd" }] } }], containers: [sh("c", "sleep 300", { volumeMounts: [{ name: "cfg", mountPath: "/cfg" }] })] });
    await until("the escape refused", async () => {
      const list = await node.admin.resource<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
      return list.items.find((e) => e.involvedObject?.name === "escape" && e.message === `MountVolume.SetUp failed for volume "cfg" : invalid path: must not contain '..': ../../etc/passwd`);
    });
    await node.kubectl(["create", "configmap", "late", "--from-literal=k=arrived"]);
    await running("waits");
    assert.equal((await exec("waits", "c", "cat /cfg/k; echo; ls /opt | wc -l")).out, "arrived\n0", "an optional missing ConfigMap is an empty directory (but for the writer's ..data)");
  });

  test("hostPath types, subPath, subPathExpr, readOnly, a Memory emptyDir of sizeLimit, and fsGroup", async () => {
    // A Directory that is not there is a FailedMount; DirectoryOrCreate makes it.
    await apply("hp-missing", { volumes: [{ name: "h", hostPath: { path: join(hostDir, "absent"), type: "Directory" } }], containers: [sh("c", "sleep 300", { volumeMounts: [{ name: "h", mountPath: "/h" }] })] });
    await until("the type check event", async () => {
      const list = await node.admin.resource<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>(EVENTS).list("default");
      return list.items.find((e) => e.involvedObject?.name === "hp-missing" && e.message === `MountVolume.SetUp failed for volume "h" : hostPath type check failed: ${join(hostDir, "absent")} is not a directory`);
    });
    // HostToContainer: a mount made on the host later shows up inside (the host side must be a
    // shared mount, as the kubelet requires; the test makes hostDir one).
    spawnSync("mount", ["--bind", hostDir, hostDir]);
    spawnSync("mount", ["--make-shared", hostDir]);
    mkdirSync(join(hostDir, "prop"));
    await apply("vols", {
      securityContext: { fsGroup: 2345 },
      volumes: [
        { name: "h", hostPath: { path: join(hostDir, "made"), type: "DirectoryOrCreate" } },
        { name: "mem", emptyDir: { medium: "Memory", sizeLimit: "8Mi" } },
        { name: "scratch", emptyDir: {} },
        { name: "prop", hostPath: { path: join(hostDir, "prop"), type: "Directory" } },
      ],
      containers: [
        sh("c", "echo host-side > /h/out; exec sleep 300", {
          env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
          volumeMounts: [
            { name: "h", mountPath: "/h" },
            { name: "h", mountPath: "/h-ro", readOnly: true },
            { name: "mem", mountPath: "/mem" },
            { name: "scratch", mountPath: "/sub", subPath: "a/b" },
            { name: "scratch", mountPath: "/per-pod", subPathExpr: "$(POD)" },
            { name: "scratch", mountPath: "/all" },
            { name: "prop", mountPath: "/prop", mountPropagation: "HostToContainer" },
          ],
        }),
      ],
    });
    await running("vols");
    const x = (cmd: string) => exec("vols", "c", cmd);
    assert.equal((await until("the host file", async () => ((await x("cat /h-ro/out")).out || undefined))), "host-side");
    assert.equal(statSync(join(hostDir, "made")).isDirectory(), true);
    assert.match((await x("touch /h-ro/no")).err, /Read-only file system/);
    const mem = (await x("grep ' /mem ' /proc/mounts")).out;
    assert.match(mem, /^tmpfs \/mem tmpfs rw/);
    assert.match(mem, /size=8192k/);
    await x("echo s > /sub/f; echo p > /per-pod/g");
    assert.equal((await x("cat /all/a/b/f /all/vols/g")).out, "s\np", "subPath and subPathExpr bind directories inside the volume");
    assert.match((await x("id -G")).out, /\b2345\b/, "fsGroup is a supplementary group");
    assert.equal((await x("stat -c '%g %a' /all")).out, "2345 2777", "the emptyDir belongs to the fsGroup, setgid");
    assert.equal((await x("touch /all/new; stat -c %g /all/new")).out, "2345", "new files inherit the group");
    mkdirSync(join(hostDir, "prop", "late"));
    spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "late", join(hostDir, "prop", "late")]);
    writeFileSync(join(hostDir, "prop", "late", "f"), "propagated");
    assert.equal((await x("cat /prop/late/f")).out, "propagated", "a later host mount reaches the container (rslave)");
  });
});
