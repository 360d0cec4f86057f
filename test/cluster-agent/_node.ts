// Test fixture: a cluster with one real node. The API server runs in this process (SQLite,
// startTestCluster); the node is `gantry agent` in a child process joined with a node token
// over HTTPS, so tests can SIGKILL and restart it. Its engine has its own data root (with the
// busybox image made offline), pod bridge and subnet. Cleanup leaves no container, monitor,
// mount, cgroup or bridge behind, even after a failed test.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { createNodeToken } from "../../src/cluster/api/index.ts";
import { Client } from "../../src/cluster/client/index.ts";
import { startTestCluster, kubectlMissing, type TestCluster } from "../cluster-api/_server.ts";
import { makeBusyboxImage, skipReason as engineSkipReason } from "../engine/_daemon.ts";
import { proxyTableName } from "../../src/cluster/proxy/index.ts";
import { netpolTableName } from "../../src/cluster/netpol/index.ts";
import { ruleNamesOf } from "../../src/network/index.ts";

export const repo = resolve(import.meta.dirname, "..", "..");

export function skipReason(): string | false {
  if (kubectlMissing) return kubectlMissing;
  if (!existsSync(join(repo, "native", "build", "gantry-pause"))) return "the pod sandbox binary is not built (make -C native)";
  return engineSkipReason() ?? false;
}

