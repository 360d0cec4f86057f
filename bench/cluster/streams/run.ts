// Streaming verbs benchmark (root): what going through the API server and the node's kubelet
// server costs next to the node engine's own Docker API, on one real node (the kubectl test
// fixture: API server in this process on SQLite, `gantry agent` as a child). Side by side, in
// interleaved rounds:
//   - a short exec:     `kubectl exec web -- true`          vs `docker -H <node engine> exec <ctr> true`
//   - exec throughput:  `… exec … head -c 100MB /dev/zero`   (bytes read from the CLI's stdout)
//   - port-forward:     a 50 MB download through `kubectl port-forward` vs straight to the pod's IP
// Usage (root): npx tsx bench/cluster/streams/run.ts [--rounds 10]
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KUBECTL } from "../../../test/cluster-api/_server.ts";
import { startTestNode, until } from "../../../test/cluster-agent/_node.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "10" } } });
const ROUNDS = Number(values.rounds);
if (process.getuid?.() !== 0) throw new Error("run as root");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Runs a command; resolves with its wall time (ms) and the bytes it wrote to stdout. */
function timed(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (bytes += b.length));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("exit", (code) => (code === 0 ? resolve({ ms: performance.now() - start, bytes }) : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${stderr}`))));
  });
}

async function download(url: string): Promise<{ ms: number; bytes: number }> {
  const start = performance.now();
  const body = await (await fetch(url)).arrayBuffer();
  return { ms: performance.now() - start, bytes: body.byteLength };
}

const node = await startTestNode();
try {
  await node.start();
  const env = node.cluster.env;
  const kubectl = (args: string[]) => [KUBECTL, ["--cache-dir", join(node.cluster.dir, "cache"), ...args]] as const;
  await node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "web" }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sh", "-c", "mkdir -p /www && head -c 50000000 /dev/zero > /www/big && exec httpd -f -p 8080 -h /www"] }] } }));
  const podIP = await until("web Running", async () => {
    const p = JSON.parse(await node.kubectl(["get", "pod", "web", "-o", "json"])) as { status?: { phase?: string; podIP?: string } };
    return p.status?.phase === "Running" ? p.status.podIP : undefined;
  });
  const ctr = (await node.kubectl(["get", "pod", "web", "-o", "jsonpath={.status.containerStatuses[0].containerID}"])).replace(/^gantry:\/\//, "");
  const docker = (args: string[]) => ["docker", ["-H", `unix://${node.engineSocket}`, ...args]] as const;

  const pf = spawn(...kubectl(["port-forward", "pod/web", ":8080"]), { env, stdio: ["ignore", "pipe", "pipe"] });
  let pfOut = "";
  pf.stdout.on("data", (b: Buffer) => (pfOut += b.toString()));
  const localPort = Number(/127\.0\.0\.1:(\d+)/.exec(await until("port-forward", () => (/127\.0\.0\.1:\d+/.test(pfOut) ? pfOut : undefined)))![1]);

  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  const mbps = (r: { ms: number; bytes: number }) => r.bytes / 1e6 / (r.ms / 1000);
  for (let i = 0; i < ROUNDS; i++) {
    add("exec true, kubectl (ms)", (await timed(...kubectl(["exec", "web", "--", "true"]), env)).ms);
    add("exec true, docker -H node (ms)", (await timed(...docker(["exec", ctr, "true"]), env)).ms);
    add("exec 100 MB out, kubectl (MB/s)", mbps(await timed(...kubectl(["exec", "web", "--", "head", "-c", "100000000", "/dev/zero"]), env)));
    add("exec 100 MB out, docker -H node (MB/s)", mbps(await timed(...docker(["exec", ctr, "head", "-c", "100000000", "/dev/zero"]), env)));
    add("50 MB via port-forward (MB/s)", mbps(await download(`http://127.0.0.1:${localPort}/big`)));
    add("50 MB straight to the pod IP (MB/s)", mbps(await download(`http://${podIP}:8080/big`)));
  }
  pf.kill("SIGTERM");
  console.log(`rounds ${ROUNDS}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  for (const [k, v] of Object.entries(samples)) console.log(`${k.padEnd(42)} median ${median(v).toFixed(1)}`);
  const r = (a: string, b: string) => (median(samples[a]!) / median(samples[b]!)).toFixed(2);
  console.log(`ratios: exec latency kubectl/docker ${r("exec true, kubectl (ms)", "exec true, docker -H node (ms)")}, exec throughput kubectl/docker ${r("exec 100 MB out, kubectl (MB/s)", "exec 100 MB out, docker -H node (MB/s)")}, port-forward/direct ${r("50 MB via port-forward (MB/s)", "50 MB straight to the pod IP (MB/s)")}`);
} finally {
  await node.cleanup();
}
