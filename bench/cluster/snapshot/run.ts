// How long a backup and a restore take for a store of N objects (issue 17 asks for 10,000):
// a server (SQLite, no controllers) is filled with N ConfigMaps through its in-process
// client, then `snapshot save` runs against it while it serves, `snapshot restore` makes a
// new data directory, and a server is started there until a list of all N answers.
// Usage: node --import tsx bench/cluster/snapshot/run.ts [--objects 10000] [--runs 3]
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startApiServer } from "../../../src/cluster/api/server.ts";
import { Client } from "../../../src/cluster/client/index.ts";
import { restoreSqliteSnapshot, saveSqliteSnapshot } from "../../../src/cluster/store/snapshot.ts";

const { values } = parseArgs({ options: { objects: { type: "string", default: "10000" }, runs: { type: "string", default: "3" } } });
const N = Number(values.objects);
const RUNS = Number(values.runs);
const CM = { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true };
const NO_CONTROLLERS = async () => ({ stop: async () => {} });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const root = mkdtempSync(join(tmpdir(), "gantry-bench-snapshot-"));
try {
  const server = await startApiServer({ dataDir: join(root, "a"), host: "127.0.0.1", port: 0, historyMs: 0, startControllers: NO_CONTROLLERS });
  const client = new Client(server.inProcessTransport());
  const t0 = performance.now();
  for (let i = 0; i < N; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) => client.resource(CM).create("default", { metadata: { name: `cm-${i + j}` }, data: { value: "x".repeat(200) } })));
  }
  console.log(`filled ${N} ConfigMaps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const save: number[] = [];
  const restore: number[] = [];
  const start: number[] = [];
  let bytes = 0;
  for (let run = 0; run < RUNS; run++) {
    const file = join(root, `snap-${run}.db`);
    let t = performance.now();
    await saveSqliteSnapshot(join(root, "a"), file);
    save.push(performance.now() - t);
    bytes = statSync(file).size;
    const dir = join(root, `restored-${run}`);
    t = performance.now();
    await restoreSqliteSnapshot(file, dir);
    restore.push(performance.now() - t);
    t = performance.now();
    const back = await startApiServer({ dataDir: dir, host: "127.0.0.1", port: 0, historyMs: 0, startControllers: NO_CONTROLLERS });
    const n = (await new Client(back.inProcessTransport()).resource(CM).list("default")).items.length;
    start.push(performance.now() - t);
    await back.close();
    if (n < N) throw new Error(`restored server lists ${n} of ${N}`);
  }
  await server.close();
  console.log(`${N} objects, snapshot ${(bytes / 1e6).toFixed(1)} MB, ${RUNS} runs (medians):`);
  console.log(`  snapshot save (server running):    ${median(save).toFixed(0)} ms`);
  console.log(`  snapshot restore (new data dir):   ${median(restore).toFixed(0)} ms`);
  console.log(`  server start on it + list all:     ${median(start).toFixed(0)} ms`);
  console.log(`  restore to serving, total:         ${(median(restore) + median(start)).toFixed(0)} ms`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
