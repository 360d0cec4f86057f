// The workload controllers as users meet them: a real `gantry server --no-agent` child process
// and the real kubectl. With no node agent, the test plays the kubelet over HTTPS: every pod
// is bound to node n1 and marked Running and Ready through the status subresource, and a pod
// being deleted is removed with grace 0 (as a kubelet does once its containers stopped). Covers
// rollout status/history/undo/pause/resume/restart, maxSurge/maxUnavailable seen through
// `kubectl get pods -w`, scale, a Service's Endpoints and EndpointSlice, default
// ServiceAccounts, and a kill -9 of the server mid-scale that loses nothing and duplicates
// nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, isConflict, isNotFound, type KubeObject } from "../../src/cluster/client/index.ts";
import { KUBECTL, kubectlMissing } from "../cluster-api/_server.ts";
import { NODES, PODS } from "./_harness.ts";

const skip = kubectlMissing;
let dir = "";
let dataDir = "";
let port = 0;
let server: { child: ChildProcess; exited: Promise<unknown>; out: () => string } | undefined;
let kubelet: { stop(): Promise<void>; errors: string[] } | undefined;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

async function startServer(): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/gantry/main.ts", "server", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--no-agent"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  server = { child, exited, out: () => out };
  const until = Date.now() + 60_000;
  while (!out.includes("listening on")) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`gantry server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const kubectl = (args: string[], timeout = 90_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(KUBECTL, ["--kubeconfig", join(dataDir, "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), ...args], { timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

async function ok(args: string[]): Promise<string> {
  const r = await kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}\n${server?.out().slice(-3000)}`);
  return r.stdout;
}

/** Polls until fn returns a value (not undefined); fails after a minute with what it last saw. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + 60_000;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (${String(last ?? "")})\n${server?.out().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The kubelet's part: bind each new pod to n1 and report it Running and Ready (one IP per pod). */
function startKubelet(): { stop(): Promise<void>; errors: string[] } {
  const client = Client.fromKubeconfig(join(dataDir, "admin.kubeconfig"));
  const errors: string[] = [];
  let stopped = false;
  let ip = 2;
  const loop = (async () => {
    while (!stopped) {
      try {
        for (const p of (await client.resource(PODS).list(undefined)).items) {
          if (p.metadata.deletionTimestamp) {
            // A kubelet stops the pod's containers, then removes it for good (grace 0, this very pod).
            await client
              .resource(PODS)
              .delete(p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } })
              .catch((err: unknown) => {
                if (!isNotFound(err) && !isConflict(err)) errors.push(String(err));
              });
            continue;
          }
          if ((p.status as { phase?: string } | undefined)?.phase === "Running") continue;
          await markRunning(client, p, `10.42.${Math.floor(ip / 250)}.${(ip++ % 250) + 2}`).catch((err: unknown) => {
            // The pod went (scaled down, rolled over) between the list and the write.
            if (!isNotFound(err) && !isConflict(err)) errors.push(String(err));
          });
        }
      } catch (err) {
        // The server is down (killed by a test); try again when it is back.
        if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(String(err))) errors.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    errors,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function markRunning(client: Client, p: KubeObject, ip: string): Promise<void> {
  const { namespace, name } = p.metadata;
  if (!(p.spec as { nodeName?: string }).nodeName) {
    await client.resource(PODS).createSubresource(namespace, name!, "binding", { apiVersion: "v1", kind: "Binding", metadata: { name, namespace }, target: { kind: "Node", name: "n1" } });
  }
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const status = { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True", lastTransitionTime: now }] };
  await client.resource(PODS).patch(namespace, name!, "merge", { status, metadata: { uid: p.metadata.uid } }, { subresource: "status" });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "gantry-workloads-kubectl-"));
  dataDir = join(dir, "data");
  port = await freePort();
  await startServer();
  const client = Client.fromKubeconfig(join(dataDir, "admin.kubeconfig"));
  await client.resource(NODES).create(undefined, { metadata: { name: "n1", labels: { "kubernetes.io/hostname": "n1" } } });
  kubelet = startKubelet();
});

