// `gantry cluster create|list|delete`: local multi-node clusters as kind and k3d make them, with
// network namespaces where they use containers; with --servers N, an HA control plane (N
// servers with stacked etcd members, a loopback balancer for kubectl; supervisor.ts). create records the cluster, makes its host
// network (host-network.ts), starts its supervisor (supervisor.ts) detached and waits until
// every node is Ready; delete stops the supervisor and removes every process, mount, cgroup,
// namespace, link and table of the cluster (sweep.ts), then its directory.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { GantryError, invalidArgument, conflict } from "../../common/errors.ts";
import { withPidLock } from "../../common/pid-lock.ts";
import { isSameLiveProcess, readProcStat } from "../../common/process-identity.ts";
import { Client, type KubeObject } from "../client/index.ts";
import { clusterDir, EXEC_ROOT_BASE, listClusterRecords, MAX_NODES, MAX_SERVERS, planCluster, readClusterRecord, validateClusterName, writeClusterRecord, type ClusterRecord } from "./cluster-record.ts";
import { chooseBridgeSubnet, setUpHostNetwork, tearDownHostNetwork } from "./host-network.ts";
import { killClusterProcesses, removeClusterCgroups, unmountUnder } from "./sweep.ts";
import { ETCD_BINARY, logPath, type SelfCommand } from "./supervisor.ts";

export interface CreateClusterOptions {
  stateDir: string;
  name: string;
  nodes: number;
  /** API servers: 1 (on the host), or an odd number up to MAX_SERVERS for HA (each with an etcd member). */
  servers?: number;
  /** How to run this gantry again (for the supervisor and its children). */
  self: SelfCommand;
  /** Also write the admin kubeconfig here. */
  kubeconfig?: string;
  /** Registries the nodes may pull from over plain HTTP (a registry on the host at the bridge address). */
  insecureRegistries?: string[];
  /** How long to wait for every node to be Ready. */
  timeoutMs?: number;
  log?: (m: string) => void;
}

export async function createCluster(o: CreateClusterOptions): Promise<ClusterRecord> {
  validateClusterName(o.name);
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES) throw invalidArgument(`--nodes must be a whole number from 1 to ${MAX_NODES}, not ${o.nodes}`);
  const servers = o.servers ?? 1;
  if (!Number.isInteger(servers) || servers < 1 || servers > MAX_SERVERS) throw invalidArgument(`--servers must be a whole number from 1 to ${MAX_SERVERS}, not ${o.servers}`);
  if (servers > 1 && servers % 2 === 0) throw invalidArgument(`--servers ${servers}: etcd needs a majority, so ${servers} servers survive no more failures than ${servers - 1}; use an odd number`);
  if (servers > 1 && !existsSync(ETCD_BINARY)) throw new GantryError("UNSUPPORTED_OPTION", `an HA cluster runs etcd, and ${ETCD_BINARY} is absent`, { hint: "apt-get install etcd-server" });
  mkdirSync(o.stateDir, { recursive: true });
  const log = o.log ?? (() => undefined);
  const rec = await withPidLock(join(o.stateDir, ".lock"), async () => {
    if (existsSync(clusterDir(o.stateDir, o.name))) throw conflict(`cluster "${o.name}" already exists in ${o.stateDir}`, { hint: `gantry cluster delete ${o.name}` });
    const subnet = await chooseBridgeSubnet(listClusterRecords(o.stateDir).map((c) => c.subnet));
    const planned = planCluster(o.stateDir, o.name, o.nodes, subnet, servers > 1 ? { servers, balancerPort: await freeLoopbackPort() } : undefined);
    if (o.insecureRegistries?.length) planned.insecureRegistries = o.insecureRegistries;
    mkdirSync(join(planned.dir, "logs"), { recursive: true, mode: 0o700 });
    writeClusterRecord(planned);
    return planned;
  }, { what: "the cluster state directory" });
  try {
    log(`network: bridge ${rec.bridge} ${rec.subnet}, ${rec.nodes.length} node namespaces${rec.servers ? `, ${rec.servers.length} server namespaces` : ""}`);
    await setUpHostNetwork(rec);
    rec.supervisor = startSupervisor(rec, o.self, o.stateDir);
    writeClusterRecord(rec);
    log(`control plane at ${rec.serverUrl}; waiting for ${rec.nodes.length} nodes to be Ready`);
    await untilNodesReady(rec, o.timeoutMs ?? 180_000);
    if (o.kubeconfig) copyFileSync(rec.kubeconfig, o.kubeconfig);
    return rec;
  } catch (err) {
    const serverRoles = rec.servers ? rec.servers.flatMap((x) => [x.name, `${x.name}-etcd`]) : ["server"];
    const tails = ["supervisor", ...serverRoles, ...rec.nodes.map((n) => n.name)].map((r) => logTail(rec, r)).filter(Boolean).join("\n");
    await deleteCluster(o.stateDir, o.name).catch(() => undefined);
    throw new GantryError(err instanceof GantryError ? err.code : "INTERNAL", `cluster ${o.name} did not come up: ${(err as Error).message}${tails ? `\n${tails}` : ""}`);
  }
}

