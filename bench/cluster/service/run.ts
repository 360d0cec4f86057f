// Service benchmark (root): the service proxy of src/cluster/proxy against a real API server
// (in this process, SQLite), programming a node's network namespace made here, and traffic
// between pod namespaces on that node's bridge. Two measurements:
//  1. Programming: --services Services × 3 endpoints (EndpointSlices written through the API)
//     exist before the proxy starts; its first sync (the full resync: render + one nft
//     transaction) is timed, then --more Services one at a time (medians printed): the sync
//     that adds each, and the time from its EndpointSlice's create returning to that sync
//     being applied (informer + 20 ms coalescing + nft). Targets: < 1 s and < 50 ms.
//  2. Data path: a Node HTTP server in a "server" pod namespace, requests/s and p50/p99 from a
//     "client" pod namespace straight to the pod IP vs through the Service's ClusterIP (DNAT in
//     the node namespace), keep-alive and a new connection per request, rounds interleaved.
//     Target: within 5 %.
// Usage (root): npx tsx bench/cluster/service/run.ts [--services 1000] [--more 9] [--seconds 5] [--concurrency 16] [--rounds 3] [--no-traffic]
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startApiServer } from "../../../src/cluster/api/index.ts";
import { Client } from "../../../src/cluster/client/index.ts";
import { startServiceProxy, type SyncReport } from "../../../src/cluster/proxy/index.ts";

const { values } = parseArgs({ options: { services: { type: "string", default: "1000" }, seconds: { type: "string", default: "5" }, concurrency: { type: "string", default: "16" }, rounds: { type: "string", default: "3" }, more: { type: "string", default: "9" }, "no-traffic": { type: "boolean", default: false } } });
const SERVICES = Number(values.services);
if (process.getuid?.() !== 0) throw new Error("run as root");

