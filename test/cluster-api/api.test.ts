// The API server over raw HTTPS: authentication, bad input (right Status, nothing stored),
// pagination, watch semantics (resourceVersion, bookmarks, 410 Gone) and discovery.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { startTestCluster, type TestCluster } from "./_server.ts";

describe("API server over HTTPS", () => {
  let c: TestCluster;
  const cm = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { k: "v" }, ...extra });
  const post = (path: string, body: string | Buffer, type = "application/json") => c.raw("POST", path, { body, headers: { "Content-Type": type } });
  const status = (r: { body: string }) => JSON.parse(r.body) as { kind: string; code: number; reason: string; message: string; details?: { causes?: { field: string }[] } };
  const stored = async (prefix: string) => c.server.store.count(prefix);

  // Objects the controllers make in every namespace (ServiceAccount default, ConfigMap kube-root-ca.crt).
  const PER_NAMESPACE = new Set<string | undefined>(["default", "kube-root-ca.crt"]);
  const ours = <T extends { metadata: { name?: string } }>(items: T[]) => items.filter((o) => !PER_NAMESPACE.has(o.metadata.name));

  before(async () => {
    c = await startTestCluster({ bookmarkIntervalMs: 300 });
    // The controllers' first objects are made before tests count what is stored.
    const namespaces = ["default", "kube-system", "kube-public", "kube-node-lease"];
    for (const ns of namespaces) {
      for (let tries = 0; (await stored(`/registry/core/configmaps/${ns}/kube-root-ca.crt`)) === 0 || (await stored(`/registry/core/serviceaccounts/${ns}/default`)) === 0; tries++) {
        if (tries > 200) throw new Error(`the controllers made no kube-root-ca.crt or default ServiceAccount in ${ns}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  after(async () => {
    await c?.stop();
  });

  test("anonymous and wrong tokens get 401 Status; /version is public", async () => {
    for (const token of [null, "wrong"]) {
      const r = await c.raw("GET", "/api/v1/namespaces", { token });
      assert.equal(r.status, 401);
      assert.equal(status(r).reason, "Unauthorized");
    }
    const w = await c.raw("POST", "/api/v1/namespaces/default/configmaps", { token: "wrong", body: cm("sneaky"), headers: { "Content-Type": "application/json" } });
    assert.equal(w.status, 401);
    assert.equal(await stored("/registry/core/configmaps/default/sneaky"), 0);
    const v = await c.raw("GET", "/version", { token: null });
    assert.equal(v.status, 200);
    assert.equal(JSON.parse(v.body).minor, "32");
  });

  test("malformed JSON and YAML are 400 and store nothing", async () => {
    const before = await stored("/registry/");
    let r = await post("/api/v1/namespaces/default/configmaps", '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"');
    assert.equal(r.status, 400);
    assert.equal(status(r).kind, "Status");
    r = await post("/api/v1/namespaces/default/configmaps", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y\n  : :", "application/yaml");
    assert.equal(r.status, 400);
    r = await post("/api/v1/namespaces/default/configmaps", "[1,2]");
    assert.equal(r.status, 400);
    r = await post("/api/v1/namespaces/default/configmaps", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fromyaml}\n", "application/yaml");
    assert.equal(r.status, 201);
    r = await post("/api/v1/namespaces/default/configmaps", cm("ct"), "text/plain");
    assert.equal(r.status, 415);
    assert.equal(await stored("/registry/"), before + 1);
  });

  test("fieldValidation: duplicate and unknown fields are refused (Strict), reported (Warn) or dropped (Ignore)", async () => {
    const body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"},"extra":true}';
    let r = await post("/api/v1/namespaces/default/configmaps?fieldValidation=Strict", body);
    assert.equal(r.status, 400);
    assert.equal(status(r).message, 'strict decoding error: duplicate field "data.a", unknown field "extra"');
    assert.equal(await stored("/registry/core/configmaps/default/dup"), 0);
    r = await post("/api/v1/namespaces/default/configmaps?fieldValidation=Warn", body);
    assert.equal(r.status, 201);
    assert.equal(r.headers.warning, '299 - "duplicate field \\"data.a\\"", 299 - "unknown field \\"extra\\""');
    const obj = JSON.parse(r.body);
    assert.deepEqual(obj.data, { a: "2" });
    assert.equal(obj.extra, undefined);
    r = await post("/api/v1/namespaces/default/configmaps?fieldValidation=Ignore", body.replace('"dup"', '"dup2"'));
    assert.equal(r.status, 201);
    assert.equal(r.headers.warning, undefined);
    r = await post("/api/v1/namespaces/default/configmaps?fieldValidation=Sometimes", body.replace('"dup"', '"dup3"'));
    assert.equal(r.status, 400);
  });

  test("escaped slashes cannot address other keys", async () => {
    const r = await c.raw("GET", "/api/v1/namespaces/default%2Fx/configmaps");
    assert.equal(r.status, 404);
  });

  test("unknown kinds and resources", async () => {
    let r = await post("/api/v1/namespaces/default/configmaps", JSON.stringify({ apiVersion: "v1", kind: "Widget", metadata: { name: "w" } }));
    assert.equal(r.status, 400);
    assert.match(status(r).message, /Widget/);
    r = await post("/api/v1/namespaces/default/widgets", cm("w"));
    assert.equal(r.status, 404);
    assert.equal(status(r).message, "the server could not find the requested resource");
    r = await c.raw("GET", "/apis/example.com/v1/widgets");
    assert.equal(r.status, 404);
    assert.equal(await stored("/registry/core/configmaps/default/w"), 0);
  });

  test("invalid names and specs are 422 with field paths", async () => {
    let r = await post("/api/v1/namespaces/default/configmaps", cm("Bad_Name"));
    assert.equal(r.status, 422);
    assert.equal(status(r).reason, "Invalid");
    assert.match(status(r).message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value/);
    r = await post("/apis/apps/v1/namespaces/default/deployments", JSON.stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "c" } }, spec: { containers: [{ name: "c" }] } } } }));
    assert.equal(r.status, 422);
    const fields = status(r).details!.causes!.map((x) => x.field);
    assert.ok(fields.includes("spec.template.metadata.labels"), fields.join());
    assert.ok(fields.includes("spec.template.spec.containers[0].image"), fields.join());
    r = await post("/api/v1/namespaces/nonexistent/configmaps", cm("orphan"));
    assert.equal(r.status, 404);
    assert.match(status(r).message, /namespaces "nonexistent" not found/);
    assert.equal(await stored("/registry/apps/deployments/default/d"), 0);
  });

  test("oversize bodies are 413 and store nothing", async () => {
    const big = cm("big", { data: { k: "x".repeat(4 * 1024 * 1024) } });
    const r = await post("/api/v1/namespaces/default/configmaps", big);
    assert.equal(r.status, 413);
    assert.equal(status(r).reason, "RequestEntityTooLarge");
    assert.equal(await stored("/registry/core/configmaps/default/big"), 0);
  });

  test("optimistic concurrency: a stale resourceVersion is 409 Conflict", async () => {
    const created = JSON.parse((await post("/api/v1/namespaces/default/configmaps", cm("occ"))).body);
    const first = await c.raw("PUT", "/api/v1/namespaces/default/configmaps/occ", { body: JSON.stringify({ ...created, data: { k: "1" } }), headers: { "Content-Type": "application/json" } });
    assert.equal(first.status, 200);
    const stale = await c.raw("PUT", "/api/v1/namespaces/default/configmaps/occ", { body: JSON.stringify({ ...created, data: { k: "2" } }), headers: { "Content-Type": "application/json" } });
    assert.equal(stale.status, 409);
    assert.match(status(stale).message, /Operation cannot be fulfilled on configmaps "occ": the object has been modified/);
    const now = JSON.parse((await c.raw("GET", "/api/v1/namespaces/default/configmaps/occ")).body);
    assert.deepEqual(now.data, { k: "1" });
    assert.equal(now.metadata.uid, created.metadata.uid);
  });

  test("generation moves with spec changes only; status and scale subresources", async () => {
    const dep = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "gen" }, spec: { replicas: 1, selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x" }] } } } };
    const created = JSON.parse((await post("/apis/apps/v1/namespaces/default/deployments", JSON.stringify(dep))).body);
    assert.equal(created.metadata.generation, 1);
    const base = "/apis/apps/v1/namespaces/default/deployments/gen";
    const merge = { "Content-Type": "application/merge-patch+json" };
    let r = await c.raw("PATCH", base, { body: '{"metadata":{"labels":{"x":"y"}}}', headers: merge });
    assert.equal(JSON.parse(r.body).metadata.generation, 1);
    r = await c.raw("PATCH", `${base}/status`, { body: '{"status":{"observedGeneration":1,"replicas":1}}', headers: merge });
    assert.equal(JSON.parse(r.body).status.replicas, 1);
    r = await c.raw("PATCH", base, { body: '{"status":{"replicas":9}}', headers: merge });
    // The deployment controller may have written its own status meanwhile: only 9 is wrong.
    assert.notEqual(JSON.parse(r.body).status?.replicas, 9, "status is ignored on the main resource");
    r = await c.raw("PATCH", `${base}/scale`, { body: '{"spec":{"replicas":4}}', headers: merge });
    assert.equal(JSON.parse(r.body).kind, "Scale");
    const after = JSON.parse((await c.raw("GET", base)).body);
    assert.equal(after.spec.replicas, 4);
    assert.equal(after.metadata.generation, 2);
    r = await c.raw("GET", `${base}/scale`);
    assert.equal(JSON.parse(r.body).status.selector, "a=b");
  });

  test("list pagination with limit and continue", async () => {
    await post("/api/v1/namespaces", JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "paged" } }));
    for (let i = 0; i < 7; i++) await post("/api/v1/namespaces/paged/configmaps", cm(`p${i}`));
    const names: string[] = [];
    let cont = "";
    let pages = 0;
    do {
      const r = JSON.parse((await c.raw("GET", `/api/v1/namespaces/paged/configmaps?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`)).body);
      names.push(...ours(r.items as { metadata: { name: string } }[]).map((x) => x.metadata.name!));
      cont = r.metadata.continue ?? "";
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    const sel = JSON.parse((await c.raw("GET", "/api/v1/namespaces/paged/configmaps?fieldSelector=metadata.name%3Dp3")).body);
    assert.deepEqual(sel.items.map((x: { metadata: { name: string } }) => x.metadata.name), ["p3"]);
  });

  /** Opens a watch and collects its events. */
  function watch(path: string) {
    const events: { type: string; object: { metadata: { name?: string; resourceVersion: string; annotations?: Record<string, string> }; code?: number } }[] = [];
    let buf = "";
    let closed = false;
    const req = request(`${c.server.url}${path}`, { headers: { Authorization: `Bearer ${c.server.adminToken}` }, ca: c.server.caCert }, (res) => {
      res.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      });
      res.on("end", () => (closed = true));
    });
    req.on("error", () => (closed = true));
    req.end();
    return {
      events,
      get closed() {
        return closed;
      },
      async until(pred: () => boolean, ms = 5000) {
        const end = Date.now() + ms;
        while (!pred()) {
          if (Date.now() > end) throw new Error(`timed out; events: ${JSON.stringify(events.map((e) => `${e.type}:${e.object.metadata?.name}`))}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      stop: () => req.destroy(),
    };
  }

  test("watch from a resourceVersion delivers every later event, with bookmarks", async () => {
    await post("/api/v1/namespaces", JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "watched" } }));
    const list = JSON.parse((await c.raw("GET", "/api/v1/namespaces/watched/configmaps")).body);
    await post("/api/v1/namespaces/watched/configmaps", cm("w1"));
    await c.raw("PATCH", "/api/v1/namespaces/watched/configmaps/w1", { body: '{"data":{"k":"2"}}', headers: { "Content-Type": "application/merge-patch+json" } });
    const w = watch(`/api/v1/namespaces/watched/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`);
    await c.raw("DELETE", "/api/v1/namespaces/watched/configmaps/w1");
    await w.until(() => w.events.some((e) => e.type === "DELETED") && w.events.some((e) => e.type === "BOOKMARK"));
    const seen = w.events.filter((e) => e.type !== "BOOKMARK" && !PER_NAMESPACE.has(e.object.metadata.name));
    assert.deepEqual(seen.map((e) => `${e.type}:${e.object.metadata.name}`), ["ADDED:w1", "MODIFIED:w1", "DELETED:w1"]);
    const rvs = seen.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual([...rvs].sort((a, b) => a - b), rvs);
    w.stop();
    // resourceVersion=0 starts with the current state as ADDED.
    await post("/api/v1/namespaces/watched/configmaps", cm("w2"));
    const w0 = watch("/api/v1/namespaces/watched/configmaps?watch=1&resourceVersion=0&labelSelector=");
    await w0.until(() => ours(w0.events.map((e) => e.object)).length >= 1);
    const first = w0.events.find((e) => !PER_NAMESPACE.has(e.object.metadata.name))!;
    assert.equal(first.type, "ADDED");
    assert.equal(first.object.metadata.name, "w2");
    w0.stop();
    // timeoutSeconds ends the stream.
    const wt = watch("/api/v1/namespaces/watched/configmaps?watch=true&timeoutSeconds=1&resourceVersion=0");
    await wt.until(() => wt.closed, 4000);
  });

  test("a watch from a compacted resourceVersion gets 410 Expired", async () => {
    const oldRv = (await c.server.store.currentRevision()) - 1;
    await post("/api/v1/namespaces/default/configmaps", cm("after-compact"));
    await c.server.store.compact(await c.server.store.currentRevision());
    const w = watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${oldRv}`);
    await w.until(() => w.events.length > 0 && w.closed);
    assert.equal(w.events[0]!.type, "ERROR");
    assert.equal(w.events[0]!.object.code, 410);
  });

  test("discovery: aggregated v2, legacy lists, OpenAPI v3 with fieldValidation", async () => {
    const agg = await c.raw("GET", "/apis", { headers: { Accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json" } });
    assert.equal(agg.headers["content-type"], "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    const apps = JSON.parse(agg.body).items.find((g: { metadata: { name: string } }) => g.metadata.name === "apps");
    const dep = apps.versions[0].resources.find((r: { resource: string }) => r.resource === "deployments");
    assert.deepEqual(dep.categories, ["all"]);
    assert.equal(dep.subresources.find((s: { subresource: string }) => s.subresource === "scale").responseKind.kind, "Scale");
    const legacy = JSON.parse((await c.raw("GET", "/apis")).body);
    assert.equal(legacy.kind, "APIGroupList");
    const idx = JSON.parse((await c.raw("GET", "/openapi/v3")).body);
    const url = idx.paths["apis/apps/v1"].serverRelativeURL as string;
    const doc = JSON.parse((await c.raw("GET", url)).body);
    const patch = doc.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch;
    assert.ok(patch.parameters.some((p: { name: string }) => p.name === "fieldValidation"));
    assert.ok(doc.components.schemas.V1DeploymentSpec.properties.replicas);
  });

  test("log, exec and port-forward of a pod that cannot be reached answer with kube-apiserver's Status", async () => {
    await post("/api/v1/namespaces/default/pods", JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "busybox" }, { name: "d", image: "busybox" }] } }));
    const unbound = await c.raw("GET", "/api/v1/namespaces/default/pods/p/log?container=c");
    assert.equal(unbound.status, 400);
    assert.equal(status(unbound).message, "pod p does not have a host assigned");
    const which = await c.raw("GET", "/api/v1/namespaces/default/pods/p/log");
    assert.equal(which.status, 400);
    assert.equal(status(which).message, "a container name must be specified for pod p, choose one of: [c d]");
    const wrong = await c.raw("GET", "/api/v1/namespaces/default/pods/p/log?container=x");
    assert.equal(status(wrong).message, "container x is not valid for pod p");
    const plain = await c.raw("POST", "/api/v1/namespaces/default/pods/p/exec?container=c&command=true&stdout=true");
    assert.equal(plain.status, 400);
    assert.equal(status(plain).message, "Upgrade request required");
    const missing = await c.raw("GET", "/api/v1/namespaces/default/pods/nope/log");
    assert.equal(missing.status, 404);
    const anonymous = await c.raw("GET", "/api/v1/namespaces/default/pods/p/log?container=c", { token: null });
    assert.equal(anonymous.status, 401);
  });
});
