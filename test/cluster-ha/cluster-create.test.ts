// `gantry cluster create --servers 3 --nodes 1` as a user runs it: three API servers, each in
// its own network namespace with an etcd member, kubectl through the cluster's kubeconfig
// (a loopback balancer), one agent given every server. The server the agent is connected to
// is killed with SIGKILL: kubectl keeps answering, the agent moves to another server and
// resumes its watches from their resourceVersions (no LIST reaches the server it moved to),
// its pod keeps running, its Node stays Ready and a new pod starts. A ServiceAccount token
// minted by one server is good on another (shared signing key). Delete leaves nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { KUBECTL } from "../cluster-api/_server.ts";
import { etcdSkipReason } from "../cluster-store/_etcd.ts";
import { repo } from "../cluster-agent/_node.ts";
import { createTestCluster, IMAGE, runCmd, skip, type TestCluster } from "../cluster-network/_cluster.ts";

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** Sum of apiserver_request_total{verb="LIST"} on one server's /metrics. */
async function listRequests(url: string, token: string, ca: string): Promise<number> {
  const r = await runCmd(KUBECTL, ["--server", url, "--certificate-authority", ca, "--token", token, "get", "--raw", "/metrics"]);
  if (r.code !== 0) throw new Error(`metrics of ${url}: ${r.stderr}`);
  let sum = 0;
  for (const line of r.stdout.split("\n")) if (/^apiserver_request_total\{[^}]*verb="LIST"/.test(line)) sum += Number(line.split(" ").pop());
  return sum;
}

