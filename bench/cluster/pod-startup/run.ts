// Pod start-up benchmark (Kubernetes' pod-startup SLO shape, image already on the node):
//   npm run -s build && node --import tsx bench/cluster/pod-startup/run.ts [--pods 100] [--parallel 10] [--gantry DIR]
// --gantry runs the server and agent of another built checkout (DIR/bin/gantry; e.g. a scratch
// `git worktree` of main as "before"), so two builds can be measured side by side in one session.
// Starts `gantry server --no-agent` and one `gantry agent` as separate processes (so the
// agent's memory is its own), imports a busybox image into the node's engine, then keeps
// --parallel pods starting at a time until --pods run: each slot creates a pod and waits for
// the watch to show it Running before creating the next. It prints the p50/p99/max of
// create→Running as a client sees it, the agent's RSS with every pod running (and how much of it
// is its own anonymous memory; again, with its open sockets, once it has been quiet 12 s) and
// the CPU it used, the PSS of the
// per-container monitors beside it (they are separate processes, as conmon/containerd-shim
// are), and the load average (the machine is shared). Targets (issue 12): p99 ≤ 1 s; agent RSS
// ≤ 60 MB with 100 pods. Everything it made is removed at the end.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client, Informer, type KubeObject } from "../../../src/cluster/client/index.ts";

const { values } = parseArgs({ options: { pods: { type: "string", default: "100" }, parallel: { type: "string", default: "10" }, gantry: { type: "string" } } });
const PODS = Number(values.pods);
const PARALLEL = Number(values.parallel);
const REPO = join(import.meta.dirname, "../../..");
const GANTRY = join(values.gantry ?? REPO, "bin/gantry");
const NODE = "bench-node";
const BRIDGE = "gtpodbench0";
const IMAGE = "gantry.local/busybox:pod-startup";
/** How long after the first reading the agent's memory is read again. */
const QUIET_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const statusKb = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
const rollupKb = (pid: number, field: string) => {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const pssKb = (pid: number) => rollupKb(pid, "Pss");
/** How many sockets a process has open (connections and listeners). */
const socketCount = (pid: number) =>
  readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
/** User and system CPU seconds a process has used (/proc/PID/stat fields 14 and 15). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
};
/** Processes whose command line mentions the bench's directory and are not the agent or server: the monitors. */
const monitorPids = (dir: string, exclude: number[]) =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && !exclude.includes(Number(d)))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").includes(dir) && !readFileSync(`/proc/${d}/cmdline`, "utf8").includes("gantry-pause");
      } catch {
        return false;
      }
    })
    .map(Number);

