// The HTTPS transport with several servers (an HA control plane) against a real API server:
// a refused server, one answering 503, and one that drops the connection are passed over
// for the next (a write only when it surely was not sent); an informer whose watch breaks
// watches again from its revision through the next server, without listing again.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer, type Socket, connect } from "node:net";
import { createServer as createTlsServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import { Client, HttpsTransport, Informer, isNotFound, type ResourceRef } from "../../src/cluster/client/index.ts";
import { freePort } from "../cluster-controllers/_gantry-server.ts";

const CONFIGMAPS: ResourceRef = { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true };

let dir: string;
let server: RunningApiServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "gantry-failover-"));
  server = await startApiServer({ dataDir: dir, host: "127.0.0.1", port: 0, historyMs: 0 });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function clientFor(servers: string[], switches: string[]): Client {
  return new Client(HttpsTransport.fromTarget({ server: servers[0]!, servers, token: server.adminToken, caCert: server.caCert, onSwitch: (from, to, why) => switches.push(`${from} -> ${to}: ${why}`) }));
}

/** A TLS server with the API server's own certificate that answers every request with handle. */
async function fakeServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const s = createTlsServer({ cert: readFileSync(join(dir, "tls", "serving.crt")), key: readFileSync(join(dir, "tls", "serving.key")) }, (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handle(req, res);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { url: `https://127.0.0.1:${(s.address() as { port: number }).port}`, hits, close: () => new Promise((r) => (s.closeAllConnections(), s.close(() => r()))) };
}

test("a refused server is passed over for the next, which stays current, for reads and writes", async () => {
  const dead = `https://127.0.0.1:${await freePort()}`;
  const switches: string[] = [];
  const client = clientFor([dead, server.url], switches);
  assert.equal(client.server, dead);
  await client.resource(CONFIGMAPS).create("default", { metadata: { name: "through-the-second" }, data: { k: "v" } });
  assert.equal(client.server, server.url);
  assert.equal(switches.length, 1, switches.join("\n"));
  assert.match(switches[0]!, /ECONNREFUSED/);
  assert.equal((await client.resource(CONFIGMAPS).get("default", "through-the-second")).metadata.name, "through-the-second");
  assert.equal(switches.length, 1, "no switch while the current server answers");
});

test("a 503 moves requests to the next server; every server down is an UNAVAILABLE error naming the last", async () => {
  const unavailable = await fakeServer((_req, res) => {
    res.writeHead(503, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "ServiceUnavailable", code: 503, message: "etcd is unreachable" }));
  });
  try {
    const switches: string[] = [];
    const client = clientFor([unavailable.url, server.url], switches);
    await client.resource(CONFIGMAPS).create("default", { metadata: { name: "after-a-503" } });
    assert.deepEqual(unavailable.hits, ["POST /api/v1/namespaces/default/configmaps?fieldManager=gantry"]);
    assert.match(switches[0]!, /HTTP 503/);
    // Alone, the 503 is the answer.
    const only = clientFor([unavailable.url], []);
    await assert.rejects(only.resource(CONFIGMAPS).get("default", "after-a-503"), /etcd is unreachable/);
    const none = clientFor([`https://127.0.0.1:${await freePort()}`, `https://127.0.0.1:${await freePort()}`], []);
    await assert.rejects(none.resource(CONFIGMAPS).get("default", "x"), (err: Error & { code?: string }) => err.code === "UNAVAILABLE" && /cannot reach the cluster API server/.test(err.message));
  } finally {
    await unavailable.close();
  }
});

test("a connection dropped after the request was sent: a GET goes to the next server, a write does not (it may have been done)", async () => {
  const dropper = await fakeServer((req) => req.socket.destroy());
  try {
    const client = clientFor([dropper.url, server.url], []);
    await assert.rejects(client.resource(CONFIGMAPS).create("default", { metadata: { name: "maybe-written" } }), /socket hang up|ECONNRESET/);
    assert.deepEqual(dropper.hits, ["POST /api/v1/namespaces/default/configmaps?fieldManager=gantry"]);
    await assert.rejects(client.resource(CONFIGMAPS).get("default", "maybe-written"), (err: unknown) => isNotFound(err));
    assert.equal(client.server, server.url, "the GET went to the second server");
  } finally {
    await dropper.close();
  }
});

/** A TCP relay to the API server that can be torn down (a server dying under its watches). */
async function relay(): Promise<{ url: string; kill(): void }> {
  const sockets = new Set<Socket>();
  const s: NetServer = createNetServer((inbound) => {
    const outbound = connect(server.port, "127.0.0.1");
    for (const x of [inbound, outbound]) {
      sockets.add(x);
      x.on("error", () => undefined);
      x.on("close", () => sockets.delete(x));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    url: `https://127.0.0.1:${(s.address() as { port: number }).port}`,
    kill() {
      s.close();
      for (const x of sockets) x.resetAndDestroy();
    },
  };
}

test("an informer whose server dies watches again from its revision through the next server, without a list", async () => {
  const first = await relay();
  const switches: string[] = [];
  const client = clientFor([first.url, server.url], switches);
  const cms = client.resource(CONFIGMAPS);
  await cms.create("default", { metadata: { name: "before-the-death" } });
  const logs: string[] = [];
  const inf = new Informer(cms, { log: (m) => logs.push(m), initialBackoffMs: 50 });
  const seen: string[] = [];
  inf.addHandlers({ onAdd: (o) => seen.push(o.metadata.name!) });
  inf.start();
  try {
    await inf.whenSynced();
    assert.ok(seen.includes("before-the-death"), `${seen.join(",")} ${logs.join("\n")}`);
    const seenSoon = async (name: string) => {
      const deadline = Date.now() + 20_000;
      while (!seen.includes(name)) {
        if (Date.now() > deadline) throw new Error(`${name} never seen:\n${logs.join("\n")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The watch is open (through the relay) once it delivers.
    await cms.create("default", { metadata: { name: "watched" } });
    await seenSoon("watched");
    assert.equal(client.server, first.url);
    const revision = inf.resourceVersion;
    first.kill();
    // Written while the watch is down: the watch from the old revision still delivers it.
    await new Client(server.inProcessTransport()).resource(CONFIGMAPS).create("default", { metadata: { name: "while-down" } });
    await seenSoon("while-down");
    assert.equal(inf.lists, 1, `no second list:\n${logs.join("\n")}`);
    assert.ok(inf.rewatches >= 1);
    assert.ok(logs.some((l) => l.includes(`watching again from revision ${revision}`)), logs.join("\n"));
    assert.equal(client.server, server.url);
    assert.equal(switches.length, 1, switches.join("\n"));
  } finally {
    await inf.stop();
    first.kill();
  }
});
