// Conformance with the real kubectl (1.32, the installed dispatcher) against Gantry's API
// server on the real SQLite store. Every command is one users run; the assertions check
// what kubectl prints and what the server then holds.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kubectlBackground, kubectlMissing, startTestCluster, type TestCluster } from "./_server.ts";

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
  b: "2"
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
`;

describe("kubectl against gantry server", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  const ok = async (args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }) => {
    const r = await c.kubectl(args, opts);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const json = async (args: string[]) => JSON.parse(await ok([...args, "-o", "json"])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  test("version reports 1.32 and api-resources lists every kind", async () => {
    const v = JSON.parse(await ok(["version", "-o", "json"]));
    assert.equal(v.serverVersion.major, "1");
    assert.equal(v.serverVersion.minor, "32");
    const res = await ok(["api-resources"]);
    for (const r of ["deployments", "configmaps", "cronjobs", "networkpolicies", "leases", "endpointslices", "persistentvolumeclaims"]) assert.match(res, new RegExp(`^${r}\\s`, "m"));
    assert.match(await ok(["get", "namespaces"]), /^default\s+Active/m);
    assert.match(await ok(["get", "service", "kubernetes"]), /^kubernetes\s+ClusterIP\s+10\.43\.0\.1\s+<none>\s+443\/TCP/m);
    assert.match(await ok(["get", "endpoints", "kubernetes"]), new RegExp(`127\\.0\\.0\\.1:${c.server.port}`));
  });

  test("client-side apply of a multi-document YAML, then a changed re-apply", async () => {
    const file = join(c.dir, "app.yaml");
    writeFileSync(file, MANIFEST);
    const out = await ok(["apply", "-f", file]);
    assert.match(out, /deployment.apps\/web created/);
    assert.match(out, /configmap\/settings created/);
    assert.match(out, /service\/web created/);
    // Change an image, add a sidecar, drop a key: kubectl sends a strategic merge patch.
    writeFileSync(file, MANIFEST.replace("image: nginx:1.27", "image: nginx:1.28").replace('        env: [{name: A, value: "1"}]\n', '        env: [{name: A, value: "1"}]\n      - name: side\n        image: busybox:1.36\n').replace('  b: "2"\n', ""));
    const out2 = await ok(["apply", "-f", file]);
    assert.match(out2, /deployment.apps\/web configured/);
    assert.match(out2, /service\/web unchanged/);
    const d = await json(["get", "deployment", "web"]);
    assert.deepEqual(d.spec.template.spec.containers.map((x: { name: string; image: string }) => `${x.name}=${x.image}`), ["web=nginx:1.28", "side=busybox:1.36"]);
    assert.deepEqual(d.spec.template.spec.containers[0].env, [{ name: "A", value: "1" }]);
    assert.equal(d.metadata.generation, 2);
    const cm = await json(["get", "configmap", "settings"]);
    assert.deepEqual(cm.data, { a: "1" });
    const svc = await json(["get", "service", "web"]);
    assert.equal(svc.spec.ports[0].protocol, "TCP");
    assert.equal(svc.spec.type, "ClusterIP");
  });

  test("get -o wide, yaml, json, jsonpath and name", async () => {
    const wide = await ok(["get", "deployments", "-o", "wide"]);
    assert.match(wide, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR/m);
    // UP-TO-DATE moves as the Deployment controller creates pods; nothing makes them ready here.
    assert.match(wide, /^web\s+0\/2\s+[0-2]\s+0\s+\S+\s+web,side\s+nginx:1.28,busybox:1.36\s+app=web/m);
    assert.match(await ok(["get", "cm", "settings", "-o", "yaml"]), /^kind: ConfigMap$/m);
    assert.equal((await json(["get", "cm"])).kind, "List");
    assert.equal(await ok(["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}/{.spec.strategy.type}"]), "2/RollingUpdate");
    assert.equal((await ok(["get", "deploy", "-o", "name"])).trim(), "deployment.apps/web");
    const all = await ok(["get", "all"]);
    assert.match(all, /deployment.apps\/web/);
    assert.match(all, /service\/web/);
  });

  test("get -w streams changes until stopped", async () => {
    const w = kubectlBackground(c, ["get", "configmaps", "-w"]);
    await w.waitFor((o) => /settings/.test(o));
    await ok(["create", "configmap", "watched", "--from-literal=x=1"]);
    await w.waitFor((o) => /watched/.test(o));
    await w.stop();
    assert.equal((w.stdout.match(/^NAME/gm) ?? []).length, 1, w.stdout);
  });

  test("describe, label and annotate", async () => {
    await ok(["label", "deployment", "web", "tier=frontend"]);
    await ok(["annotate", "deployment", "web", "note=hello"]);
    const d = await json(["get", "deployment", "web"]);
    assert.equal(d.metadata.labels.tier, "frontend");
    assert.equal(d.metadata.annotations.note, "hello");
    assert.match(await ok(["get", "deploy", "-l", "tier=frontend", "-o", "name"]), /web/);
    assert.equal((await ok(["get", "deploy", "-l", "tier!=frontend", "-o", "name"])).trim(), "");
    const out = await ok(["describe", "deployment", "web"]);
    assert.match(out, /^Name:\s+web$/m);
    assert.match(out, /^Replicas:\s+2 desired/m);
    assert.match(out, /^StrategyType:\s+RollingUpdate$/m);
    await ok(["label", "deployment", "web", "tier-"]);
    assert.equal((await json(["get", "deployment", "web"])).metadata.labels.tier, undefined);
  });

  test("a created pod's status.qosClass follows its requests and limits (kube-apiserver's PrepareForCreate), shown by describe", async () => {
    const pod = (name: string, resources: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  nodeName: nowhere
  containers: [{name: c, image: busybox, resources: ${resources}}]
`;
    await ok(["apply", "-f", "-"], { input: [pod("qos-g", "{limits: {cpu: 100m, memory: 64Mi}}"), pod("qos-b", "{requests: {memory: 32Mi}}"), pod("qos-e", "{}")].join("---\n") });
    assert.equal((await json(["get", "pod", "qos-g"])).status.qosClass, "Guaranteed", "limits alone are defaulted into equal requests");
    assert.equal((await json(["get", "pod", "qos-b"])).status.qosClass, "Burstable");
    assert.equal((await json(["get", "pod", "qos-e"])).status.qosClass, "BestEffort");
    assert.match(await ok(["describe", "pod", "qos-g"]), /^QoS Class:\s+Guaranteed$/m);
    await ok(["delete", "pod", "qos-g", "qos-b", "qos-e", "--grace-period=0", "--force"]);
  });

  test("scale through the scale subresource, with and without --current-replicas", async () => {
    assert.match(await ok(["scale", "deployment", "web", "--replicas=4"]), /scaled/);
    assert.equal((await json(["get", "deployment", "web"])).spec.replicas, 4);
    await ok(["scale", "deployment", "web", "--current-replicas=4", "--replicas=3"]);
    assert.equal((await json(["get", "deployment", "web"])).spec.replicas, 3);
    const r = await c.kubectl(["scale", "deployment", "web", "--current-replicas=9", "--replicas=1"]);
    assert.notEqual(r.code, 0);
  });

  test("patch as strategic merge, merge and JSON patch", async () => {
    await ok(["patch", "deployment", "web", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}}}']);
    let d = await json(["get", "deployment", "web"]);
    assert.deepEqual(d.spec.template.spec.containers.map((x: { image: string }) => x.image), ["nginx:1.28", "busybox:1.37"]);
    await ok(["patch", "deployment", "web", "--type=merge", "-p", '{"metadata":{"labels":{"merged":"yes"}}}']);
    await ok(["patch", "deployment", "web", "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":5}]']);
    d = await json(["get", "deployment", "web"]);
    assert.equal(d.metadata.labels.merged, "yes");
    assert.equal(d.spec.replicas, 5);
    const bad = await c.kubectl(["patch", "deployment", "web", "--type=json", "-p", '[{"op":"replace","path":"/spec/nothere/x","value":5}]']);
    assert.notEqual(bad.code, 0);
  });

  test("edit through KUBE_EDITOR", async () => {
    const editor = join(c.dir, "editor.sh");
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/^  a: "1"$/  a: "edited"/' "$1"\n`);
    chmodSync(editor, 0o755);
    assert.match(await ok(["edit", "configmap", "settings"], { env: { KUBE_EDITOR: editor, EDITOR: editor } }), /edited/);
    assert.equal((await json(["get", "cm", "settings"])).data.a, "edited");
  });

  test("a stale update is refused with a conflict", async () => {
    const cm = await json(["get", "cm", "settings"]);
    await ok(["label", "cm", "settings", "bump=1"]);
    cm.data.a = "stale";
    const file = join(c.dir, "stale.json");
    writeFileSync(file, JSON.stringify(cm));
    const r = await c.kubectl(["replace", "-f", file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Conflict|the object has been modified/);
    assert.equal((await json(["get", "cm", "settings"])).data.a, "edited");
  });

  test("server-side apply owns fields and reports conflicts", async () => {
    const file = join(c.dir, "ssa.yaml");
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: v1\n`);
    assert.match(await ok(["apply", "--server-side", "-f", file]), /serverside-applied/);
    const cm = await json(["get", "cm", "ssa", "--show-managed-fields"]);
    const mine = cm.metadata.managedFields.find((m: { manager: string }) => m.manager === "kubectl");
    assert.equal(mine.operation, "Apply");
    assert.ok(mine.fieldsV1["f:data"]["f:k"]);
    await ok(["patch", "cm", "ssa", "--type=merge", "-p", '{"data":{"k":"other"}}', "--field-manager", "someone"]);
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: v2\n`);
    const r = await c.kubectl(["apply", "--server-side", "-f", file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /conflict/i);
    assert.match(r.stderr, /someone/);
    await ok(["apply", "--server-side", "--force-conflicts", "-f", file]);
    assert.equal((await json(["get", "cm", "ssa"])).data.k, "v2");
    // Multi-document server-side apply creates what is missing.
    const noConfigMap = MANIFEST.split("---\n").filter((d) => !d.includes("kind: ConfigMap")).join("---\n");
    writeFileSync(file, noConfigMap.replace(/name: web/g, "name: web2").replace(/app: web/g, "app: web2"));
    const out = await ok(["apply", "--server-side", "-f", file]);
    assert.match(out, /deployment.apps\/web2 serverside-applied/);
    assert.equal((await json(["get", "deploy", "web2"])).spec.replicas, 2);
  });

  test("create namespace, configmap, secret, deployment and job (protobuf bodies)", async () => {
    await ok(["create", "namespace", "proto"]);
    await ok(["-n", "proto", "create", "configmap", "pc", "--from-literal=k=v"]);
    await ok(["-n", "proto", "create", "secret", "generic", "ps", "--from-literal=password=s3cret"]);
    await ok(["-n", "proto", "create", "deployment", "pd", "--image=nginx:1.27", "--replicas=3", "--port=8080"]);
    await ok(["-n", "proto", "create", "job", "pj", "--image=busybox", "--", "echo", "hi"]);
    assert.equal((await json(["get", "ns", "proto"])).status.phase, "Active");
    assert.deepEqual((await json(["-n", "proto", "get", "cm", "pc"])).data, { k: "v" });
    assert.equal(Buffer.from((await json(["-n", "proto", "get", "secret", "ps"])).data.password, "base64").toString(), "s3cret");
    const d = await json(["-n", "proto", "get", "deploy", "pd"]);
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.spec.template.spec.containers[0].ports[0].containerPort, 8080);
    assert.equal(d.spec.template.metadata.creationTimestamp, undefined);
    await ok(["-n", "proto", "create", "service", "clusterip", "ps", "--tcp=80:8080"]);
    await ok(["-n", "proto", "create", "service", "nodeport", "pn", "--tcp=80"]);
    await ok(["-n", "proto", "create", "serviceaccount", "psa"]);
    await ok(["-n", "proto", "create", "cronjob", "pcj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"]);
    await ok(["-n", "proto", "create", "job", "from-cj", "--from=cronjob/pcj"]);
    const svc = await json(["-n", "proto", "get", "svc", "ps"]);
    assert.match(svc.spec.clusterIP, /^10\.43\.\d+\.\d+$/);
    assert.equal(svc.spec.ports[0].targetPort, 8080);
    assert.ok((await json(["-n", "proto", "get", "svc", "pn"])).spec.ports[0].nodePort >= 30000);
    assert.equal((await json(["-n", "proto", "get", "cronjob", "pcj"])).spec.schedule, "*/5 * * * *");
    const j = await json(["-n", "proto", "get", "job", "pj"]);
    assert.deepEqual(j.spec.template.spec.containers[0].command, ["echo", "hi"]);
    assert.equal(j.spec.template.spec.restartPolicy, "Never");
  });

  test("apply and get every served kind", async () => {
    await ok(["create", "namespace", "kinds"]);
    const out = await ok(["-n", "kinds", "apply", "-f", join(import.meta.dirname, "every-kind.yaml")]);
    assert.equal((out.match(/ created$/gm) ?? []).length, 12, out);
    const table = await ok(["-n", "kinds", "get", "ds,sts,cj,netpol,lease,endpointslice,pv,pvc,sa,ep,no,ev", "-o", "wide"]);
    // DESIRED/CURRENT depend on whether the DaemonSet controller has placed its pod on node1 yet.
    assert.match(table, /daemonset.apps\/ds\s+\d+\s+\d+/);
    assert.match(table, /endpointslice.discovery.k8s.io\/es\s+IPv4\s+80\s+10.0.0.1/);
    assert.match(table, /node\/node1\s+Ready/);
    const ds = await json(["-n", "kinds", "get", "ds", "ds"]);
    assert.equal(ds.spec.updateStrategy.type, "RollingUpdate");
    assert.deepEqual((await json(["-n", "kinds", "get", "netpol", "np"])).spec.policyTypes, ["Ingress"]);
    assert.match(await ok(["-n", "kinds", "get", "events"]), /Testing\s+pod\/p1\s+hello/);
    await ok(["-n", "kinds", "run", "pod1", "--image=busybox"]);
    assert.match(await ok(["-n", "kinds", "get", "pods"]), /^pod1\s+0\/1\s+Pending\s+0/m);
  });

  test("explain reads the OpenAPI v3 schemas", async () => {
    const out = await ok(["explain", "deployment.spec.replicas"]);
    assert.match(out, /FIELD:\s+replicas <integer>/);
    assert.match(await ok(["explain", "pods.spec.containers"]), /image\s+<string>/);
  });

  test("apply validation: unknown fields are refused (Strict), or pass with --validate=false", async () => {
    const file = join(c.dir, "bad.yaml");
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata: {a: "1"}\nbogus: 1\n`);
    const r = await c.kubectl(["apply", "-f", file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown field "bogus"/);
    assert.equal((await c.kubectl(["get", "cm", "strict"])).code, 1);
    await ok(["apply", "--validate=false", "-f", file]);
    assert.equal((await json(["get", "cm", "strict"])).bogus, undefined);
  });

  test("delete cascades: background, orphan and foreground", async () => {
    const mkOwned = async (owner: string) => {
      const d = await json(["get", "deploy", owner]);
      const rs = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: { name: `${owner}-rs`, labels: { app: owner }, ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: owner, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }] },
        spec: { replicas: 1, selector: { matchLabels: { app: owner } }, template: { metadata: { labels: { app: owner } }, spec: { containers: [{ name: "c", image: "busybox" }] } } },
      };
      await ok(["create", "-f", "-"], { input: JSON.stringify(rs) });
    };
    const gone = async (args: string[]) => {
      for (let i = 0; i < 100; i++) {
        if ((await c.kubectl(["get", ...args])).code !== 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`${args.join(" ")} still exists`);
    };
    await mkOwned("web");
    await ok(["delete", "deployment", "web"]);
    await gone(["rs", "web-rs"]);

    await mkOwned("web2");
    await ok(["delete", "deployment", "web2", "--cascade=orphan"]);
    await gone(["deploy", "web2"]);
    const rs = await json(["get", "rs", "web2-rs"]);
    assert.equal(rs.metadata.ownerReferences, undefined);

    await ok(["create", "deployment", "fg", "--image=nginx"]);
    await mkOwned("fg");
    await ok(["delete", "deployment", "fg", "--cascade=foreground"]);
    assert.equal((await c.kubectl(["get", "rs", "fg-rs"])).code, 1);
    assert.equal((await c.kubectl(["get", "deploy", "fg"])).code, 1);
  });

  test("deleting a namespace empties it, then removes it", async () => {
    await ok(["delete", "namespace", "proto"]);
    assert.equal((await c.kubectl(["get", "ns", "proto"])).code, 1);
    assert.equal((await c.kubectl(["-n", "proto", "get", "deploy", "pd"])).code, 1);
    assert.equal((await c.server.store.count("/registry/core/configmaps/proto/")), 0);
  });

  test("errors come back as Kubernetes Status", async () => {
    const r = await c.kubectl(["get", "pod", "nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error from server \(NotFound\): pods "nope" not found/);
    const dup = await c.kubectl(["create", "configmap", "settings"]);
    assert.match(dup.stderr, /configmaps "settings" already exists/);
    const crd = await c.kubectl(["apply", "-f", "-"], { input: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n" });
    assert.notEqual(crd.code, 0);
    assert.match(crd.stderr, /no matches for kind "Widget"/);
    const logs = await c.kubectl(["logs", "nope"]);
    assert.match(logs.stderr, /NotFound/);
  });
});
