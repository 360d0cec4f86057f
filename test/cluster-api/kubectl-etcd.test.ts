// The same API server with its state in etcd (Debian's etcd-server, started privately for
// this file): the kubectl paths that lean hardest on the store — apply, protobuf create,
// optimistic concurrency, watch, cascading and namespace deletion.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { etcdSkipReason, TestEtcd } from "../cluster-store/_etcd.ts";
import { gantryCli, kubectlBackground, kubectlMissing, startTestCluster, writeTokenKubeconfig, type TestCluster } from "./_server.ts";

const skip = kubectlMissing || etcdSkipReason() || false;

describe("kubectl against gantry server on etcd", { skip }, () => {
  let etcd: TestEtcd;
  let c: TestCluster;
  const ok = async (args: string[]) => {
    const r = await c.kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  before(async () => {
    etcd = await TestEtcd.start();
    c = await startTestCluster({ storeSpec: { kind: "etcd", endpoints: [etcd.endpoint], prefix: "/gantry-test" } });
  });
  after(async () => {
    await c?.stop();
    await etcd?.stop();
  });

  test("apply, create, scale, watch, conflict and cascading deletes", async () => {
    assert.match(await ok(["get", "ns"]), /^kube-system\s+Active/m);
    await ok(["create", "namespace", "team"]);
    await ok(["-n", "team", "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]);
    const file = join(c.dir, "cm.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: team}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg2, namespace: team}\n");
    assert.match(await ok(["apply", "-f", file]), /configmap\/cfg created/);
    const w = kubectlBackground(c, ["-n", "team", "get", "deploy", "-w", "-o", "name"]);
    await w.waitFor((o) => o.includes("deployment.apps/web"));
    await ok(["-n", "team", "scale", "deploy", "web", "--replicas=5"]);
    await w.waitFor((o) => (o.match(/deployment.apps\/web/g) ?? []).length >= 2);
    await w.stop();
    assert.equal(await ok(["-n", "team", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"]), "5 2");
    const stale = JSON.parse(await ok(["-n", "team", "get", "cm", "cfg", "-o", "json"]));
    await ok(["-n", "team", "label", "cm", "cfg", "x=y"]);
    writeFileSync(join(c.dir, "stale.json"), JSON.stringify({ ...stale, data: { a: "stale" } }));
    const r = await c.kubectl(["replace", "-f", join(c.dir, "stale.json")]);
    assert.match(r.stderr, /the object has been modified/);
    await ok(["delete", "namespace", "team"]);
    assert.equal((await c.kubectl(["get", "ns", "team"])).code, 1);
    assert.equal(await c.server.store.count("/registry/apps/deployments/team/"), 0);
  });

  test("a node token kept in etcd authenticates, is limited to its node, and stops at delete", async () => {
    const cli = async (args: string[]) => {
      const r = await gantryCli(["server", "token", ...args, "--kubeconfig", c.server.kubeconfigPath]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const token = await cli(["create", "--node", "etcd-node"]);
    assert.equal(await c.server.store.count("/registry/core/secrets/kube-system/node-token-"), 1);
    const env = { KUBECONFIG: writeTokenKubeconfig(c, "etcd-node", token) };
    let r = await c.kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { env });
    assert.equal(r.stdout, "system:node:etcd-node", r.stderr);
    r = await c.kubectl(["create", "namespace", "nope"], { env });
    assert.match(r.stderr, /User "system:node:etcd-node" cannot create resource "namespaces"/);
    await cli(["delete", token.split(".")[0]!]);
    const until = Date.now() + 5000;
    do r = await c.kubectl(["get", "pods"], { env });
    while (r.code === 0 && Date.now() < until);
    assert.match(r.stderr, /Unauthorized/);
  });
});