after(async () => {
  await kubelet?.stop();
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(kubelet?.errors ?? [], []);
});

const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: ${image}
        ports: [{name: http, containerPort: 8080}]
`;

async function apply(yaml: string): Promise<void> {
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = execFile(KUBECTL, ["--kubeconfig", join(dataDir, "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), "apply", "-f", "-"], (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }));
    child.stdin!.end(yaml);
  });
  assert.equal(r.code, 0, r.stderr);
}

/** The Deployment's pods that are not terminating (a deleted pod lingers until "the kubelet" removes it, as in Kubernetes). */
async function livePods(): Promise<{ name: string; image: string; ip: string }[]> {
  const out = await ok(["get", "pods", "-l", "app=web", "-o", 'jsonpath={range .items[*]}{.metadata.name}|{.metadata.deletionTimestamp}|{.spec.containers[0].image}|{.status.podIP}{"\\n"}{end}']);
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("|"))
    .filter(([, deleting]) => !deleting)
    .map(([name, , image, ip]) => ({ name: `pod/${name}`, image: image!, ip: ip! }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
const images = async () => (await livePods()).map((p) => p.image).sort();
const podNames = async () => (await livePods()).map((p) => p.name);

test("rollout status completes; get pods -w shows at most replicas+maxSurge pods and never fewer than replicas ready", { skip }, async () => {
  await apply(deployment("nginx:1"));
  const status = await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  assert.match(status, /deployment "web" successfully rolled out/);
  assert.deepEqual(await images(), ["nginx:1", "nginx:1", "nginx:1"]);

  // Watch every pod event while the new template rolls out.
  const watch = spawn(KUBECTL, ["--kubeconfig", join(dataDir, "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), "get", "pods", "-l", "app=web", "-w", "--output-watch-events", "-o", 'jsonpath={.type} {.object.metadata.name} {.object.status.conditions[?(@.type=="Ready")].status} {.object.metadata.deletionTimestamp}{"\\n"}'], { stdio: ["ignore", "pipe", "pipe"] });
  let lines = "";
  watch.stdout.on("data", (d: Buffer) => (lines += d.toString()));
  const watchExited = new Promise((resolve) => watch.on("exit", resolve));
  try {
    await eventually("the watch to list the pods", async () => (lines.split("\n").filter((l) => l.startsWith("ADDED")).length >= 3 ? true : undefined));
    await ok(["set", "image", "deployment/web", "c=nginx:2"]);
    assert.match(await ok(["rollout", "status", "deployment/web", "--timeout=90s"]), /successfully rolled out/);
    await eventually("the watch to see the old pods go", async () => (lines.split("\n").filter((l) => l.startsWith("DELETED")).length >= 3 ? true : undefined));
  } finally {
    watch.kill("SIGTERM");
    await watchExited;
  }
  const live = new Map<string, boolean>();
  let maxPods = 0;
  let minReady = Infinity;
  for (const line of lines.split("\n").filter(Boolean)) {
    const [type, name, ready, deleting] = line.split(" ");
    // A terminating pod no longer counts: the ReplicaSet has already replaced it, as upstream.
    if (type === "DELETED" || deleting) live.delete(name!);
    else live.set(name!, ready === "True");
    maxPods = Math.max(maxPods, live.size);
    // Counted once the first three are in (the watch lists them one by one).
    if (live.size >= 3 || minReady !== Infinity) minReady = Math.min(minReady, [...live.values()].filter(Boolean).length);
  }
  assert.equal(maxPods, 4, `maxSurge 1 over 3 replicas:\n${lines}`);
  assert.equal(minReady, 3, `maxUnavailable 0:\n${lines}`);
  assert.deepEqual(await images(), ["nginx:2", "nginx:2", "nginx:2"]);
});

test("rollout history lists the revisions; undo restores the old template; undo to the current one is skipped", { skip }, async () => {
  const history = await ok(["rollout", "history", "deployment/web"]);
  assert.match(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
  assert.match(await ok(["rollout", "history", "deployment/web", "--revision=1"]), /Image:\s+nginx:1/);
  assert.match(await ok(["rollout", "undo", "deployment/web"]), /deployment.apps\/web rolled back/);
  await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  assert.deepEqual(await images(), ["nginx:1", "nginx:1", "nginx:1"]);
  assert.match(await ok(["rollout", "history", "deployment/web"]), /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/);
  assert.match(await ok(["rollout", "undo", "deployment/web", "--to-revision=3"]), /skipped rollback \(current template already matches revision 3\)/);
  const sets = await ok(["get", "rs", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}{\"\\n\"}{end}"]);
  assert.equal(sets.trim().split("\n").length, 2, sets);
});

test("pause holds a new template back, resume rolls it out; restart rolls out a new revision", { skip }, async () => {
  await ok(["rollout", "pause", "deployment/web"]);
  await eventually("Progressing=DeploymentPaused", async () => ((await ok(["get", "deployment", "web", "-o", 'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}'])) === "DeploymentPaused" ? true : undefined));
  await ok(["set", "image", "deployment/web", "c=nginx:3"]);
  // The controller has seen the change (observedGeneration) and made no new set for it.
  await eventually("the paused change to be observed", async () => {
    const [gen, observed] = (await ok(["get", "deployment", "web", "-o", "jsonpath={.metadata.generation} {.status.observedGeneration}"])).split(" ");
    return gen === observed ? true : undefined;
  });
  assert.equal((await ok(["get", "rs", "-l", "app=web", "-o", "name"])).trim().split("\n").length, 2);
  assert.deepEqual(await images(), ["nginx:1", "nginx:1", "nginx:1"]);
  await ok(["rollout", "resume", "deployment/web"]);
  await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  assert.deepEqual(await images(), ["nginx:3", "nginx:3", "nginx:3"]);

  const before = await podNames();
  await ok(["rollout", "restart", "deployment/web"]);
  await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  const afterRestart = await podNames();
  assert.equal(afterRestart.length, 3);
  assert.ok(afterRestart.every((p) => !before.includes(p)), "every pod was replaced");
  assert.match(await ok(["rollout", "history", "deployment/web"]), /\n5\s+<none>/);
});

test("scale up and down; a Service gets Endpoints and an EndpointSlice of the ready pods", { skip }, async () => {
  await ok(["scale", "deployment/web", "--replicas=5"]);
  await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  assert.equal((await images()).length, 5);
  await ok(["scale", "deployment/web", "--replicas=2"]);
  await eventually("2 pods", async () => ((await images()).length === 2 ? true : undefined));
  assert.match(await ok(["get", "deployment", "web"]), /web\s+2\/2\s+2\s+2/);

  await ok(["expose", "deployment", "web", "--port=80", "--target-port=http"]);
  const podIPs = (await livePods()).map((p) => p.ip).sort();
  const epIPs = await eventually("Endpoints", async () => {
    const ips = (await ok(["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"])).split(" ").filter(Boolean).sort();
    return ips.length === 2 ? ips : undefined;
  });
  assert.deepEqual(epIPs, podIPs);
  assert.equal(await ok(["get", "endpoints", "web", "-o", "jsonpath={.subsets[0].ports[0].port}"]), "8080", "the named target port, resolved");
  const slices = JSON.parse(await ok(["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json"])) as { items: { endpoints: { addresses: string[]; conditions: { ready: boolean } }[] }[] };
  assert.equal(slices.items.length, 1);
  assert.deepEqual(slices.items[0]!.endpoints.map((e) => e.addresses[0]).sort(), podIPs);
  assert.ok(slices.items[0]!.endpoints.every((e) => e.conditions.ready));
  // describe reads the EndpointSlices (kubectl 1.32) and prints their endpoints in slice order.
  const line = /Endpoints:\s+(\S+)/.exec(await ok(["describe", "service", "web"]))?.[1] ?? "";
  assert.deepEqual(line.split(",").sort(), podIPs.map((ip) => `${ip}:8080`));
});

test("every namespace has its default ServiceAccount", { skip }, async () => {
  await ok(["create", "namespace", "team-a"]);
  const sas = await eventually("default in team-a", async () => {
    const out = await ok(["get", "serviceaccounts", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}"]);
    return out.includes("team-a/default") ? out : undefined;
  });
  for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease", "team-a"]) assert.ok(sas.includes(`${ns}/default`), `${ns}:\n${sas}`);
});

test("kill -9 of the server mid-scale: after a restart nothing is lost and no pod is duplicated", { skip }, async () => {
  const setsBefore = (await ok(["get", "rs", "-o", "name"])).trim().split("\n").sort();
  const podsBefore = await podNames();
  await ok(["scale", "deployment/web", "--replicas=8"]);
  server!.child.kill("SIGKILL");
  await server!.exited;
  await startServer();
  await ok(["rollout", "status", "deployment/web", "--timeout=90s"]);
  const pods = await podNames();
  assert.equal(pods.length, 8, pods.join("\n"));
  for (const p of podsBefore) assert.ok(pods.includes(p), `${p} survived`);
  assert.deepEqual((await ok(["get", "rs", "-o", "name"])).trim().split("\n").sort(), setsBefore, "no ReplicaSet made or lost");
  // A change after the restart proves the controllers run; the old pods are still exactly 8.
  await ok(["create", "deployment", "after", "--image=nginx:1", "--replicas=2"]);
  await ok(["rollout", "status", "deployment/after", "--timeout=90s"]);
  assert.equal((await podNames()).length, 8);
  assert.match(await ok(["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]), /^(\S+ ){7}\S+$/, "the Service follows the 8 pods");
});

test("a ReplicationController keeps its replicas: defaulted selector, replaced pod, scale, bad selector refused, cascade delete", { skip }, async () => {
  await apply(`apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: legacy}
    spec:
      containers:
      - name: c
        image: busybox