export interface TestNode {
  cluster: TestCluster;
  admin: Client;
  name: string;
  dataRoot: string;
  engineSocket: string;
  bridge: string;
  subnet: string;
  log: string[];
  child?: ChildProcess;
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  kubectl(args: string[], input?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** What bin/gantry runs `gantry agent` with (test/tooling/launcher.test.ts checks the launcher). */
const AGENT_NODE_FLAGS = ["--max-semi-space-size=1", "--no-opt", "--no-maglev", "--optimize-for-size", "--expose-gc"];
const AGENT_MALLOC_ENV = { MALLOC_ARENA_MAX: "2", MALLOC_TRIM_THRESHOLD_: "32768", MALLOC_MMAP_THRESHOLD_: "32768" };

export async function startTestNode(clusterOptions: Parameters<typeof startTestCluster>[0] = {}): Promise<TestNode> {
  const cluster = await startTestCluster(clusterOptions);
  const admin = new Client(cluster.server.inProcessTransport());
  const tag = randomBytes(3).toString("hex");
  const name = `node-${tag}`;
  const dataRoot = join(cluster.dir, "agent");
  const tokenFile = join(cluster.dir, "node.token");
  const caFile = join(cluster.dir, "ca.crt");
  writeFileSync(tokenFile, (await createNodeToken(admin, name, undefined)).token, { mode: 0o600 });
  writeFileSync(caFile, cluster.server.caCert);
  await makeBusyboxImage(dataRoot);
  const octet = 100 + (randomBytes(1)[0]! % 100);
  const node: TestNode = {
    cluster,
    admin,
    name,
    dataRoot,
    engineSocket: join(dataRoot, "engine.sock"),
    bridge: `gta${tag}`,
    subnet: `10.97.${octet}.0/24`,
    log: [],
    async start() {
      rmSync(node.engineSocket, { force: true });
      // With the V8 flags and malloc settings bin/gantry gives `gantry agent`: the agent under test runs as users run it.
      const args = [...AGENT_NODE_FLAGS, "--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "agent", "--server", cluster.server.url, "--token-file", tokenFile, "--ca-file", caFile, "--data-root", dataRoot, "--pod-bridge", node.bridge, "--pod-subnet", node.subnet];
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: repo, env: { ...process.env, ...AGENT_MALLOC_ENV } });
      node.child = child;
      child.stdout.on("data", (b: Buffer) => node.log.push(b.toString()));
      child.stderr.on("data", (b: Buffer) => node.log.push(b.toString()));
      const mark = node.log.length;
      await until(`the agent to join:\n${node.log.join("")}`, () => {
        if (child.exitCode !== null) throw new Error(`the agent exited ${child.exitCode}:\n${node.log.join("")}`);
        return node.log.slice(mark).join("").includes("joined") || undefined;
      });
    },
    async kill(signal) {
      const child = node.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
    async kubectl(args, input) {
      const r = await cluster.kubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    async cleanup() {
      // Pods first, through the agent while it runs: it stops and removes their containers.
      if (node.child && node.child.exitCode === null && node.child.signalCode === null) {
        await cluster.kubectl(["delete", "pods", "--all", "--grace-period=1", "--timeout=60s"]).catch(() => undefined);
      }
      await node.kill("SIGTERM");
      removeNodeLeftovers(dataRoot, cluster.dir);
      spawnSync("ip", ["link", "del", node.bridge]);
      await cluster.stop();
      assertNoRulesFor(node.subnet);
    },
  };
  return node;
}

/**
 * Whatever a node's engine left (after a failed test or a SIGKILL): its containers' processes
 * and monitors, their pods' cgroups under kubepods, the mounts below dir, the node's service
 * proxy and NetworkPolicy tables (an agent killed with SIGKILL cannot delete them), and its
 * engine's pod-network rules (the engine keeps those across restarts on purpose: containers
 * outlive it; ruleNamesOf(<engine root>/network)).
 */
export function removeNodeLeftovers(dataRoot: string, dir: string): void {
  spawnSync("nft", ["delete", "table", "ip", proxyTableName(dataRoot)], { stdio: "ignore" });
  spawnSync("nft", ["delete", "table", "ip", netpolTableName(dataRoot)], { stdio: "ignore" });
  removeEngineNetworkRules(dataRoot);
  const uids = new Set<string>();
  const containersDir = join(dataRoot, "engine", "containers");
  for (const id of existsSync(containersDir) ? readdirSync(containersDir) : []) {
    try {
      const rec = JSON.parse(readFileSync(join(containersDir, id, "container.json"), "utf8")) as { State: { Pid: number }; MonitorPid: number; Config: { Labels?: Record<string, string> } };
      const uid = rec.Config.Labels?.["io.kubernetes.pod.uid"];
      if (uid) uids.add(uid);
      for (const pid of [rec.State.Pid, rec.MonitorPid]) if (pid > 0) spawnSync("kill", ["-9", String(pid)]);
    } catch {
      /* no record */
    }
  }
  spawnSync("sleep", ["0.2"]);
  for (const ctl of readdirSync("/sys/fs/cgroup")) {
    for (const tier of ["", "burstable", "besteffort"]) {
      for (const uid of uids) {
        const pod = join("/sys/fs/cgroup", ctl, "kubepods", tier, `pod${uid}`);
        if (!existsSync(pod)) continue;
        for (const leaf of readdirSync(pod, { withFileTypes: true }).filter((e) => e.isDirectory())) spawnSync("rmdir", [join(pod, leaf.name)]);
        spawnSync("rmdir", [pod]);
      }
      // Shared levels go only when empty (rmdir refuses otherwise): another node may use them.
      const level = join("/sys/fs/cgroup", ctl, "kubepods", tier);
      if (tier && existsSync(level)) spawnSync("rmdir", [level]);
    }
    if (existsSync(join("/sys/fs/cgroup", ctl, "kubepods"))) spawnSync("rmdir", [join("/sys/fs/cgroup", ctl, "kubepods")]);
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n").reverse()) {
    const target = line.split(" ")[4];
    if (target?.startsWith(`${dir}/`)) spawnSync("umount", ["-l", target]);
  }
}

/** The engine's per-root rules: its nft table and iptables FORWARD chain (as removeNetworkRules, synchronously). */
function removeEngineNetworkRules(dataRoot: string): void {
  const names = ruleNamesOf(join(dataRoot, "network"));
  spawnSync("nft", ["delete", "table", "inet", names.table], { stdio: "ignore" });
  while (spawnSync("iptables", ["-w", "-D", "FORWARD", "-j", names.chain], { stdio: "ignore" }).status === 0) {
    /* every jump to it */
  }
  spawnSync("iptables", ["-w", "-F", names.chain], { stdio: "ignore" });
  spawnSync("iptables", ["-w", "-X", names.chain], { stdio: "ignore" });
}

/**
 * Fails the test that leaked: any nft rule or iptables rule still naming the node's pod subnet
 * after its cleanup (a table of a name the cleanup does not know of, a rule left in a shared one).
 */
export function assertNoRulesFor(subnet: string): void {
  const nft = spawnSync("nft", ["list", "ruleset"], { encoding: "utf8" }).stdout ?? "";
  const iptables = spawnSync("iptables-save", [], { encoding: "utf8" }).stdout ?? "";
  const left = [...nft.split("\n"), ...iptables.split("\n")].filter((l) => l.includes(subnet));
  if (left.length) throw new Error(`rules for the node's pod subnet ${subnet} are left after cleanup:\n${left.join("\n")}`);
}
