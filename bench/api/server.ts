// API server benchmark: the same measurements as bench/api/store.ts, but through HTTPS and
// the whole request path (auth, decoding, defaulting, validation, managedFields, store).
//   node --import tsx bench/api/server.ts [--objects 10000] [--watchers 100] [--events 1000]
// For each backend (SQLite, etcd): pod creates/s with 64 requests in flight, list latency
// over --objects pods (whole list as JSON, as a kubectl Table, and in 500-item pages), and
// --watchers concurrent watch streams that must each receive every one of --events updates.
import { Agent, request } from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import type { StoreSpec } from "../../src/cluster/store/types.ts";
import { TestEtcd, etcdSkipReason } from "../../test/cluster-store/_etcd.ts";

const { values } = parseArgs({
  options: {
    objects: { type: "string", default: "10000" },
    watchers: { type: "string", default: "100" },
    events: { type: "string", default: "1000" },
  },
});
const OBJECTS = Number(values.objects);
const WATCHERS = Number(values.watchers);
const EVENTS = Number(values.events);
const IN_FLIGHT = 64;
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

const pod = (i: number) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `pod-${i}`, labels: { app: "bench", shard: String(i % 16) } },
    spec: { containers: [{ name: "app", image: "registry.example/app:1.0", ports: [{ containerPort: 8080 }], env: [{ name: "MODE", value: "bench" }] }] },
  });

function client(server: RunningApiServer) {
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT + WATCHERS + 8, ca: server.caCert });
  const call = (method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${server.url}${path}`, { method, agent, headers: { Authorization: `Bearer ${server.adminToken}`, "Content-Type": "application/json", ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end(body);
    });
  const watch = (path: string, onLine: (line: string) => void) => {
    const req = request(`${server.url}${path}`, { agent, headers: { Authorization: `Bearer ${server.adminToken}` } }, (res) => {
      let buf = "";
      res.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
    });
    req.on("error", () => {});
    req.end();
    return req;
  };
  return { call, watch, agent };
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const out = await fn();
  return [performance.now() - t, out];
}

async function benchOne(label: string, storeSpec: StoreSpec | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-api-bench-"));
  const server = await startApiServer({ dataDir: dir, host: "127.0.0.1", port: 0, storeSpec, historyMs: 0 });
  const { call, watch, agent } = client(server);
  try {
    await call("POST", "/api/v1/namespaces", JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } }));
    let next = 0;
    const [createMs] = await timed(() =>
      Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < OBJECTS) {
            const r = await call("POST", "/api/v1/namespaces/bench/pods", pod(next++));
            if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.body}`);
          }
        }),
      ),
    );
    const [listMs, list] = await timed(() => call("GET", "/api/v1/namespaces/bench/pods"));
    const count = (JSON.parse(list.body) as { items: unknown[] }).items.length;
    const [tableMs] = await timed(() => call("GET", "/api/v1/namespaces/bench/pods?limit=500", undefined, { Accept: TABLE }));
    const [pagedMs, pages] = await timed(async () => {
      let cont = "";
      let n = 0;
      do {
        const r = JSON.parse((await call("GET", `/api/v1/namespaces/bench/pods?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`)).body) as { metadata: { continue?: string } };
        cont = r.metadata.continue ?? "";
        n++;
      } while (cont);
      return n;
    });
    // Watchers from the current revision; every one must see all EVENTS updates.
    const rv = (JSON.parse((await call("GET", "/api/v1/namespaces/bench/pods?limit=1")).body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const received = new Array<number>(WATCHERS).fill(0);
    let doneAt = 0;
    let finished = 0;
    const start = performance.now();
    const reqs = received.map((_, w) =>
      watch(`/api/v1/namespaces/bench/pods?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3Dpod-0`, () => {
        if (++received[w]! === EVENTS) {
          finished++;
          if (finished === WATCHERS) doneAt = performance.now();
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      const r = await call("PATCH", "/api/v1/namespaces/bench/pods/pod-0", JSON.stringify({ metadata: { labels: { step: String(i) } } }), { "Content-Type": "application/merge-patch+json" });
      if (r.status !== 200) throw new Error(`patch failed: ${r.status} ${r.body}`);
    }
    const updatesMs = performance.now() - t0;
    while (finished < WATCHERS && performance.now() - start < 120_000) await new Promise((r) => setTimeout(r, 20));
    for (const r of reqs) r.destroy();
    const total = received.reduce((a, b) => a + b, 0);
    console.log(`${label}:`);
    console.log(`  creates: ${OBJECTS} pods in ${(createMs / 1000).toFixed(2)} s = ${Math.round(OBJECTS / (createMs / 1000))}/s (${IN_FLIGHT} in flight)`);
    console.log(`  list ${count} pods: ${listMs.toFixed(0)} ms whole (JSON), ${pagedMs.toFixed(0)} ms in ${pages} pages of 500; first Table page ${tableMs.toFixed(0)} ms`);
    console.log(`  watch: ${WATCHERS} watchers x ${EVENTS} updates: updates done in ${(updatesMs / 1000).toFixed(2)} s, all watchers done ${doneAt ? ((doneAt - t0) / 1000).toFixed(2) + " s" : "NOT DONE"}; ${total}/${WATCHERS * EVENTS} events delivered`);
  } finally {
    agent.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await benchOne("SQLite", undefined);
const skip = etcdSkipReason();
if (skip) console.log(`etcd: skipped (${skip})`);
else {
  const etcd = await TestEtcd.start();
  try {
    await benchOne("etcd", { kind: "etcd", endpoints: [etcd.endpoint], prefix: "/bench" });
  } finally {
    await etcd.stop();
  }
}
