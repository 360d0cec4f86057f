// Scheduler benchmark (kube-scheduler's scheduler_perf shape, kubemark's hollow nodes):
//   npm run -s build && node --import tsx bench/cluster/scheduler/run.ts [--nodes 1000] [--pods 5000] [--lease-renew-ms 10000] [--no-backlog] [--heap-snapshot DIR]
// Starts `gantry server` (SQLite; --node-monitor-grace-period three lease renewals, at least
// 40 s) as its own process, registers --nodes hollow nodes from
// this process (4 cpu, 16Gi, 110 pods each; Leases renewed every 10 s; bound pods reported
// Running), creates --pods pods (100m cpu, 128Mi) with 32 creates in flight, and watches
// them bind. It prints pods/s from the first create to the last binding, the p50/p99 of
// create→bound as the client sees it, and the server's RSS (now and peak) with every node
// and pod in place, plus the load average (the machine is shared). --heap-snapshot DIR writes the
// server's V8 heap snapshot there at that moment (open it in Chrome DevTools' Memory tab).
// Then the backlog mode (unless --no-backlog), scheduler_perf's SchedulingBasic: the bench
// takes the server's leader Lease (kube-system/gantry-controller-manager), so its scheduler
// stops; creates --pods more pods, which stay Pending (the first --pods, bound, are the init
// pods); gives the Lease up, and times the bindings once the server leads again: pods/s from
// the first binding to the last is the scheduler and binding alone, without the creates.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client, type KubeObject } from "../../../src/cluster/client/index.ts";
import { startHollowNodes } from "../../../src/cluster/hollow/index.ts";
import { NodeInfo, PodInfo, schedule } from "../../../src/cluster/scheduler/index.ts";

const { values } = parseArgs({ options: { nodes: { type: "string", default: "1000" }, pods: { type: "string", default: "5000" }, "lease-renew-ms": { type: "string", default: "10000" }, "no-backlog": { type: "boolean", default: false }, "heap-snapshot": { type: "string" } } });
const NODES = Number(values.nodes);
const PODS = Number(values.pods);
const IN_FLIGHT = 32;
const GANTRY = join(import.meta.dirname, "../../../bin/gantry");
// The node lifecycle controller marks a node NotReady (and taints it unreachable: nothing more
// is scheduled there, its pods are evicted after 300 s) once its Lease goes unrenewed for the
// grace period; with a long --lease-renew-ms the grace period must outlast it, or the
// bench would measure a cluster whose nodes all went away.
const GRACE_SECONDS = Math.max(40, Math.ceil((3 * Number(values["lease-renew-ms"])) / 1000));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const memory = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
};
/** CPU seconds (user + system) the process has used: on a shared machine, per pod it is steadier than pods/s. */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
};
/** Has the server (started with --heapsnapshot-signal=SIGUSR2 in dir) write a heap snapshot; resolves once its size stops growing. */
async function heapSnapshot(dir: string, pid: number): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  for (let size = -1; ; await sleep(1000)) {
    const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (!file) continue;
    const now = statSync(join(dir, file)).size;
    if (now > 0 && now === size) return join(dir, file);
    size = now;
  }
}
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/**
 * The algorithm alone, in this process: every pod through schedule() over NODES nodes held
 * in NodeInfos, each placed pod added to its node (what the scheduler's cache does).
 */
function algorithmOnly(): { podsPerSecond: number; p99: number } {
  const infos = Array.from({ length: NODES }, (_, i) => new NodeInfo({ metadata: { name: `n${i}`, labels: { "kubernetes.io/hostname": `n${i}` } }, status: { allocatable: { cpu: "4", memory: "16Gi", pods: "110" } } }));
  const byName = new Map(infos.map((n) => [n.name, n]));
  const snapshot = { nodes: infos, get: (n: string) => byName.get(n) };
  const times: number[] = [];
  let start = 0;
  const t0 = performance.now();
  for (let i = 0; i < PODS; i++) {
    const t = performance.now();
    const pod = new PodInfo({ metadata: { name: `p${i}`, namespace: "default", labels: { app: "bench" } }, spec: { containers: [{ name: "c", resources: { requests: { cpu: "100m", memory: "128Mi" } } }] } });
    const r = schedule(pod, snapshot, { startIndex: start });
    start = r.nextStartIndex;
    if (r.node === undefined) throw new Error(`pod ${i} fits nowhere`);
    byName.get(r.node)!.addPod(new PodInfo({ ...pod.pod, spec: { ...pod.pod.spec, nodeName: r.node } }));
    times.push(performance.now() - t);
  }
  const secs = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { podsPerSecond: PODS / secs, p99: pct(times, 99) };
}