const podField = async (c: TestCluster, pod: string, path: string) => (await c.kubectl(["get", "pod", pod, "-o", `jsonpath={${path}}`])).trim();
const nodeReady = async (c: TestCluster, node: string) => (await c.kubectl(["get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`])).trim();

test("gantry cluster create --servers 3: kill -9 of the agent's server — kubectl, the agent's pods, its Node and new pods go on, watches resume without a relist; delete leaves nothing", { skip: skip ?? etcdSkipReason() }, async () => {
  const c = await createTestCluster(1, 3);
  const rec = c.rec;
  try {
    const servers = rec.servers!;
    assert.equal(servers.length, 3);
    const list = await runCmd(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "cluster", "--state-dir", join(c.dir, "clusters"), "list"]);
    assert.match(list.stdout, new RegExp(`^${rec.name}\\s+3\\s+1\\s+running\\s+https://127\\.0\\.0\\.1:\\d+\\s`, "m"));
    const ca = join(rec.serverDataDir, "tls", "ca.crt");
    const token = readFileSync(join(servers[0]!.dataDir, "token"), "utf8").trim();
    // Each server lives in its own namespace, its etcd member beside it.
    for (const s of servers) assert.equal(spawnSync("ip", ["netns", "exec", s.netns, "ip", "-4", "-o", "addr", "show", "eth0"], { encoding: "utf8" }).stdout.includes(`${s.address}/24`), true, s.name);

    // The kubernetes Service leads pods to every server (each keeps an endpoint Lease).
    const apiAddresses = servers.map((s) => s.address).sort().join(" ");
    await until("the kubernetes Endpoints to name all three servers", 60_000, async () => ((await c.kubectl(["get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[*].addresses[*].ip}"])).trim().split(" ").sort().join(" ") === apiAddresses ? true : undefined));

    // A ServiceAccount token minted by one server verifies on another.
    const saToken = (await runCmd(KUBECTL, ["--server", servers[0]!.url, "--certificate-authority", ca, "--token", token, "create", "token", "default", "-n", "default"])).stdout.trim();
    assert.match(saToken, /^ey/);
    const whoami = await runCmd(KUBECTL, ["--server", servers[2]!.url, "--certificate-authority", ca, "--token", saToken, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert.equal(whoami.stdout.trim(), "system:serviceaccount:default:default", whoami.stderr);

    const node = rec.nodes[0]!.name;
    await c.kubectl(["run", "before", `--image=${IMAGE}`, "--image-pull-policy=Never", "--command", "--", "sleep", "3600"]);
    await until("pod before Running", 90_000, async () => ((await podField(c, "before", ".status.phase")) === "Running" ? true : undefined));
    const containerBefore = await podField(c, "before", ".status.containerStatuses[0].containerID");

    // The server the agent talks to (its log names it), and the one leading the controllers.
    const agentLog = () => readFileSync(join(rec.dir, "logs", `${node}.log`), "utf8");
    const joined = /joined (https:\/\/\S+);/.exec(agentLog())?.[1];
    const victim = servers.find((s) => s.url === joined);
    assert.ok(victim, `the agent joined ${joined}, not a server of the cluster`);
    const holder = await c.kubectl(["get", "lease", "gantry-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"]);
    const leader = servers.find((s) => readFileSync(join(rec.dir, "logs", `${s.name}.log`), "utf8").includes(`leader election: ${holder} is a candidate`));
    assert.ok(leader, `no server log names the Lease holder ${holder}`);
    assert.notEqual(leader, victim, "agents start on a server other than the first, which leads");
    // Where the agent will go next (its list is rotated: the server after the victim), and its LISTs so far.
    const survivors = servers.filter((s) => s !== victim && s !== leader);
    const listsBefore = await Promise.all(survivors.map((s) => listRequests(s.url, token, ca)));

    const pid = (JSON.parse(readFileSync(join(rec.dir, "processes.json"), "utf8")) as { role: string; pid: number }[]).find((p) => p.role === victim.name)!.pid;
    process.kill(pid, "SIGKILL");
    // kubectl through the cluster's kubeconfig goes on at once (the balancer passes the dead server over).
    for (let i = 0; i < 6; i++) assert.equal(await nodeReady(c, node), "True");

    await until("the agent to move to another server", 60_000, async () => (/now using https:\/\//.test(agentLog()) ? true : undefined));
    await c.kubectl(["run", "after", `--image=${IMAGE}`, "--image-pull-policy=Never", "--command", "--", "sleep", "3600"]);
    await until("pod after Running", 90_000, async () => ((await podField(c, "after", ".status.phase")) === "Running" ? true : undefined));

    assert.equal(await podField(c, "before", ".status.phase"), "Running");
    assert.equal(await podField(c, "before", ".status.containerStatuses[0].containerID"), containerBefore, "the pod's container was not replaced");
    assert.equal(await podField(c, "before", ".status.containerStatuses[0].restartCount"), "0");
    assert.equal(await nodeReady(c, node), "True");
    // No relist storm: the agent resumed its watches; its informers did not LIST again.
    const listsAfter = await Promise.all(survivors.map((s) => listRequests(s.url, token, ca)));
    const added = listsAfter.reduce((a, n, i) => a + n - listsBefore[i]!, 0);
    assert.ok(added <= 1, `${added} LIST requests reached ${survivors.map((s) => s.name).join(", ")} after the failover (before ${listsBefore}, after ${listsAfter}):\n${agentLog().split("\n").filter((l) => /informer|API server/.test(l)).join("\n")}`);
    assert.match(agentLog(), /informer pods: watch broke .*; watching again from revision \d+/);
    assert.doesNotMatch(agentLog(), /listing again/);
  } finally {
    await c.remove();
  }
  // Nothing of the cluster is left: namespaces, links, processes, files.
  assert.doesNotMatch(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, new RegExp(`gantry-${rec.id}`));
  assert.doesNotMatch(spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout, new RegExp(`gc-?${rec.id.slice(0, 6)}`));
  assert.doesNotMatch(spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout, new RegExp(rec.dir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")));
  assert.equal(existsSync(rec.dir), false);
});

test("bad input: an even or out-of-range --servers, and an agent --server that is not https, are refused with a clear error and make nothing", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-ha-bad-"));
  try {
    const gantry = (args: string[]) => runCmd(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), ...args]);
    const stateDir = join(dir, "clusters");
    const even = await gantry(["cluster", "--state-dir", stateDir, "create", "bad", "--servers", "2"]);
    assert.notEqual(even.code, 0);
    assert.match(even.stderr, /--servers 2: etcd needs a majority, so 2 servers survive no more failures than 1; use an odd number/);
    const many = await gantry(["cluster", "--state-dir", stateDir, "create", "bad", "--servers", "9"]);
    assert.notEqual(many.code, 0);
    assert.match(many.stderr, /--servers must be a whole number from 1 to 7, not 9/);
    assert.ok(!existsSync(stateDir) || readdirSync(stateDir).filter((f) => !f.startsWith(".")).length === 0, "no cluster was recorded");

    writeFileSync(join(dir, "token"), "abcdef.0123456789abcdef0123456789abcdef\n");
    const plain = await gantry(["agent", "--server", "https://127.0.0.1:6443,http://127.0.0.1:6444", "--token-file", join(dir, "token"), "--data-root", join(dir, "agent")]);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /--server takes https:\/\/ URLs, comma-separated, not "http:\/\/127\.0\.0\.1:6444"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
