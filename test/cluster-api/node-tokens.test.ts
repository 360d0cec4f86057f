// Node join tokens end to end: `gantry server token create|list|delete` against a running
// server, and the real kubectl with a node's kubeconfig showing what the node authorizer
// lets it do (its own Node, pods bound to it) and refuses (others' objects, Deployments,
// token Secrets), then 401 once the token is revoked or expired, or when it is malformed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gantryCli, kubectlBackground, kubectlMissing, startTestCluster, writeTokenKubeconfig, type TestCluster } from "./_server.ts";

const UNAUTHORIZED = /You must be logged in to the server \(Unauthorized\)|Unauthorized/;

describe("node join tokens", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  let dataDir: string;
  let token: string;
  let nodeKubeconfig: string;

  const admin = async (args: string[], input?: string) => {
    const r = await c.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const asNode = (args: string[], opts: { input?: string; kubeconfig?: string } = {}) => c.kubectl(args, { input: opts.input, env: { KUBECONFIG: opts.kubeconfig ?? nodeKubeconfig } });
  const nodeOk = async (args: string[], input?: string) => {
    const r = await asNode(args, { input });
    assert.equal(r.code, 0, `kubectl (as node-a) ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const nodeRefused = async (args: string[], message: RegExp, input?: string) => {
    const r = await asNode(args, { input });
    assert.notEqual(r.code, 0, `kubectl (as node-a) ${args.join(" ")} should have been refused:\n${r.stdout}`);
    assert.match(r.stderr, message);
  };
  const tokenCli = async (args: string[]) => {
    const r = await gantryCli(["server", "--data-dir", dataDir, "token", ...args]);
    assert.equal(r.code, 0, `gantry server token ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  before(async () => {
    c = await startTestCluster();
    dataDir = join(c.dir, "server");
    nodeKubeconfig = join(c.dir, "node-a.kubeconfig");
    token = (await tokenCli(["create", "--node", "node-a", "--write-kubeconfig", nodeKubeconfig])).trim();
  });
  after(async () => {
    await c?.stop();
  });

  test("token create prints <id>.<secret> once; list and the stored Secret hold no secret", async () => {
    assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{32}$/);
    assert.equal(statSync(nodeKubeconfig).mode & 0o777, 0o600);
    assert.match(readFileSync(nodeKubeconfig, "utf8"), new RegExp(`server: ${c.server.url}\n[^]*token: "${token}"`));
    const [id, secretPart] = token.split(".") as [string, string];
    const list = await tokenCli(["list"]);
    assert.match(list, /^ID\s+NODE\s+EXPIRES\s+CREATED$/m);
    assert.match(list, new RegExp(`^${id}\\s+node-a\\s+<never>\\s+\\d{4}-`, "m"));
    assert.ok(!list.includes(secretPart), "token list shows no secret");

    const secret = JSON.parse(await admin(["-n", "kube-system", "get", "secret", `node-token-${id}`, "-o", "json"]));
    assert.equal(secret.type, "gantry.io/node-token");
    const data = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    assert.deepEqual(Object.keys(data).sort(), ["node-name", "token-id", "token-secret-sha256"]);
    assert.equal(data["node-name"], "node-a");
    assert.equal(data["token-secret-sha256"], createHash("sha256").update(secretPart).digest("hex"));
    assert.ok(!JSON.stringify(secret).includes(secretPart), "the Secret holds no plaintext");
    assert.ok(!JSON.stringify(await c.server.store.list("/registry/")).includes(secretPart), "nor does anything else in the store");
  });

  test("kubectl auth whoami and can-i answer for the node and the admin", async () => {
    assert.match(await nodeOk(["auth", "whoami"]), /Username\s+system:node:node-a\n\s*Groups\s+\[system:nodes system:authenticated\]/);
    assert.match(await admin(["auth", "whoami"]), /Username\s+system:admin/);
    assert.equal((await nodeOk(["auth", "can-i", "update", "nodes/node-a"])).trim(), "yes");
    assert.match((await asNode(["auth", "can-i", "update", "nodes/node-b"])).stdout, /^no/);
    assert.match((await asNode(["auth", "can-i", "create", "deployments"])).stdout, /^no/);
    assert.equal((await admin(["auth", "can-i", "create", "deployments"])).trim(), "yes");
  });

  test("a node creates and updates its own Node, and may not create or delete another", async () => {
    await nodeOk(["create", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n");
    await nodeOk(["label", "node", "node-a", "gantry.io/ready=yes"]);
    await nodeOk(["patch", "node", "node-a", "--subresource=status", "--type=merge", "-p", '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"ok"}]}}']);
    assert.equal(await admin(["get", "node", "node-a", "-o", "jsonpath={.metadata.labels.gantry\\.io/ready} {.status.conditions[0].status}"]), "yes True");

    await nodeRefused(["create", "-f", "-"], /nodes "node-b" is forbidden: node "node-a" may only create its own Node object/, "apiVersion: v1\nkind: Node\nmetadata: {name: node-b}\n");
    await admin(["create", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: {name: node-b}\n");
    await nodeRefused(["delete", "node", "node-b"], /Error from server \(Forbidden\): nodes "node-b" is forbidden: User "system:node:node-a" cannot delete resource "nodes" in API group "" at the cluster scope/);
    await nodeRefused(["label", "node", "node-b", "x=y"], /nodes "node-b" is forbidden: User "system:node:node-a" cannot patch resource "nodes" in API group "" at the cluster scope: node "node-a" is not allowed to modify node "node-b"/);
    assert.match(await nodeOk(["get", "nodes", "-o", "name"]), /node\/node-a\nnode\/node-b/);
  });

  test("a node reads pods, updates the status of pods bound to it only, and keeps its Lease", async () => {
    const pod = (name: string, node: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  nodeName: ${node}\n  containers: [{name: c, image: busybox}]\n`;
    await admin(["create", "-f", "-"], `${pod("here", "node-a")}---\n${pod("there", "node-b")}`);
    assert.match(await nodeOk(["get", "pods", "-A", "-o", "name"]), /pod\/here\npod\/there/);
    await nodeOk(["patch", "pod", "here", "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Running"}}']);
    assert.equal(await admin(["get", "pod", "here", "-o", "jsonpath={.status.phase}"]), "Running");
    await nodeRefused(["patch", "pod", "there", "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Running"}}'], /pods "there" is forbidden: node "node-a" can only update pod status for pods with spec.nodeName set to itself/);
    await nodeRefused(["label", "pod", "here", "x=y"], /User "system:node:node-a" cannot patch resource "pods" in API group "" in the namespace "default"/);
    await nodeRefused(["delete", "pod", "there"], /can only delete pods with spec.nodeName set to itself/);
    await nodeOk(["delete", "pod", "here", "--grace-period=0", "--force"]);

    const lease = (name: string) => `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: ${name}, namespace: kube-node-lease}\nspec: {holderIdentity: ${name}, leaseDurationSeconds: 40}\n`;
    await nodeOk(["create", "-f", "-"], lease("node-a"));
    await nodeOk(["-n", "kube-node-lease", "get", "lease", "node-a"]);
    await nodeRefused(["create", "-f", "-"], /leases.coordination.k8s.io "node-b" is forbidden/, lease("node-b"));
    await nodeOk(["create", "-f", "-"], "apiVersion: v1\nkind: Event\nmetadata: {name: e1}\ninvolvedObject: {kind: Node, name: node-a}\nreason: Starting\nmessage: agent started\n");
  });

  test("a node may not create workloads or read token Secrets", async () => {
    await nodeRefused(["create", "deployment", "web", "--image=nginx:1.27"], /deployments.apps is forbidden: User "system:node:node-a" cannot create resource "deployments" in API group "apps" in the namespace "default"/);
    await nodeRefused(["create", "configmap", "x"], /cannot create resource "configmaps"/);
    await admin(["-n", "kube-system", "create", "secret", "generic", "plain", "--from-literal=a=b"]);
    const secrets = await nodeOk(["-n", "kube-system", "get", "secrets", "-o", "name"]);
    assert.match(secrets, /secret\/plain/);
    assert.doesNotMatch(secrets, /node-token/);
    assert.doesNotMatch(await nodeOk(["get", "secrets", "-A", "-o", "name"]), /node-token/);
    const id = token.split(".")[0]!;
    await nodeRefused(["-n", "kube-system", "get", "secret", `node-token-${id}`], /may not read node token secrets/);
  });

  test("malformed, unknown, expired and deleted tokens get 401", async () => {
    const [id, secretPart] = token.split(".") as [string, string];
    for (const [name, bad] of [
      ["malformed", "not-a-token"],
      ["unknown", `zzzzzz.${secretPart}`],
      ["wrong-secret", `${id}.${"0".repeat(32)}`],
    ] as const) {
      const r = await asNode(["get", "pods"], { kubeconfig: writeTokenKubeconfig(c, name, bad) });
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, UNAUTHORIZED, name);
    }

    const short = (await tokenCli(["create", "--node", "node-c", "--ttl", "1s"])).trim();
    assert.match(await tokenCli(["list"]), /node-c\s+\d{4}-\d\d-\d\dT/);
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await asNode(["get", "pods"], { kubeconfig: writeTokenKubeconfig(c, "node-c", short) });
    assert.match(expired.stderr, UNAUTHORIZED);
    assert.match(await tokenCli(["list"]), /node-c\s+\S+ \(expired\)/);

    // A watch open before the delete is ended too, not only new requests refused.
    await admin(["create", "configmap", "watched"]);
    const watch = kubectlBackground(c, ["get", "configmaps", "-w", "-o", "name"], { KUBECONFIG: nodeKubeconfig });
    try {
      await watch.waitFor((o) => o.includes("configmap/watched"));
      assert.match(await tokenCli(["delete", id]), new RegExp(`node token ${id} deleted`));
      const ended = await Promise.race([watch.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
      assert.ok(ended, `the node's watch outlived its token:\n${watch.stderr}`);
    } finally {
      await watch.stop();
    }
    assert.doesNotMatch(await tokenCli(["list"]), new RegExp(id));
    // Revocation takes effect within the server's one-second token cache.
    const until = Date.now() + 5000;
    let r = await asNode(["get", "pods"]);
    while (r.code === 0 && Date.now() < until) r = await asNode(["get", "pods"]);
    assert.match(r.stderr, UNAUTHORIZED);
    const again = await gantryCli(["server", "--data-dir", dataDir, "token", "delete", id]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no node token with id/);
  });
});