const algo = algorithmOnly();
console.log(`algorithm only: ${PODS} pods over ${NODES} nodes at ${algo.podsPerSecond.toFixed(0)} pods/s, p99 ${algo.p99.toFixed(2)} ms per pod (load ${loadavg()[0]!.toFixed(2)})`);

const dir = mkdtempSync(join(tmpdir(), "gantry-sched-bench-"));
const port = await freePort();
const server = spawn(process.env.GANTRY_BENCH_NODE_ARGS ? process.execPath : GANTRY, [...(process.env.GANTRY_BENCH_NODE_ARGS ? [...process.env.GANTRY_BENCH_NODE_ARGS.split(" "), join(import.meta.dirname, "../../../dist/gantry.mjs")] : []), "server", "--data-dir", dir, "--listen", `127.0.0.1:${port}`, "--no-agent", "--node-monitor-grace-period", String(GRACE_SECONDS)], {
  stdio: ["ignore", "ignore", "pipe"],
  ...(values["heap-snapshot"] ? { cwd: values["heap-snapshot"], env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --heapsnapshot-signal=SIGUSR2` } } : {}),
});
let serverLog = "";
let stoppedLeading = false;
server.stderr!.on("data", (d: Buffer) => {
  serverLog = (serverLog + d.toString()).slice(-4000);
  if (/stopped leading/.test(d.toString())) stoppedLeading = true;
});
try {
  const kubeconfig = join(dir, "admin.kubeconfig");
  for (let i = 0; i < 300 && !/scheduler: default-scheduler running/.test(serverLog); i++) await sleep(100);
  if (!existsSync(kubeconfig)) throw new Error(`gantry server did not start:\n${serverLog}`);
  const client = Client.fromKubeconfig(kubeconfig);
  const rssIdle = memory(server.pid!);

  const t = Date.now();
  // Every Lease renewal is a store write (an fsync with SQLite): 1,000 nodes at the kubelet's 10 s
  // are 100 writes/s before any pod; --lease-renew-ms separates that load from the scheduler's.
  const fleet = await startHollowNodes(client, { count: NODES, capacity: { cpu: "4", memory: "16Gi", pods: "110" }, leaseRenewMs: Number(values["lease-renew-ms"]) });
  console.log(`${NODES} hollow nodes registered in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // Watch bindings as the client sees them: on the hollow nodes' own pod watch (bound pods only),
  // not a second watch of every pod — the bench shares the 2 cores with the server it measures.
  const created = new Map<string, number>();
  const bound = new Map<string, number>();
  const podsApi = client.resource({ group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true });
  const seen = (p: KubeObject) => {
    if ((p.spec as { nodeName?: string }).nodeName && !bound.has(p.metadata.name!)) bound.set(p.metadata.name!, Date.now());
  };
  fleet.pods.addHandlers({ onAdd: seen, onUpdate: (_o, p) => seen(p) });

  const pod = (name: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { app: "bench" } },
    spec: { containers: [{ name: "app", image: "registry.example/app:1.0", resources: { requests: { cpu: "100m", memory: "128Mi" } } }] },
  });
  let resets = 0;
  /** Creates PODS pods named prefix-0.., IN_FLIGHT at a time; how many seconds it took. */
  const createPods = async (prefix: string): Promise<number> => {
    const start = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < PODS) {
          const name = `${prefix}-${next++}`;
          created.set(name, Date.now());
          for (let attempt = 0; ; attempt++) {
            try {
              await podsApi.create("default", pod(name));
              break;
            } catch (err) {
              // A reset connection under load is retried (an AlreadyExists then means the first try landed).
              if ((err as { code?: string }).code === "ALREADY_EXISTS" || /already exists/.test(String(err))) break;
              if (attempt >= 5 || server.exitCode !== null) throw new Error(`creating ${name}: ${String(err)}; server exit ${server.exitCode}\n${serverLog}`);
              resets++;
              await sleep(200);
            }
          }
        }
      }),
    );
    return (Date.now() - start) / 1000;
  };
  const cpu0 = { server: cpuSeconds(server.pid!), bench: process.cpuUsage() };
  const createdIn = await createPods("bench");
  for (let i = 0; bound.size < PODS && i < 6000; i++) await sleep(50);
  const last = Math.max(...bound.values());
  const first = Math.min(...created.values());
  const boundEndToEnd = bound.size;
  const cpuPerPod = (since: typeof cpu0) => {
    const bench = process.cpuUsage(since.bench);
    return `server CPU ${((1000 * (cpuSeconds(server.pid!) - since.server)) / PODS).toFixed(2)} ms per pod, bench process (hollow nodes, creates, watch) ${((bench.user + bench.system) / 1000 / PODS).toFixed(2)} ms`;
  };
  const cpuEndToEnd = cpuPerPod(cpu0);
  const latencies = [...bound].map(([name, at]) => at - created.get(name)!).sort((a, b) => a - b);
  // Memory is measured with every pod's Running status written (bigger objects); on a loaded
  // machine the hollow nodes' reports can take minutes to catch up.
  for (let i = 0; fleet.running() < PODS && i < 6000; i++) await sleep(50);
  await sleep(2000);
  const mem = memory(server.pid!);
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`pods created: ${PODS} in ${createdIn.toFixed(1)} s (${(PODS / createdIn).toFixed(0)}/s, ${IN_FLIGHT} in flight)`);
  if (resets) console.log(`creates retried after a reset connection: ${resets}`);
  console.log(`pods bound:   ${boundEndToEnd}/${PODS}; ${(boundEndToEnd / ((last - first) / 1000)).toFixed(0)} pods/s from first create to last binding (END TO END)`);
  console.log(`create->bound latency: p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms, max ${latencies[latencies.length - 1]} ms`);
  console.log(`${cpuEndToEnd} (create to last binding)`);
  console.log(`pods reported Running by hollow nodes: ${fleet.running()}`);
  console.log(`server RSS: ${rssIdle.rss.toFixed(0)} MB empty; ${mem.rss.toFixed(0)} MB with ${NODES} nodes and ${PODS} pods (peak ${mem.peak.toFixed(0)} MB)`);
  console.log(`load average: ${load} (cpus: ${(await import("node:os")).cpus().length})`);
  if (values["heap-snapshot"]) console.log(`heap snapshot: ${await heapSnapshot(values["heap-snapshot"], server.pid!)}`);
  if (!values["no-backlog"]) await backlog();

  async function backlog(): Promise<void> {
    const leases = client.resource({ group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true });
    const setHolder = async (holderIdentity: string, leaseDurationSeconds: number) => {
      for (;;) {
        const cur = await leases.get("kube-system", "gantry-controller-manager");
        const renewTime = new Date().toISOString().replace("Z", "000Z");
        try {
          return await leases.update({ ...cur, spec: { ...(cur.spec as object), holderIdentity, leaseDurationSeconds, renewTime } });
        } catch (err) {
          if (!/Conflict|modified/.test(String(err))) throw err; // the server renewed meanwhile
        }
      }
    };
    // The server sees the Lease taken at its next renewal and stops its control loops.
    await setHolder("scheduler-bench", 3600);
    for (let i = 0; i < 300 && !stoppedLeading; i++) await sleep(100);
    if (!stoppedLeading) throw new Error(`the server did not stop leading:\n${serverLog}`);
    const createdIn = await createPods("backlog");
    await sleep(1000);
    const early = [...bound.keys()].filter((n) => n.startsWith("backlog-")).length;
    if (early) throw new Error(`${early} backlog pods were bound while the bench held the Lease`);
    const released = Date.now();
    const cpu1 = { server: cpuSeconds(server.pid!), bench: process.cpuUsage() };
    await setHolder("", 1); // as a leader that stops gives it up
    for (let i = 0; i < 12000 && [...bound.keys()].filter((n) => n.startsWith("backlog-")).length < PODS; i++) await sleep(50);
    const cpuBacklog = cpuPerPod(cpu1);
    const times = [...bound].filter(([n]) => n.startsWith("backlog-")).map(([, at]) => at).sort((a, b) => a - b);
    const firstBound = times[0]!;
    const lastBound = times[times.length - 1]!;
    console.log(`BACKLOG: ${PODS} more pods created with the scheduler stopped in ${createdIn.toFixed(1)} s (the ${PODS} bound above are the init pods)`);
    console.log(`  bound ${times.length}/${PODS}; ${(times.length / ((lastBound - firstBound) / 1000)).toFixed(0)} pods/s from first to last binding (SCHEDULER + BINDING); first binding ${((firstBound - released) / 1000).toFixed(1)} s after the Lease was given up (the server's next try, then its informers' lists)`);
    console.log(`  ${cpuBacklog} (Lease given up to last binding)`);
    const mem = memory(server.pid!);
    console.log(`  server RSS ${mem.rss.toFixed(0)} MB with ${NODES} nodes and ${2 * PODS} pods (peak ${mem.peak.toFixed(0)} MB); load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  }
  await fleet.stop();
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
