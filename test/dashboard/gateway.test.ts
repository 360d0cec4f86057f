// The dashboard's server without a browser, in front of a real API server: what it passes on
// and what it refuses — non-API paths, other methods on the app's files, a stream socket
// opened from another site, streams before login, an engine token that is not the daemon's,
// an app that is not built.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { startDashboard, type Dashboard } from "../../src/dashboard/index.ts";
import { startTestCluster, type TestCluster } from "../cluster-api/_server.ts";
import { appSkipReason, requestVerified } from "./_browser.ts";
import { ensureCa, ensureServingCertificate } from "../../src/common/certificates.ts";

/** The messages a stream socket receives until it closes (text frames parsed, binary as text after the 4-byte id). */
function converse(
  url: string,
  send: object[],
  headers: Record<string, string> = {},
): Promise<{ messages: unknown[]; code: number; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, undefined, { headers });
    const messages: unknown[] = [];
    ws.on("unexpected-response", (_req: unknown, res: unknown) =>
      resolve({ messages, code: -1, status: (res as { statusCode: number }).statusCode }),
    );
    ws.on("open", () => send.forEach((m) => ws.send(JSON.stringify(m))));
    ws.on("message", (data: Buffer, binary: boolean) => {
      messages.push(
        binary
          ? { id: data.readUInt32BE(0), text: data.subarray(4).toString() }
          : JSON.parse(data.toString()),
      );
      if (messages.length >= 3) ws.close();
    });
    ws.on("close", (code: number) => resolve({ messages, code }));
    ws.on("error", () => {});
  });
}

