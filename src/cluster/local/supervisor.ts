// A cluster's processes, kept running after `gantry cluster create` exits: one supervisor per
// cluster (`gantry cluster _supervise`, detached in its own session) runs the control plane
// (`gantry server --no-agent`, listening on the cluster bridge) and one `gantry agent` per
// node inside the node's network namespace (nsenter --net), and starts again whichever exits
// (1 s back-off doubling to 30 s, reset after a minute up) — what Docker's restart policy
// does for kind's node containers. SIGTERM stops the agents, then the server, then itself.
// Each child's pid and start time go to STATE/processes.json, so `delete` can find them
// even if the supervisor itself was killed.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../common/atomic-file.ts";
import { describeError } from "../../common/errors.ts";
import { readProcStat } from "../../common/process-identity.ts";
import { Client } from "../client/index.ts";
import type { ClusterRecord, NodeRecord } from "./cluster-record.ts";

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
  argv: string[];
  proc?: ChildProcess;
  backoffMs: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

export function agentArgv(self: SelfCommand, rec: ClusterRecord, n: NodeRecord): string[] {
  return [
    "nsenter", `--net=/run/netns/${n.netns}`, "--",
    ...self, "agent",
    "--server", rec.serverUrl,
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
  const add = (role: string, argv: string[]) => {
    const c: Child = { role, argv, backoffMs: 1000, startedAt: 0 };
    children.push(c);
    start(c);
  };

  const done = new Promise<void>((resolve) => {
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      log("stopping the cluster's processes");
      // Agents first (they leave their pods' containers to delete), then the API server.
      for (const group of [children.filter((c) => c.role !== "server"), children.filter((c) => c.role === "server")]) {
        await Promise.all(group.map((c) => stopChild(c)));
      }
      record();
      resolve();
    };
    process.once("SIGTERM", () => void stop());
    process.once("SIGINT", () => void stop());
  });

  add("server", serverArgv(self, rec));
  try {
    await untilApiAnswers(rec.kubeconfig, () => stopping);
    for (const n of rec.nodes) if (!existsSync(n.tokenFile)) await makeToken(self, rec, n);
    for (const n of rec.nodes) add(n.name, agentArgv(self, rec, n));
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