function start(name: string, args: string[], logs: Map<string, string>): ChildProcess {
  const child = spawn(GANTRY, args, { stdio: ["ignore", "pipe", "pipe"] });
  logs.set(name, "");
  const keep = (d: Buffer) => logs.set(name, (logs.get(name)! + d.toString()).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return child;
}
async function until(what: string, ok: () => boolean, ms: number, logs: Map<string, string>): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(100)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${[...logs].map(([n, l]) => `--- ${n}\n${l}`).join("\n")}`);
  }
}
async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(30_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

const dir = mkdtempSync(join(tmpdir(), "gantry-pod-startup-"));
const logs = new Map<string, string>();
let server: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let client: Client | undefined;
try {
  const port = await freePort();
  const serverDir = join(dir, "server");
  const agentRoot = join(dir, "agent");
  server = start("server", ["server", "--data-dir", serverDir, "--listen", `127.0.0.1:${port}`, "--no-agent"], logs);
  const kubeconfig = join(serverDir, "admin.kubeconfig");
  await until("gantry server", () => existsSync(kubeconfig) && /listening on/.test(logs.get("server")!), 30_000, logs);
  const token = spawnSync(GANTRY, ["server", "token", "create", "--node", NODE, "--kubeconfig", kubeconfig], { encoding: "utf8" });
  if (token.status !== 0) throw new Error(`token create: ${token.stderr}`);
  writeFileSync(join(dir, "node.token"), token.stdout.trim(), { mode: 0o600 });
  agent = start("agent", ["agent", "--server", `https://127.0.0.1:${port}`, "--token-file", join(dir, "node.token"), "--ca-file", join(serverDir, "tls", "ca.crt"), "--data-root", agentRoot, "--pod-bridge", BRIDGE, "--pod-subnet", "10.42.201.0/24"], logs);
  await until("the agent to join", () => /joined/.test(logs.get("agent")!), 60_000, logs);
  const image = spawnSync(join(REPO, "scripts/make-busybox-image.sh"), [IMAGE], { encoding: "utf8", env: { ...process.env, GANTRY_HOST: `unix://${join(agentRoot, "engine.sock")}` } });
  if (image.status !== 0) throw new Error(`importing the image: ${image.stderr}`);

  client = Client.fromKubeconfig(kubeconfig);
  const pods = client.resource({ group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true });
  const running = new Map<string, () => void>();
  const informer = new Informer(pods);
  const seen = (p: KubeObject) => {
    if ((p.status as { phase?: string } | undefined)?.phase === "Running") running.get(p.metadata.name!)?.();
  };
  informer.addHandlers({ onAdd: seen, onUpdate: (_o, p) => seen(p) });
  informer.start();
  await informer.whenSynced();

  const pod = (name: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { app: "pod-startup" } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "app", image: IMAGE, imagePullPolicy: "Never", command: ["sleep", "3600"] }] },
  });
  const startOne = async (name: string): Promise<number> => {
    const isRunning = new Promise<void>((resolve) => running.set(name, resolve));
    const t = performance.now();
    await pods.create("default", pod(name));
    // The deadline's timer is unref'd: once every pod runs it must not hold the bench open 120 s.
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} not Running after 120 s:\n${logs.get("agent")}`)), 120_000).unref());
    await Promise.race([isRunning, deadline]);
    return performance.now() - t;
  };

  // One pod first, not counted: the node's first sandbox imports the pause image.
  await startOne("warm-up");
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < PODS) latencies.push(await startOne(`bench-${next++}`));
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  await sleep(2000);
  const agentRss = statusKb(agent.pid!, "VmRSS") / 1024;
  const agentPeak = statusKb(agent.pid!, "VmHWM") / 1024;
  const agentPss = pssKb(agent.pid!) / 1024;
  const agentAnon = rollupKb(agent.pid!, "Anonymous") / 1024;
  const agentCpu = cpuSeconds(agent.pid!);
  const agentSockets = socketCount(agent.pid!);
  const monitors = monitorPids(dir, [agent.pid!, server.pid!]);
  // Again once the node has been quiet a while: what a node with 100 pods holds, past the burst.
  await sleep(QUIET_MS);
  const quietRss = statusKb(agent.pid!, "VmRSS") / 1024;
  const quietAnon = rollupKb(agent.pid!, "Anonymous") / 1024;
  const quietSockets = socketCount(agent.pid!);
  const monitorPss = monitors.reduce((sum, pid) => sum + pssKb(pid), 0) / 1024;
  latencies.sort((a, b) => a - b);
  console.log(`${PODS} pods, ${PARALLEL} starting at a time, on one node (image present, imagePullPolicy Never); gantry: ${GANTRY}`);
  console.log(`create→Running: p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms, max ${latencies[latencies.length - 1]!.toFixed(0)} ms (target p99 ≤ 1000 ms)`);
  console.log(`all ${PODS} Running after ${wall.toFixed(1)} s (${(PODS / wall).toFixed(1)} pods/s)`);
  console.log(`agent RSS with ${PODS + 1} pods: ${agentRss.toFixed(1)} MB (peak ${agentPeak.toFixed(1)} MB, PSS ${agentPss.toFixed(1)} MB; target ≤ 60 MB)`);
  console.log(`  of which the agent's own (anonymous) memory ${agentAnon.toFixed(1)} MB; the rest is file pages, mostly node's binary, shared with every node process`);
  console.log(`  ${agentSockets} sockets open; ${(2 + QUIET_MS / 1000).toFixed(0)} s after the last pod ran: RSS ${quietRss.toFixed(1)} MB, anonymous ${quietAnon.toFixed(1)} MB, ${quietSockets} sockets`);
  console.log(`agent CPU since it started: user ${agentCpu.user.toFixed(2)} s, system ${agentCpu.system.toFixed(2)} s`);
  console.log(`per-container monitors beside it: ${monitors.length} processes, PSS ${monitorPss.toFixed(1)} MB in all`);
  console.log(`load average: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (cpus: ${cpus().length})`);
  await informer.stop();
} finally {
  // Pods outlive their agent by design, so they are deleted through it before it stops.
  if (client && agent && agent.exitCode === null) {
    const pods = client.resource({ group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true });
    const list = await pods.list("default").catch(() => ({ items: [] as KubeObject[] }));
    await Promise.all(list.items.map((p) => pods.delete("default", p.metadata.name!).catch(() => undefined)));
    for (let i = 0; i < 600; i++) {
      const left = await pods.list("default").catch(() => ({ items: [] }));
      if (left.items.length === 0) break;
      await sleep(250);
    }
  }
  await stop(agent);
  await stop(server);
  spawnSync("ip", ["link", "del", BRIDGE]);
  spawnSync("umount", ["-R", "-l", dir]);
  rmSync(dir, { recursive: true, force: true });
}