const tag = `gsb${process.pid % 10000}`;
const work = mkdtempSync(join(tmpdir(), "gantry-svcbench-"));
const cleanups: (() => unknown)[] = [];
const sh = (cmd: string) => execFileSync("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] }).toString();
const inNs = (ns: string, cmd: string) => sh(`ip netns exec ${ns} sh -c '${cmd}'`);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const SERVICES_REF = { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true };
const SLICES_REF = { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice", namespaced: true };

/** The node namespace with a bridge, and pod namespaces on it (each a veth into the bridge). */
function makeNetwork(): { node: string; server: string; client: string } {
  const node = `${tag}-node`;
  const server = `${tag}-srv`;
  const client = `${tag}-cli`;
  for (const ns of [node, server, client]) {
    sh(`ip netns add ${ns}`);
    cleanups.push(() => spawnSync("ip", ["netns", "del", ns]));
  }
  inNs(node, "ip link set lo up && ip link add br0 type bridge && ip addr add 10.42.0.1/24 dev br0 && ip link set br0 up && sysctl -qw net.ipv4.ip_forward=1");
  // Pod-to-pod replies through a DNAT cross the bridge without routing: br_netfilter lets conntrack see them.
  spawnSync("ip", ["netns", "exec", node, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]);
  for (const [ns, ip, veth] of [[server, "10.42.0.2", "vs"], [client, "10.42.0.3", "vc"]] as const) {
    sh(`ip link add ${tag}${veth} netns ${node} type veth peer name eth0 netns ${ns}`);
    inNs(node, `ip link set ${tag}${veth} master br0 && ip link set ${tag}${veth} up`);
    inNs(ns, `ip link set lo up && ip addr add ${ip}/24 dev eth0 && ip link set eth0 up && ip route add default via 10.42.0.1`);
  }
  return { node, server, client };
}

function serviceOf(i: number) {
  return { apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}`, namespace: "default" }, spec: { ports: [{ name: "http", port: 80, protocol: "TCP" }] } };
}
function sliceOf(i: number, addresses: string[], port: number) {
  return { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: `svc-${i}-1`, namespace: "default", labels: { "kubernetes.io/service-name": `svc-${i}` } }, addressType: "IPv4", ports: [{ name: "http", port, protocol: "TCP" }], endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })) };
}

async function load(ns: string, host: string, port: number, keepAlive: boolean) {
  const out = execFileSync("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", join(import.meta.dirname, "load.ts"), host, String(port), values.seconds!, values.concurrency!, keepAlive ? "keepalive" : "close"], { cwd: join(import.meta.dirname, "../../.."), maxBuffer: 256 << 20 }).toString();
  return JSON.parse(out) as { requests: number; errors: number; seconds: number; latenciesMs: number[] };
}

async function main(): Promise<void> {
  const net = makeNetwork();
  const api = await startApiServer({ dataDir: join(work, "server"), host: "127.0.0.1", port: 0, historyMs: 0 });
  cleanups.push(() => api.close());
  const client = new Client(api.inProcessTransport(), { fieldManager: "bench" });
  const services = client.resource(SERVICES_REF);
  const slices = client.resource(SLICES_REF);

  // 1. Programming time.
  const t0 = Date.now();
  const queue = Array.from({ length: SERVICES }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        await services.create("default", serviceOf(i));
        const base = 10 + (i % 200);
        await slices.create("default", sliceOf(i, [`10.42.${base}.${(i % 250) + 1}`, `10.42.${base}.${((i + 1) % 250) + 1}`, `10.42.${base}.${((i + 2) % 250) + 1}`], 8080));
      }
    }),
  );
  console.log(`created ${SERVICES} Services and their EndpointSlices through the API in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const reports: (SyncReport & { at: bigint })[] = [];
  let onReport = () => undefined as void;
  const proxy = await startServiceProxy({
    client,
    nodeName: "bench",
    table: "gantry-svc-bench",
    netns: `/run/netns/${net.node}`,
    clusterCIDRs: ["10.42.0.0/16"],
    onSync: (r) => {
      reports.push({ ...r, at: process.hrtime.bigint() });
      onReport();
    },
  });
  cleanups.push(() => proxy.stop());
  const full = reports[0]!;
  const ruleCount = inNs(net.node, "nft list table ip gantry-svc-bench | grep -c dnat").trim();
  console.log(`\nfull sync of ${full.servicePorts} Service ports × 3 endpoints: ${full.ms} ms (${full.lines} nft lines, one transaction; ${ruleCount} DNAT rules in the table)  target < 1000 ms`);

  // More Services one at a time (the last, "web", is the one the data path uses: the server pod behind a ClusterIP).
  const oneMore = async (name: string, i: number, addresses: string[]) => {
    const svc = (await services.create("default", { ...serviceOf(i), metadata: { name, namespace: "default" } })) as unknown as { spec: { clusterIP: string } };
    await new Promise((r) => setTimeout(r, 100)); // the Service's own (endpoint-less) sync first
    const before = reports.length;
    const t1 = process.hrtime.bigint();
    await slices.create("default", { ...sliceOf(i, addresses, 8080), metadata: { name: `${name}-1`, namespace: "default", labels: { "kubernetes.io/service-name": name } } });
    // The first sync applied after the slice was written that maps the ClusterIP to a chain.
    let applied: bigint | undefined;
    while (applied === undefined) {
      await new Promise<void>((r) => (onReport = r));
      if (inNs(net.node, `nft list map ip gantry-svc-bench service-ips`).includes(`${svc.spec.clusterIP} . tcp . 80`)) applied = reports.at(-1)!.at;
    }
    const incremental = reports.slice(before).filter((r) => !r.full);
    return { svc, e2e: Number(applied - t1) / 1e6, sync: incremental.at(-1)?.ms ?? NaN, lines: incremental.at(-1)?.lines ?? NaN };
  };
  const more = Math.max(1, Number(values.more) + 1);
  const added: { e2e: number; sync: number; lines: number }[] = [];
  let webSvc: { spec: { clusterIP: string } } | undefined;
  for (let k = 0; k < more; k++) {
    const last = k === more - 1;
    const r = await oneMore(last ? "web" : `more-${k}`, SERVICES + k, last ? ["10.42.0.2"] : [`10.42.250.${k + 1}`, `10.42.250.${k + 101}`, `10.42.251.${k + 1}`]);
    added.push(r);
    if (last) webSvc = r.svc;
  }
  const med = (xs: number[]) => pct(xs, 50);
  console.log(`one more Service (${added.length} added one at a time, medians): its sync ${med(added.map((a) => a.sync)).toFixed(0)} ms (${med(added.map((a) => a.lines))} nft lines; all: ${added.map((a) => a.sync.toFixed(0)).join(" ")}); EndpointSlice create → rules applied ${med(added.map((a) => a.e2e)).toFixed(0)} ms  target < 50 ms`);
  if (values["no-traffic"]) {
    console.log(`\nload average ${loadavg().map((l) => l.toFixed(1)).join(" ")} (the machine is shared)`);
    return;
  }

  // 2. Data path.
  const server = spawn("ip", ["netns", "exec", net.server, process.execPath, "-e", `require("http").createServer((q, s) => s.end("x".repeat(100))).listen(8080, "0.0.0.0")`], { stdio: "ignore" });
  cleanups.push(() => server.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 1000));
  const targets = [
    { name: "direct (pod IP)", host: "10.42.0.2", port: 8080 },
    { name: `ClusterIP (${webSvc!.spec.clusterIP})`, host: webSvc!.spec.clusterIP, port: 80 },
  ];
  for (const keepAlive of [true, false]) {
    const results = new Map<string, { requests: number; errors: number; seconds: number; latenciesMs: number[] }[]>();
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const t of targets) (results.get(t.name) ?? results.set(t.name, []).get(t.name)!).push(await load(net.client, t.host, t.port, keepAlive));
    }
    console.log(`\n${keepAlive ? "keep-alive" : "new connection per request"}: ${values.concurrency} clients, ${values.rounds} rounds of ${values.seconds} s per target, 100-byte body, from a pod namespace`);
    console.log("target                          req/s    p50 ms   p99 ms  errors");
    let direct = 0;
    for (const t of targets) {
      const ss = results.get(t.name)!;
      const rps = ss.reduce((a, s) => a + s.requests, 0) / ss.reduce((a, s) => a + s.seconds, 0);
      const lat = ss.flatMap((s) => s.latenciesMs);
      if (!direct) direct = rps;
      const rel = t === targets[0] ? "" : `  (${((rps / direct - 1) * 100).toFixed(1)}% vs direct)`;
      console.log(`${t.name.padEnd(30)} ${rps.toFixed(0).padStart(7)} ${pct(lat, 50).toFixed(2).padStart(8)} ${pct(lat, 99).toFixed(2).padStart(8)}  ${ss.reduce((a, s) => a + s.errors, 0)}${rel}`);
    }
  }
  console.log(`\nload average ${loadavg().map((l) => l.toFixed(1)).join(" ")} (the machine is shared)`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(work, { recursive: true, force: true });
  });
