// The typed client against a real API server (SQLite store), through both transports:
// HTTPS with a bearer token and the server's CA, and in-process. Each verb, and each
// error keeps Kubernetes' reason (AlreadyExists and Conflict are both 409).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import { ensureCa } from "../../src/common/certificates.ts";
import { ApiStatusError, Client, HttpsTransport, isAlreadyExists, isConflict, isGone, isInvalid, isNotFound, type KubeObject, type ResourceRef, type WatchEvent } from "../../src/cluster/client/index.ts";

const CONFIGMAPS: ResourceRef = { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true };
const NAMESPACES: ResourceRef = { group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false };
const DEPLOYMENTS: ResourceRef = { group: "apps", version: "v1", resource: "deployments", kind: "Deployment", namespaced: true };

let dir: string;
let server: RunningApiServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-client-"));
  server = await startApiServer({ dataDir: dir, host: "127.0.0.1", port: 0, historyMs: 0, bookmarkIntervalMs: 50 });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const transports: [string, () => Client][] = [
  ["https", () => new Client(HttpsTransport.fromTarget({ server: server.url, token: server.adminToken, caCert: server.caCert }), { fieldManager: "client-test" })],
  ["in-process", () => new Client(server.inProcessTransport(), { fieldManager: "client-test" })],
];