`);
  // The selector and the object's labels default to the template's labels.
  assert.equal(await ok(["get", "rc", "legacy", "-o", "jsonpath={.spec.selector.app}/{.metadata.labels.app}"]), "legacy/legacy");
  const rcPods = async () =>
    (await ok(["get", "pods", "-l", "app=legacy", "-o", 'jsonpath={range .items[*]}{.metadata.name}|{.metadata.deletionTimestamp}|{.metadata.ownerReferences[0].kind}{"\\n"}{end}']))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("|"))
      .filter(([, deleting]) => !deleting);
  const two = await eventually("2 ready pods", async () => ((await rcPods()).length === 2 && /legacy\s+2\s+2\s+2/.test(await ok(["get", "rc", "legacy"])) ? rcPods() : undefined));
  assert.ok(two.every(([name, , kind]) => name!.startsWith("legacy-") && kind === "ReplicationController"), JSON.stringify(two));
  assert.match(await ok(["get", "rc", "legacy", "-o", "wide"]), /NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nlegacy\s+2\s+2\s+2\s+\S+\s+c\s+busybox\s+app=legacy/);

  const victim = two[0]![0]!;
  await ok(["delete", "pod", victim, "--wait=false"]);
  await eventually("a replacement", async () => {
    const names = (await rcPods()).map(([n]) => n);
    return names.length === 2 && !names.includes(victim) ? true : undefined;
  });

  await ok(["scale", "rc", "legacy", "--replicas=3"]);
  await eventually("3 pods", async () => ((await rcPods()).length === 3 ? true : undefined));
  assert.equal(await ok(["get", "rc", "legacy", "-o", "jsonpath={.status.replicas}"]), "3");

  const bad = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = execFile(KUBECTL, ["--kubeconfig", join(dataDir, "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), "create", "-f", "-"], (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }));
    child.stdin!.end(`{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"bad"},"spec":{"selector":{"app":"x"},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`);
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ReplicationController "bad" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/);

  await ok(["delete", "rc", "legacy"]);
  await eventually("the pods gone with their controller", async () => ((await rcPods()).length === 0 ? true : undefined));
});
