// A cluster's processes, kept running after `gantry cluster create` exits: one supervisor per
// cluster (`gantry cluster _supervise`, detached in its own session) runs the control plane
// (`gantry server --no-agent`, listening on the cluster bridge) and one `gantry agent` per
// node inside the node's network namespace (nsenter --net), and starts again whichever exits
// (1 s back-off doubling to 30 s, reset after a minute up) — what Docker's restart policy
// does for kind's node containers. SIGTERM stops the agents, then the server, then itself.
// Each child's pid and start time go to STATE/processes.json, so `delete` can find them
// even if the supervisor itself was killed.
//
// An HA cluster (--servers N): N server namespaces, each with an etcd member and a `gantry
// server --etcd-endpoints` (kubeadm's stacked etcd). The first server starts alone, making
// the cluster's CA, ServiceAccount signing key, front-proxy CA and admin token; those are
// copied to the others' data directories before they start, so every server signs and
// verifies the same way (a ServiceAccount token minted by one is good on all). The
// supervisor then serves the loopback balancer (balancer.ts) the cluster's kubeconfig names,
// and each agent gets every server's URL (its client moves to the next when one fails).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../common/atomic-file.ts";
import { describeError } from "../../common/errors.ts";
import { readProcStat } from "../../common/process-identity.ts";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { Client } from "../client/index.ts";
import { startBalancer, checkReady, type Balancer } from "./balancer.ts";
import type { ClusterRecord, NodeRecord, ServerRecord } from "./cluster-record.ts";

/** How to run this same gantry (node + its loader flags + the entry script), given by the CLI. */
export type SelfCommand = string[];

export interface ProcessRecord {
  role: string;
  pid: number;
  startTime: number;
}

export const processesPath = (rec: ClusterRecord) => join(rec.dir, "processes.json");
export const logPath = (rec: ClusterRecord, role: string) => join(rec.dir, "logs", `${role}.log`);

