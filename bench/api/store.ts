// Cluster store benchmark: SQLite vs etcd in one run.
//   node --import tsx bench/api/store.ts [--objects 10000] [--watchers 100] [--events 1000]
// For each backend: creates/s (one at a time, and 64 in flight), list latency over
// --objects pod-sized objects (whole list, and 500-item pages), and --watchers concurrent
// watchers that must each receive every one of --events updates, in order, exactly once
// ("updates done" is when the last update was acknowledged, "all watchers done" when the
// last watcher had its last event; both from the first update).
// etcd is started privately on loopback (as the tests do) and removed afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openStore, type Store } from "../../src/cluster/store/index.ts";
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

function podJson(i: number): string {
  // About 1 KB, the size of a small pod as the API server stores it.
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `pod-${i}`,
      namespace: "bench",
      labels: { app: "bench", shard: String(i % 16) },
      uid: `uid-${i}`,
    },
    spec: {
      containers: [
        {
          name: "main",
          image: "busybox:latest",
          command: ["sleep", "3600"],
          resources: { requests: { cpu: "10m", memory: "16Mi" } },
        },
      ],
      nodeName: `node-${i % 8}`,
    },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: "True" }],
      podIP: `10.88.${(i >> 8) & 255}.${i & 255}`,
    },
    padding: "x".repeat(500),
  });
}

async function runInFlight(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await op(next++);
    }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Row {
  backend: string;
  createSerial: number;
  createParallel: number;
  listAllMs: number;
  listPagedMs: number;
  countMs: number;
  writesMs: number;
  watchMs: number;
  deliveriesPerSec: number;
}

async function bench(backend: string, store: Store): Promise<Row> {
  const serialN = Math.min(1000, OBJECTS);
  const serialMs = await timeIt(async () => {
    for (let i = 0; i < serialN; i++) await store.create(`/registry/pods/bench/s-${i}`, podJson(i));
  });
  const parallelMs = await timeIt(() =>
    runInFlight(OBJECTS, IN_FLIGHT, (i) =>
      store.create(`/registry/pods/bench/p-${String(i).padStart(6, "0")}`, podJson(i)),
    ),
  );

  const listAll: number[] = [];
  const listPaged: number[] = [];
  const counts: number[] = [];
  for (let r = 0; r < 5; r++) {
    listAll.push(
      await timeIt(async () => {
        const l = await store.list("/registry/pods/bench/p-");
        if (l.items.length !== OBJECTS)
          throw new Error(`${backend}: listed ${l.items.length}, want ${OBJECTS}`);
      }),
    );
    listPaged.push(
      await timeIt(async () => {
        let seen = 0;
        let page = await store.list("/registry/pods/bench/p-", { limit: 500 });
        seen += page.items.length;
        while (page.more) {
          page = await store.list("/registry/pods/bench/p-", {
            limit: 500,
            startAfterKey: page.items.at(-1)!.key,
            atRevision: page.revision,
          });
          seen += page.items.length;
        }
        if (seen !== OBJECTS) throw new Error(`${backend}: paged ${seen}, want ${OBJECTS}`);
      }),
    );
    counts.push(await timeIt(() => store.count("/registry/pods/bench/p-")));
  }

  // Watchers: each must see every update, in revision order, exactly once.
  const from = await store.currentRevision();
  const seen = Array.from({ length: WATCHERS }, () => ({ n: 0, last: from, bad: 0 }));
  let done!: () => void;
  const allSeen = new Promise<void>((r) => (done = r));
  let complete = 0;
  const handles = seen.map((s) =>
    store.watch(
      "/registry/pods/bench/",
      from,
      (e) => {
        if (e.object.modRevision <= s.last) s.bad++;
        s.last = e.object.modRevision;
        if (++s.n === EVENTS && ++complete === WATCHERS) done();
      },
      (err) => {
        throw err;
      },
    ),
  );
  // Let every watch finish starting (etcd: one round trip each) before the clock starts.
  await new Promise((r) => setTimeout(r, 500));
  let writesMs = 0;
  const watchMs = await timeIt(async () => {
    writesMs = await timeIt(() =>
      runInFlight(EVENTS, IN_FLIGHT, (i) =>
        store.update(`/registry/pods/bench/p-${String(i % OBJECTS).padStart(6, "0")}`, podJson(i + 1)),
      ),
    );
    await allSeen;
  });
  for (const h of handles) h.cancel();
  const bad = seen.reduce((a, s) => a + s.bad + (s.n === EVENTS ? 0 : 1), 0);
  if (bad) throw new Error(`${backend}: ${bad} watchers saw events out of order, twice, or not at all`);

  return {
    backend,
    createSerial: serialN / (serialMs / 1000),
    createParallel: OBJECTS / (parallelMs / 1000),
    listAllMs: median(listAll),
    listPagedMs: median(listPaged),
    countMs: median(counts),
    writesMs,
    watchMs,
    deliveriesPerSec: (WATCHERS * EVENTS) / (watchMs / 1000),
  };
}

const rows: Row[] = [];
const dir = mkdtempSync(join(tmpdir(), "gantry-bench-"));
try {
  const sqlite = await openStore({ kind: "sqlite", path: join(dir, "bench.db") });
  try {
    rows.push(await bench("sqlite (WAL, synchronous=FULL)", sqlite));
  } finally {
    await sqlite.close();
  }
  const skip = etcdSkipReason();
  if (skip) console.error(`etcd skipped: ${skip}`);
  else {
    const etcd = await TestEtcd.start();
    try {
      const store = await openStore({ kind: "etcd", endpoints: [etcd.endpoint] });
      try {
        rows.push(await bench("etcd 3.4 (loopback)", store));
      } finally {
        await store.close();
      }
    } finally {
      await etcd.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const f = (n: number, digits = 0) => n.toFixed(digits);
console.log(
  `\n${OBJECTS} objects (~1 KB), ${WATCHERS} watchers x ${EVENTS} updates, ${IN_FLIGHT} writes in flight\n`,
);
console.log(
  "| backend | creates/s serial | creates/s 64 in flight | list all ms | list 500/page ms | count ms | updates done ms | all watchers done ms | deliveries/s |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${f(r.createSerial)} | ${f(r.createParallel)} | ${f(r.listAllMs, 1)} | ${f(r.listPagedMs, 1)} | ${f(r.countMs, 1)} | ${f(r.writesMs)} | ${f(r.watchMs)} | ${f(r.deliveriesPerSec)} |`,
  );
}