for (const [name, make] of transports) {
  describe(`client over ${name}`, () => {
    const ns = `t-${name}`;
    let client: Client;
    before(async () => {
      client = make();
      await client.resource(NAMESPACES).create(undefined, { metadata: { name: ns } });
    });

    test("create, get, AlreadyExists, NotFound, and a stale update is a Conflict", async () => {
      const cms = client.resource(CONFIGMAPS);
      const cm = await cms.create(ns, { metadata: { name: "a", labels: { app: "x" } }, data: { k: "v" } });
      assert.match(cm.metadata.uid!, /^[0-9a-f-]{36}$/);
      assert.equal((await cms.get(ns, "a")).metadata.uid, cm.metadata.uid);
      const exists = await cms.create(ns, { metadata: { name: "a" } }).catch((e: unknown) => e);
      assert.ok(exists instanceof ApiStatusError);
      assert.equal(exists.reason, "AlreadyExists");
      assert.equal(exists.status, 409);
      assert.equal(exists.code, "ALREADY_EXISTS");
      assert.equal(exists.statusDetails?.name, "a");
      assert.ok(isAlreadyExists(exists) && !isConflict(exists));
      const updated = await cms.update({ ...cm, data: { k: "v2" } });
      const stale = await cms.update({ ...cm, data: { k: "v3" } }).catch((e: unknown) => e);
      assert.ok(isConflict(stale) && !isAlreadyExists(stale), String(stale));
      assert.equal((stale as ApiStatusError).code, "CONFLICT");
      assert.match((stale as Error).message, /the object has been modified/);
      assert.equal((await cms.get(ns, "a")).metadata.resourceVersion, updated.metadata.resourceVersion);
      const missing = await cms.get(ns, "nope").catch((e: unknown) => e);
      assert.ok(isNotFound(missing));
      assert.equal((missing as ApiStatusError).message, 'configmaps "nope" not found');
      const invalid = await cms.create(ns, { metadata: { name: "Bad_Name" } }).catch((e: unknown) => e);
      assert.ok(isInvalid(invalid), String(invalid));
      assert.ok((invalid as ApiStatusError).statusDetails?.causes?.length);
    });

    test("list with a label selector, a field selector, and limit/continue pages", async () => {
      const cms = client.resource(CONFIGMAPS);
      for (const n of ["p1", "p2", "p3"]) await cms.create(ns, { metadata: { name: n, labels: { page: "yes" } } });
      const selected = await cms.list(ns, { labelSelector: "page=yes" });
      assert.deepEqual(selected.items.map((i) => i.metadata.name), ["p1", "p2", "p3"]);
      assert.match(selected.metadata.resourceVersion!, /^\d+$/);
      const byName = await cms.list(ns, { fieldSelector: "metadata.name=p2" });
      assert.deepEqual(byName.items.map((i) => i.metadata.name), ["p2"]);
      const names: string[] = [];
      let cont: string | undefined;
      do {
        const page = await cms.list(ns, { labelSelector: "page=yes", limit: 1, continue: cont });
        names.push(...page.items.map((i) => i.metadata.name!));
        cont = page.metadata.continue;
      } while (cont);
      assert.deepEqual(names, ["p1", "p2", "p3"]);
    });

    test("patch: merge, strategic, JSON; updateStatus touches only status", async () => {
      const deps = client.resource(DEPLOYMENTS);
      const spec = { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x" }] } } };
      await deps.create(ns, { metadata: { name: "d" }, spec });
      await deps.patch(ns, "d", "merge", { metadata: { labels: { m: "1" } } });
      await deps.patch(ns, "d", "strategic", { spec: { template: { spec: { containers: [{ name: "c", image: "y" }] } } } });
      const patched = await deps.patch(ns, "d", "json", [{ op: "replace", path: "/spec/replicas", value: 2 }]);
      assert.equal(patched.metadata.labels?.m, "1");
      const s = patched.spec as { replicas: number; template: { spec: { containers: { image: string }[] } } };
      assert.equal(s.replicas, 2);
      assert.equal(s.template.spec.containers[0]!.image, "y");
      const withStatus = await deps.updateStatus({ ...patched, spec: { ...s, replicas: 9 }, status: { replicas: 2, observedGeneration: 3 } });
      assert.equal((withStatus.status as { replicas: number }).replicas, 2);
      assert.equal((withStatus.spec as { replicas: number }).replicas, 2, "spec is not written through status");
      const bad = await deps.patch(ns, "d", "json", [{ op: "replace", path: "/nope/x", value: 1 }]).catch((e: unknown) => e);
      assert.ok(bad instanceof ApiStatusError && bad.status >= 400 && bad.status < 500, String(bad));
    });

    test("delete: a uid precondition that does not match is a Conflict; Orphan leaves a finalizer to the collector", async () => {
      const cms = client.resource(CONFIGMAPS);
      // Our own finalizer holds it, whatever a garbage collector does with "orphan".
      const cm = await cms.create(ns, { metadata: { name: "del", finalizers: ["example.com/hold"] } });
      const pre = await cms.delete(ns, "del", { preconditions: { uid: "not-the-uid" } }).catch((e: unknown) => e);
      assert.ok(isConflict(pre));
      assert.match((pre as Error).message, /Precondition failed: UID in precondition/);
      const held = (await cms.delete(ns, "del", { propagationPolicy: "Orphan", preconditions: { uid: cm.metadata.uid } })) as KubeObject;
      assert.ok(held.metadata.deletionTimestamp);
      assert.deepEqual(held.metadata.finalizers, ["example.com/hold", "orphan"]);
      await cms.patch(ns, "del", "merge", { metadata: { finalizers: null } });
      assert.ok(isNotFound(await cms.get(ns, "del").catch((e: unknown) => e)));
    });

    test("watch from a resourceVersion: events in order, bookmarks; from a compacted one: Gone", async () => {
      const cms = client.resource(CONFIGMAPS);
      const start = await cms.create(ns, { metadata: { name: "w0" } });
      const events: WatchEvent[] = [];
      let ended: Error | undefined | null = null;
      const watch = await cms.watch(ns, { resourceVersion: start.metadata.resourceVersion, allowWatchBookmarks: true }, (e) => events.push(e), (err) => (ended = err));
      await cms.create(ns, { metadata: { name: "w1" } });
      await cms.patch(ns, "w1", "merge", { data: { a: "b" } });
      await cms.delete(ns, "w1");
      const until = Date.now() + 10_000;
      while ((events.filter((e) => e.type !== "BOOKMARK").length < 3 || !events.some((e) => e.type === "BOOKMARK")) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(events.filter((e) => e.type !== "BOOKMARK").map((e) => `${e.type} ${e.object.metadata.name}`), ["ADDED w1", "MODIFIED w1", "DELETED w1"]);
      assert.ok(events.some((e) => e.type === "BOOKMARK" && /^\d+$/.test(e.object.metadata.resourceVersion!)));
      watch.stop();
      assert.equal(ended, undefined, "a stopped watch ends without an error");

      await server.store.compact(await server.store.currentRevision());
      const gone = await new Promise<Error | undefined>((resolve) => {
        cms.watch(ns, { resourceVersion: start.metadata.resourceVersion }, () => {}, resolve).catch(resolve);
      });
      assert.ok(isGone(gone), String(gone));
      assert.equal((gone as ApiStatusError).code, "GONE");
    });

    test("a subresource POST reaches the server's routing; discovery lists resources without subresources", async () => {
      const unknown = await client.resource(CONFIGMAPS).createSubresource(ns, "p1", "nosuch", {}).catch((e: unknown) => e);
      assert.ok(isNotFound(unknown), String(unknown));
      const found = await client.discover();
      const pods = found.find((r) => r.resource === "pods");
      assert.deepEqual(pods && { group: pods.group, kind: pods.kind, namespaced: pods.namespaced }, { group: "", kind: "Pod", namespaced: true });
      assert.ok(found.some((r) => r.group === "apps" && r.resource === "deployments" && r.verbs.includes("watch")));
      assert.ok(!found.some((r) => r.resource.includes("/")));
    });
  });
}

test("the HTTPS transport names the server it cannot reach; a wrong token is Unauthorized", async () => {
  const unreachable = new Client(HttpsTransport.fromTarget({ server: "https://127.0.0.1:1", caCert: server.caCert }));
  await assert.rejects(unreachable.resource(NAMESPACES).list(undefined), (e: Error & { code?: string }) => e.code === "UNAVAILABLE" && /127\.0\.0\.1:1/.test(e.message));
  const wrong = new Client(HttpsTransport.fromTarget({ server: server.url, caCert: server.caCert, token: "wrong" }));
  const err = await wrong.resource(NAMESPACES).list(undefined).catch((e: unknown) => e);
  assert.ok(err instanceof ApiStatusError && err.reason === "Unauthorized" && err.status === 401, String(err));
});

test("the HTTPS transport trusts only the CA it was given, on every connection it opens", async () => {
  // A watch holds its connection, so the list after it needs a second one: both verify against the one CA.
  const client = new Client(HttpsTransport.fromTarget({ server: server.url, token: server.adminToken, caCert: server.caCert }));
  const events: WatchEvent[] = [];
  const watch = await client.resource(CONFIGMAPS).watch("default", {}, (e) => events.push(e), () => {});
  await client.resource(CONFIGMAPS).create("default", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ca-check" }, data: { a: "1" } });
  for (let i = 0; i < 100 && !events.some((e) => e.object.metadata.name === "ca-check"); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(events.some((e) => e.type === "ADDED" && e.object.metadata.name === "ca-check"), JSON.stringify(events));
  watch.stop();
  await client.resource(CONFIGMAPS).delete("default", "ca-check");
  ensureCa(join(dir, "other-ca"), "another CA");
  const other = new Client(HttpsTransport.fromTarget({ server: server.url, token: server.adminToken, caCert: readFileSync(join(dir, "other-ca", "ca.crt"), "utf8") }));
  const err = await other.resource(NAMESPACES).list(undefined).catch((e: unknown) => e as Error & { code?: string; cause?: { code?: string } });
  assert.ok(err instanceof Error && err.cause?.code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE", String(err));
});

test("a kubeconfig: its current context's server, a CA file relative to it, and the user's token reach the server; a bad one is refused by name", async () => {
  const cfgDir = join(dir, "kube");
  mkdirSync(join(cfgDir, "tls"), { recursive: true });
  writeFileSync(join(cfgDir, "tls", "ca.crt"), server.caCert);
  const kubeconfig = (current: string) =>
    [
      "apiVersion: v1",
      "kind: Config",
      `current-context: ${current}`,
      "clusters:",
      "- name: other",
      "  cluster: { server: 'https://127.0.0.1:1' }",
      "- name: here",
      `  cluster: { server: '${server.url}', certificate-authority: tls/ca.crt }`,
      "contexts:",
      "- name: far",
      "  context: { cluster: other, user: admin }",
      "- name: near",
      "  context: { cluster: here, user: admin }",
      "users:",
      "- name: admin",
      `  user: { token: '${server.adminToken}' }`,
    ].join("\n");
  writeFileSync(join(cfgDir, "config"), kubeconfig("near"));
  const client = Client.fromKubeconfig(join(cfgDir, "config"));
  assert.equal(client.server, server.url);
  const names = (await client.resource(NAMESPACES).list(undefined)).items.map((n) => n.metadata.name);
  assert.ok(names.includes("default"), names.join(","));
  // Sequential requests go over one kept-alive connection (@kubernetes/client-node, which
  // applies the kubeconfig's credentials, would hand each request a new agent of its own):
  // counted by a TCP relay in front of the server.
  let connections = 0;
  const sockets: Socket[] = [];
  const relay = createNetServer((inbound) => {
    connections++;
    const outbound = connect(server.port, "127.0.0.1");
    sockets.push(inbound, outbound);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  try {
    writeFileSync(join(cfgDir, "relayed"), kubeconfig("near").replace(server.url, `https://127.0.0.1:${(relay.address() as AddressInfo).port}`));
    const relayed = Client.fromKubeconfig(join(cfgDir, "relayed"));
    for (let i = 0; i < 5; i++) assert.equal((await relayed.resource(NAMESPACES).get(undefined, "default")).metadata.name, "default");
    assert.equal(connections, 1, `${connections} connections for 5 sequential requests`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => relay.close(resolve));
  }
  writeFileSync(join(cfgDir, "none"), kubeconfig("missing"));
  assert.throws(() => Client.fromKubeconfig(join(cfgDir, "none")), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT" && /names no current cluster/.test(e.message));
  writeFileSync(join(cfgDir, "broken"), "clusters: [\n");
  assert.throws(() => Client.fromKubeconfig(join(cfgDir, "broken")), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT" && /cannot read kubeconfig .*broken/.test(e.message));
  assert.throws(() => Client.fromKubeconfig(join(cfgDir, "absent")), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT" && /cannot read kubeconfig .*absent/.test(e.message));
});