interface Child {
  role: string;
  /** Stopped in this order: agents, then servers, then etcd members. */
  kind: "agent" | "server" | "etcd";
  argv: string[];
  proc?: ChildProcess;
  backoffMs: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

export const ETCD_BINARY = "/usr/bin/etcd";

/**
 * The servers an agent is given, as one --server list: all of an HA cluster's, starting
 * after the first (which starts alone, so it usually holds the controllers' Lease and is the
 * busiest) and rotated per node to spread the agents; the one server otherwise.
 */
export function agentServers(rec: ClusterRecord, n: NodeRecord): string {
  const urls = rec.servers?.map((s) => s.url);
  if (!urls?.length) return rec.serverUrl;
  const start = (1 + rec.nodes.indexOf(n)) % urls.length;
  return [...urls.slice(start), ...urls.slice(0, start)].join(",");
}

export function agentArgv(self: SelfCommand, rec: ClusterRecord, n: NodeRecord): string[] {
  return [
    "nsenter", `--net=/run/netns/${n.netns}`, "--",
    ...self, "agent",
    "--server", agentServers(rec, n),
    "--token-file", n.tokenFile,
    "--ca-file", join(rec.serverDataDir, "tls", "ca.crt"),
    "--data-root", n.dataRoot,
    "--exec-root", n.execRoot,
    "--node-ip", n.address,
    "--cgroup-root", n.cgroupRoot,
    "--node-labels", `gantry.io/cluster=${rec.name}`,
    ...(rec.insecureRegistries ?? []).flatMap((r) => ["--insecure-registry", r]),
  ];
}

export function serverArgv(self: SelfCommand, rec: ClusterRecord): string[] {
  return [...self, "server", "--data-dir", rec.serverDataDir, "--listen", `${rec.gateway}:${new URL(rec.serverUrl).port}`, "--no-agent"];
}

/** An HA server: in its namespace, on the etcd cluster (its own member first). */
export function haServerArgv(self: SelfCommand, rec: ClusterRecord, s: ServerRecord): string[] {
  const endpoints = [s, ...rec.servers!.filter((o) => o !== s)].map((o) => o.etcdClientUrl);
  return ["nsenter", `--net=/run/netns/${s.netns}`, "--", ...self, "server", "--data-dir", s.dataDir, "--listen", `${s.address}:${new URL(s.url).port}`, "--no-agent", "--etcd-endpoints", endpoints.join(",")];
}

/** The etcd member beside an HA server; its flags only count the first time (a new data dir). */
export function etcdArgv(rec: ClusterRecord, s: ServerRecord): string[] {
  const cluster = rec.servers!.map((o) => `${o.name}=${o.etcdPeerUrl}`).join(",");
  return [
    "nsenter", `--net=/run/netns/${s.netns}`, "--",
    ETCD_BINARY,
    `--name=${s.name}`,
    `--data-dir=${s.etcdDataDir}`,
    `--listen-client-urls=${s.etcdClientUrl}`,
    `--advertise-client-urls=${s.etcdClientUrl}`,
    `--listen-peer-urls=${s.etcdPeerUrl}`,
    `--initial-advertise-peer-urls=${s.etcdPeerUrl}`,
    `--initial-cluster=${cluster}`,
    "--initial-cluster-state=new",
    `--initial-cluster-token=gantry-${rec.id}`,
    "--logger=zap",
    "--log-outputs=stderr",
  ];
}

/** What every HA server must share (kube's "certificates to copy between control-plane nodes" list, plus the admin token). */
export const SHARED_CREDENTIALS = ["tls/ca.crt", "tls/ca.key", "tls/sa.key", "tls/front-proxy-ca.crt", "tls/front-proxy-ca.key", "token"];

/** Copies the first server's shared credentials to another server's data directory (what is there already stays). */
export function shareCredentials(from: ServerRecord, to: ServerRecord): void {
  mkdirSync(join(to.dataDir, "tls"), { recursive: true, mode: 0o700 });
  for (const f of SHARED_CREDENTIALS) {
    if (!existsSync(join(from.dataDir, f))) throw new Error(`${join(from.dataDir, f)} is missing: the first server has not made its credentials`);
    if (!existsSync(join(to.dataDir, f))) copyFileSync(join(from.dataDir, f), join(to.dataDir, f));
  }
}

/** The cluster's admin kubeconfig: the first server's, naming the balancer instead. */
function writeBalancedKubeconfig(rec: ClusterRecord): void {
  const config = parseYaml(readFileSync(join(rec.servers![0]!.dataDir, "admin.kubeconfig"), "utf8")) as { clusters?: { cluster?: { server?: string } }[] };
  for (const c of config.clusters ?? []) if (c.cluster) c.cluster.server = rec.serverUrl;
  writeFileAtomic(rec.kubeconfig, stringifyYaml(config), 0o600);
}

/** Until the server answers /readyz and has written its admin kubeconfig (a moment after it listens). */
async function untilServerReady(s: ServerRecord, stopping: () => boolean): Promise<void> {
  const caFile = join(s.dataDir, "tls", "ca.crt");
  while (!stopping()) {
    if (existsSync(caFile) && (await checkReady(s.url, readFileSync(caFile, "utf8"))) && existsSync(join(s.dataDir, "admin.kubeconfig"))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("stopped");
}

async function untilApiAnswers(kubeconfig: string, stopping: () => boolean): Promise<Client> {
  for (;;) {
    if (stopping()) throw new Error("stopped");
    if (existsSync(kubeconfig)) {
      try {
        const client = Client.fromKubeconfig(kubeconfig);
        await client.send("GET", "/readyz");
        return client;
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs `self server token create` for a node whose token file is missing (the supported way to make one). */
function makeToken(self: SelfCommand, rec: ClusterRecord, n: NodeRecord): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(self[0]!, [...self.slice(1), "server", "token", "create", "--node", n.name, "--kubeconfig", rec.kubeconfig], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0 || !out.trim()) return reject(new Error(`token for ${n.name}: ${err.trim()}`));
      mkdirSync(join(n.tokenFile, ".."), { recursive: true });
      writeFileAtomic(n.tokenFile, out.trim() + "\n", 0o600);
      resolve();
    });
  });
}

export async function superviseCluster(rec: ClusterRecord, self: SelfCommand, log: (m: string) => void): Promise<void> {
  mkdirSync(join(rec.dir, "logs"), { recursive: true });
  let stopping = false;
  const children: Child[] = [];
  const record = () => {
    const procs: ProcessRecord[] = [];
    for (const c of children) {
      const pid = c.proc?.pid;
      const st = pid ? readProcStat(pid) : undefined;
      if (pid && st && c.proc!.exitCode === null) procs.push({ role: c.role, pid, startTime: st.startTime });
    }
    writeJsonAtomic(processesPath(rec), procs, 0o600, false);
  };
  const start = (c: Child) => {
    const out = openSync(logPath(rec, c.role), "a");
    c.proc = spawn(c.argv[0]!, c.argv.slice(1), { stdio: ["ignore", out, out] });
    closeSync(out);
    c.startedAt = Date.now();
    c.proc.on("error", (err) => log(`${c.role}: ${err.message}`));
    c.proc.on("exit", (code, signal) => {
      record();
      if (stopping) return;
      if (Date.now() - c.startedAt > 60_000) c.backoffMs = 1000;
      log(`${c.role} exited (${signal ?? code}); starting it again in ${c.backoffMs} ms`);
      c.timer = setTimeout(() => start(c), c.backoffMs);
      c.backoffMs = Math.min(c.backoffMs * 2, 30_000);
    });
    record();
  };
  const add = (role: string, kind: Child["kind"], argv: string[]) => {
    const c: Child = { role, kind, argv, backoffMs: 1000, startedAt: 0 };
    children.push(c);
    start(c);
  };

  const done = new Promise<void>((resolve) => {
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      log("stopping the cluster's processes");
      // Agents first (they leave their pods' containers to delete), then the API servers, then etcd.
      for (const kind of ["agent", "server", "etcd"]) {
        await Promise.all(children.filter((c) => c.kind === kind).map((c) => stopChild(c)));
      }
      await balancer?.close();
      record();
      resolve();
    };
    process.once("SIGTERM", () => void stop());
    process.once("SIGINT", () => void stop());
  });

  let balancer: Balancer | undefined;
  try {
    const servers = rec.servers;
    if (servers?.length) {
      for (const s of servers) add(`${s.name}-etcd`, "etcd", etcdArgv(rec, s));
      add(servers[0]!.name, "server", haServerArgv(self, rec, servers[0]!));
      await untilServerReady(servers[0]!, () => stopping);
      for (const s of servers.slice(1)) {
        shareCredentials(servers[0]!, s);
        add(s.name, "server", haServerArgv(self, rec, s));
      }
      const caFile = join(rec.serverDataDir, "tls", "ca.crt");
      balancer = await startBalancer({ host: "127.0.0.1", port: Number(new URL(rec.serverUrl).port), servers: servers.map((s) => s.url), caCert: () => readFileSync(caFile, "utf8"), log });
      writeBalancedKubeconfig(rec);
    } else {
      add("server", "server", serverArgv(self, rec));
    }
    await untilApiAnswers(rec.kubeconfig, () => stopping);
    for (const n of rec.nodes) if (!existsSync(n.tokenFile)) await makeToken(self, rec, n);
    for (const n of rec.nodes) add(n.name, "agent", agentArgv(self, rec, n));
  } catch (err) {
    if (!stopping) log(`cluster ${rec.name}: ${describeError(err)}`);
  }
  await done;
}

async function stopChild(c: Child): Promise<void> {
  clearTimeout(c.timer);
  const p = c.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  p.kill("SIGTERM");
  const killer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(killer);
}

/** The processes the supervisor last recorded (pid and start time). */
export function readProcesses(rec: ClusterRecord): ProcessRecord[] {
  try {
    return JSON.parse(readFileSync(processesPath(rec), "utf8")) as ProcessRecord[];
  } catch {
    return [];
  }
}