describe("the dashboard's server", { skip: appSkipReason() }, () => {
  let cluster: TestCluster;
  let dashboard: Dashboard;
  let engine: Dashboard;

  before(async () => {
    cluster = await startTestCluster();
    dashboard = await startDashboard({
      host: "127.0.0.1",
      port: 0,
      upstream: { kind: "cluster", url: cluster.server.url, caCert: cluster.server.caCert },
    });
    // an engine whose socket is not there: a refusal happens before any connection
    engine = await startDashboard({
      host: "127.0.0.1",
      port: 0,
      upstream: {
        kind: "engine",
        socketPath: join(cluster.dir, "no-engine.sock"),
        token: "the-daemons-token",
      },
    });
  });
  after(async () => {
    await dashboard?.close();
    await engine?.close();
    await cluster?.stop();
  });

  test("serves the app with its security headers; other methods and missing files are refused", async () => {
    const page = await fetch(dashboard.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app">/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.equal((await fetch(new URL("/missing.js", dashboard.url))).status, 404);
    assert.equal((await fetch(dashboard.url, { method: "POST" })).status, 405);
  });

  test("passes API requests on with the caller's token only: the API answers", async () => {
    const bare = await fetch(new URL("/api/v1/namespaces", dashboard.url));
    assert.equal(bare.status, 401, "no credentials of its own");
    const admin = await fetch(new URL("/api/v1/namespaces", dashboard.url), {
      headers: { authorization: `Bearer ${cluster.server.adminToken}` },
    });
    assert.equal(admin.status, 200);
    assert.equal(((await admin.json()) as { kind: string }).kind, "NamespaceList");
  });

  test("streams: refused from another site, closed before login, and a watch once logged in", async () => {
    const ws = dashboard.url.replace(/^http/, "ws") + "dashboard/streams";
    const foreign = await converse(ws, [], { origin: "http://evil.example" });
    assert.equal(foreign.status, 403);
    const early = await converse(ws, [{ op: "open", id: 1, path: "/api/v1/namespaces" }]);
    assert.equal(early.code, 1008, "a stream before the token is refused");
    const watch = await converse(ws, [
      { op: "auth", token: cluster.server.adminToken },
      { op: "open", id: 7, path: "/api/v1/namespaces?watch=1" },
    ]);
    assert.deepEqual(watch.messages[0], { op: "ready" });
    assert.deepEqual(watch.messages[1], { id: 7, op: "open", status: 200 });
    const frame = watch.messages[2] as { id: number; text: string };
    assert.equal(frame.id, 7);
    assert.match(frame.text, /"type":"ADDED"/);
    const outside = await converse(ws, [
      { op: "auth", token: cluster.server.adminToken },
      { op: "open", id: 2, path: "/dashboard/config" },
      { op: "open", id: 3, path: "/api/v1/nodes/nope" },
    ]);
    assert.deepEqual(outside.messages[1], {
      id: 2,
      op: "error",
      status: 404,
      message: "/dashboard/config is not an API path",
    });
    assert.deepEqual(outside.messages[2], {
      id: 3,
      op: "error",
      status: 404,
      message: 'nodes "nope" not found',
    });
  });

  test("an engine's dashboard refuses any token but the daemon's, over HTTP and streams", async () => {
    const wrong = await fetch(new URL("/engine/containers/json", engine.url), {
      headers: { authorization: "Bearer guess" },
    });
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { message: string }).message, /not this daemon's dashboard token/);
    const right = await fetch(new URL("/engine/containers/json", engine.url), {
      headers: { authorization: "Bearer the-daemons-token" },
    });
    assert.equal(right.status, 502, "passed on, to a socket that is not there");
    const ws = engine.url.replace(/^http/, "ws") + "dashboard/streams";
    const refused = await converse(ws, [{ op: "auth", token: "guess" }]);
    assert.deepEqual(refused.messages[0], {
      op: "refused",
      message: "the token is not this daemon's dashboard token",
    });
    assert.equal(refused.code, 4401);
  });

  test("plain HTTP only on loopback; with a certificate it is HTTPS its CA verifies", async () => {
    const upstream = { kind: "cluster" as const, url: cluster.server.url, caCert: cluster.server.caCert };
    // refused before anything listens
    for (const host of ["0.0.0.0", "::", "192.0.2.1"])
      await assert.rejects(
        startDashboard({ host, port: 0, upstream }),
        (err: Error & { code?: string; details?: { hint?: string } }) => {
          assert.equal(err.code, "INVALID_ARGUMENT");
          assert.match(
            err.message,
            new RegExp(`${host}:0: .*only a loopback address may serve it without TLS`),
          );
          assert.match(err.details?.hint ?? "", /certificate/);
          return true;
        },
      );
    const tlsDir = join(cluster.dir, "dashboard-tls");
    ensureCa(tlsDir, "test-dashboard-ca");
    const tls = ensureServingCertificate(tlsDir, "dashboard", "test-dashboard", []);
    const secure = await startDashboard({ host: "127.0.0.1", port: 0, upstream, tls });
    try {
      assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await requestVerified(secure.url, tls.caCert);
      assert.equal(page.status, 200);
      assert.match(page.body, /<div id="app">/);
      const nodes = await requestVerified(new URL("/api/v1/namespaces", secure.url), tls.caCert, {
        authorization: `Bearer ${cluster.server.adminToken}`,
      });
      assert.equal(nodes.status, 200, nodes.body);
      // another CA's trust is not enough: the chain is checked
      await assert.rejects(
        requestVerified(secure.url, cluster.server.caCert),
        /self[- ]signed|unable to verify|certificate/i,
      );
    } finally {
      await secure.close();
    }
  });

  test("an app that is not built is a clear error naming the fix", async () => {
    const empty = mkdtempSync(join(tmpdir(), "gantry-dashboard-empty-"));
    try {
      await assert.rejects(
        startDashboard({
          host: "127.0.0.1",
          port: 0,
          assetsDir: empty,
          upstream: { kind: "cluster", url: cluster.server.url, caCert: cluster.server.caCert },
        }),
        (err: Error & { code?: string; details?: { hint?: string } }) => {
          assert.equal(err.code, "NOT_FOUND");
          assert.match(err.details?.hint ?? "", /npm run build/);
          return true;
        },
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