/** A loopback port free now, for the HA cluster's balancer (kept in the record, so restarts reuse it). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function logTail(rec: ClusterRecord, role: string): string {
  try {
    const lines = readFileSync(logPath(rec, role), "utf8").trim().split("\n").slice(-8);
    return `--- ${role}:\n${lines.join("\n")}`;
  } catch {
    return "";
  }
}

function startSupervisor(rec: ClusterRecord, self: SelfCommand, stateDir: string): { pid: number; startTime: number } {
  const out = openSync(logPath(rec, "supervisor"), "a");
  // Its own session: it outlives the CLI and no terminal signal reaches it.
  const child = spawn(self[0]!, [...self.slice(1), "cluster", "--state-dir", stateDir, "_supervise", rec.name], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  const st = readProcStat(child.pid!);
  if (!child.pid || !st) throw new GantryError("INTERNAL", `the cluster supervisor did not start (see ${logPath(rec, "supervisor")})`);
  return { pid: child.pid, startTime: st.startTime };
}

const isReady = (n: KubeObject) => ((n.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

async function untilNodesReady(rec: ClusterRecord, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "the API server did not answer";
  while (Date.now() < deadline) {
    if (rec.supervisor && !isSameLiveProcess(rec.supervisor.pid, rec.supervisor.startTime)) throw new GantryError("INTERNAL", "the cluster supervisor exited");
    if (existsSync(rec.kubeconfig)) {
      try {
        const client = Client.fromKubeconfig(rec.kubeconfig);
        const nodes = (await client.resource({ group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false }).list(undefined)).items;
        const ready = rec.nodes.filter((n) => nodes.some((x) => x.metadata.name === n.name && isReady(x)));
        if (ready.length === rec.nodes.length) return;
        last = `${ready.length} of ${rec.nodes.length} nodes Ready`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new GantryError("UNAVAILABLE", `timed out after ${Math.round(timeoutMs / 1000)} s: ${last}`);
}

export interface ClusterSummary {
  name: string;
  /** API servers (1, or an HA cluster's count). */
  servers: number;
  nodes: number;
  running: boolean;
  server: string;
  kubeconfig: string;
}

export function listClusters(stateDir: string): ClusterSummary[] {
  return listClusterRecords(stateDir).map((r) => ({
    name: r.name,
    servers: r.servers?.length ?? 1,
    nodes: r.nodes.length,
    running: !!r.supervisor && isSameLiveProcess(r.supervisor.pid, r.supervisor.startTime),
    server: r.serverUrl,
    kubeconfig: r.kubeconfig,
  }));
}

/** Stops the supervisor (it stops the agents and the server) and waits, up to 60 s. */
async function stopSupervisor(rec: ClusterRecord): Promise<void> {
  const s = rec.supervisor;
  if (!s || !isSameLiveProcess(s.pid, s.startTime)) return;
  process.kill(s.pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (isSameLiveProcess(s.pid, s.startTime) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** Removes the cluster and everything it made; throws naming what could not be removed. */
export async function deleteCluster(stateDir: string, name: string): Promise<void> {
  const rec = readClusterRecord(stateDir, name);
  await stopSupervisor(rec);
  const problems: string[] = [];
  const left = await killClusterProcesses(rec);
  if (left.length) problems.push(`processes still running: ${left.join(", ")}`);
  const execRoots = join(EXEC_ROOT_BASE, rec.id);
  const mounts = [...(await unmountUnder(rec.dir)), ...(await unmountUnder(execRoots))];
  if (mounts.length) problems.push(`mounts left: ${mounts.join(", ")}`);
  await tearDownHostNetwork(rec);
  const cgroups = removeClusterCgroups(rec);
  if (cgroups.length) problems.push(`cgroups left: ${cgroups.join(", ")}`);
  if (problems.length) throw new GantryError("INTERNAL", `cluster ${name} was not removed completely: ${problems.join("; ")}`, { hint: `run gantry cluster delete ${name} again` });
  rmSync(execRoots, { recursive: true, force: true });
  try {
    rmdirSync(EXEC_ROOT_BASE);
  } catch {
    // other clusters' exec roots are there
  }
  rmSync(rec.dir, { recursive: true, force: true });
}
