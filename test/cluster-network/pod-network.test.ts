// `gantry cluster create` and the flat pod network, as a user sees them (the real gantry CLI,
// kubectl, the docker CLI on each node's engine socket): one 3-node cluster for the file —
// nodes Ready with their own addresses, labels and /24 podCIDRs; the other nodes' podCIDRs
// routed in each node (host-gw); `cluster load` puts an image into every node; a Deployment of
// 6 spreads over the 3 nodes with pod IPs from each node's range; a pod on one node reaches a
// pod on another by pod IP and is seen there with its own address (no NAT), and reaches the
// API server (masqueraded, since that leaves the cluster CIDR); an agent killed with SIGKILL is
// started again by the cluster's supervisor; bad input; and `cluster delete` leaves no
// process, namespace, link, route, nft table, cgroup, mount or file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { ImageStore, saveImages } from "../../src/image/mod.ts";
import { createCluster, deleteCluster, loadIntoCluster, readClusterRecord, type ClusterRecord } from "../../src/cluster/local/index.ts";
import { KUBECTL, kubectlMissing } from "../cluster-api/_server.ts";
import { makeBusyboxImage, skipReason as engineSkipReason } from "../engine/_daemon.ts";
import { repo, until } from "../cluster-agent/_node.ts";

const skip = engineSkipReason() ?? (kubectlMissing || undefined) ?? (existsSync("/usr/bin/nsenter") ? undefined : "needs nsenter (util-linux)");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function runCmd(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 300_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

interface PodObj {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string };
}

// The server answers a CGI request with the address the connection came from.
const SERVER_SCRIPT = [
  "mkdir -p /w/cgi-bin",
  `printf '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\necho "$REMOTE_ADDR $(hostname)"\\n' > /w/cgi-bin/ip`,
  "chmod +x /w/cgi-bin/ip",
  "exec httpd -f -p 8080 -h /w",
].join("; ");

describe("gantry cluster create: 3 nodes and the flat pod network", { skip }, () => {
  let dir: string;
  let stateDir: string;
  let kubeconfig: string;
  const name = `cn${randomBytes(3).toString("hex")}`;
  let rec: ClusterRecord;
  let createOut: Result;
  const gantry = (args: string[]) => runCmd(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), ...args]);
  const cluster = (args: string[]) => gantry(["cluster", "--state-dir", stateDir, ...args]);
  const kubectl = (args: string[]) => runCmd(KUBECTL, ["--kubeconfig", kubeconfig, ...args]);
  const docker = (node: string, args: string[]) => runCmd("docker", ["-H", `unix://${rec.nodes.find((n) => n.name === node)!.dataRoot}/engine.sock`, ...args], process.env, 60_000);
  const pods = async (selector: string) => (JSON.parse((await kubectl(["get", "pods", "-l", selector, "-o", "json"])).stdout) as { items: PodObj[] }).items;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-cnet-"));
    stateDir = join(dir, "clusters");
    kubeconfig = join(dir, "kubeconfig");
    createOut = await cluster(["create", name, "--nodes", "3", "--kubeconfig", kubeconfig]);
    assert.equal(createOut.code, 0, `create failed:\n${createOut.stdout}\n${createOut.stderr}`);
    rec = readClusterRecord(stateDir, name);
  });

  after(async () => {
    // A failed test still removes the cluster (the last test deletes it through the CLI).
    if (stateDir && existsSync(join(stateDir, name))) await deleteCluster(stateDir, name).catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("create prints the kubeconfig; kubectl on the host sees 3 Ready nodes with addresses, labels and distinct /24 podCIDRs", async () => {
    assert.match(createOut.stdout, new RegExp(`export KUBECONFIG=${kubeconfig}`));
    assert.match(createOut.stdout, /3 node\(s\) Ready/);
    const list = await cluster(["list"]);
    assert.match(list.stdout, new RegExp(`^${name}\\s+1\\s+3\\s+running\\s+https://${rec.gateway.replace(/\./g, "\\.")}:6443\\s`, "m"));
    const nodes = JSON.parse((await kubectl(["get", "nodes", "-o", "json"])).stdout) as { items: { metadata: { name: string; labels: Record<string, string> }; spec: { podCIDR?: string; podCIDRs?: string[] }; status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] } }[] };
    assert.deepEqual(nodes.items.map((n) => n.metadata.name).sort(), [`${name}-worker`, `${name}-worker2`, `${name}-worker3`]);
    const cidrs = new Set<string>();
    for (const n of nodes.items) {
      const r = rec.nodes.find((x) => x.name === n.metadata.name)!;
      assert.equal(n.status.conditions.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(n.status.addresses.find((a) => a.type === "InternalIP")?.address, r.address);
      assert.equal(n.metadata.labels["gantry.io/cluster"], name);
      assert.match(n.spec.podCIDR ?? "", /^10\.42\.\d+\.0\/24$/);
      assert.deepEqual(n.spec.podCIDRs, [n.spec.podCIDR]);
      cidrs.add(n.spec.podCIDR!);
    }
    assert.equal(cidrs.size, 3);
    // host-gw: each node routes the other two nodes' ranges via their addresses, and nothing else of ours.
    for (const n of nodes.items) {
      const r = rec.nodes.find((x) => x.name === n.metadata.name)!;
      const routes = JSON.parse(spawnSync("ip", ["-n", r.netns, "-j", "route", "show", "proto", "66"], { encoding: "utf8" }).stdout) as { dst: string; gateway: string }[];
      const want = nodes.items.filter((o) => o !== n).map((o) => ({ dst: o.spec.podCIDR!, gateway: o.status.addresses.find((a) => a.type === "InternalIP")!.address }));
      assert.deepEqual(routes.map((x) => ({ dst: x.dst, gateway: x.gateway })).sort((a, b) => a.dst.localeCompare(b.dst)), want.sort((a, b) => a.dst.localeCompare(b.dst)));
    }
  });

  test("cluster load puts an image archive into every node's store", async () => {
    const imageRoot = join(dir, "image-root");
    await makeBusyboxImage(imageRoot, "busybox:cnet");
    const archive = join(dir, "busybox.tar");
    const out = createWriteStream(archive);
    await saveImages(new ImageStore(imageRoot), ["busybox:cnet"], "docker-archive", out);
    out.end();
    await finished(out);
    const loaded = await cluster(["load", name, archive]);
    assert.equal(loaded.code, 0, loaded.stderr);
    for (const n of rec.nodes) {
      assert.match(loaded.stdout, new RegExp(`^${n.name}: Loaded image: busybox:cnet$`, "m"));
      const images = await docker(n.name, ["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      assert.match(images.stdout, /^busybox:cnet$/m, `${n.name}: ${images.stderr}`);
    }
  });

  test("a Deployment of 6 spreads over the 3 nodes, each pod addressed from its node's podCIDR", async () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: 6,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "web", image: "busybox:cnet", imagePullPolicy: "Never", command: ["sh", "-c", SERVER_SCRIPT] }] },
        },
      },
    };
    const applied = await runCmd("sh", ["-c", `${KUBECTL} --kubeconfig ${kubeconfig} apply -f - <<'EOF'\n${JSON.stringify(deployment)}\nEOF`]);
    assert.equal(applied.code, 0, applied.stderr);
    const running = await until("6 running web pods", async () => {
      const items = (await pods("app=web")).filter((p) => p.status.phase === "Running" && p.status.podIP);
      return items.length === 6 ? items : undefined;
    }, 240_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${(await kubectl(["get", "pods", "-o", "wide"])).stdout}\n${(await kubectl(["get", "events", "-A"])).stdout}`);
    });
    const byNode = new Map<string, number>();
    const nodeCidr = JSON.parse((await kubectl(["get", "nodes", "-o", "json"])).stdout) as { items: { metadata: { name: string }; spec: { podCIDR: string } }[] };
    for (const p of running) {
      byNode.set(p.spec.nodeName!, (byNode.get(p.spec.nodeName!) ?? 0) + 1);
      const prefix = nodeCidr.items.find((n) => n.metadata.name === p.spec.nodeName)!.spec.podCIDR.replace(/0\/24$/, "");
      assert.ok(p.status.podIP!.startsWith(prefix), `${p.metadata.name} on ${p.spec.nodeName} has ${p.status.podIP}, outside ${prefix}0/24`);
    }
    assert.deepEqual([...byNode.keys()].sort(), rec.nodes.map((n) => n.name).sort(), `pods per node: ${JSON.stringify([...byNode])}`);
  });

  test("a pod on one node reaches a pod on another by pod IP and is seen with its own address; it reaches the API server", async () => {
    const running = (await pods("app=web")).filter((p) => p.status.phase === "Running");
    const a = running.find((p) => p.spec.nodeName === rec.nodes[0]!.name)!;
    const b = running.find((p) => p.spec.nodeName === rec.nodes[1]!.name)!;
    const c = running.find((p) => p.spec.nodeName === rec.nodes[2]!.name)!;
    // dockershim's container name: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
    const containerOf = async (p: PodObj) => (await docker(p.spec.nodeName!, ["ps", "-q", "--filter", `name=k8s_web_${p.metadata.name}_`])).stdout.trim();
    const idA = await containerOf(a);
    assert.ok(idA, `no container of ${a.metadata.name}`);
    const ask = (target: string) => docker(a.spec.nodeName!, ["exec", idA, "sh", "-c", `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${target} 8080`]);
    for (const target of [b, c]) {
      const got = await ask(target.status.podIP!);
      assert.equal(got.code, 0, got.stderr);
      // busybox httpd gives REMOTE_ADDR as [::ffff:10.42.x.y].
      const body = got.stdout.split(/\r?\n\r?\n/)[1]?.trim().replace(/^\[::ffff:([\d.]+)\]/, "$1");
      // The answer names the pod that served it (it is on the other node) and the address it saw: pod A's own.
      assert.equal(body, `${a.status.podIP} ${target.metadata.name}`);
    }
    // The API server is outside the cluster CIDR: reached through the node's masquerade.
    const api = await docker(a.spec.nodeName!, ["exec", idA, "sh", "-c", `echo | nc -w 5 ${rec.gateway} 6443 >/dev/null && echo connected`]);
    assert.match(api.stdout, /connected/, api.stderr);
    const rules = spawnSync("ip", ["netns", "exec", rec.nodes[0]!.netns, "nft", "list", "ruleset"], { encoding: "utf8" }).stdout;
    assert.match(rules, /ip saddr 10\.42\.\d+\.0\/24 ip daddr != 10\.42\.\d+\.0\/24 ip daddr != 10\.42\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade/);
  });

  test("an agent killed with SIGKILL is started again by the cluster's supervisor; its pods keep running", async () => {
    const node = rec.nodes[1]!;
    const procs = () => JSON.parse(readFileSync(join(rec.dir, "processes.json"), "utf8")) as { role: string; pid: number }[];
    const before = procs().find((p) => p.role === node.name)!;
    assert.ok(before, `no recorded agent for ${node.name}`);
    const containers = (await docker(node.name, ["ps", "-q", "--filter", "name=k8s_web_"])).stdout.trim().split("\n").sort();
    assert.ok(containers.length > 0 && containers[0] !== "");
    process.kill(before.pid, "SIGKILL");
    const after = await until("the agent started again", () => {
      const p = procs().find((x) => x.role === node.name && x.pid !== before.pid);
      return p && existsSync(`/proc/${p.pid}`) ? p : undefined;
    }, 60_000);
    assert.notEqual(after.pid, before.pid);
    // The new agent adopts the same containers (nothing restarted) and the node stays Ready.
    await until("the engine socket answers again", async () => (await docker(node.name, ["ps", "-q"])).code === 0 || undefined, 60_000);
    assert.deepEqual((await docker(node.name, ["ps", "-q", "--filter", "name=k8s_web_"])).stdout.trim().split("\n").sort(), containers);
    await until(`${node.name} Ready`, async () => (await kubectl(["get", "node", node.name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"])).stdout === "True" || undefined, 60_000);
  });

  test("bad input: a bad name, --nodes 0, an existing name, an unknown cluster — clear errors, nothing made", async () => {
    const bad = await cluster(["create", "Bad_Name", "--nodes", "1"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /cluster name "Bad_Name" must be a lowercase DNS label/);
    const self = [process.execPath, "--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts")];
    await assert.rejects(createCluster({ stateDir, name: "zero", nodes: 0, self }), /--nodes must be a whole number from 1 to 50, not 0/);
    await assert.rejects(createCluster({ stateDir, name, nodes: 1, self }), new RegExp(`cluster "${name}" already exists`));
    const missing = await cluster(["delete", "nosuch"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no cluster "nosuch"/);
    await assert.rejects(loadIntoCluster(rec, join(dir, "nosuch.tar"), join(dir, "no-engine.sock")), /cannot reach the engine at .*no-engine\.sock/);
    assert.deepEqual(readdirSync(stateDir).filter((e) => !e.startsWith(".")).sort(), [name]);
    // The cluster still works.
    assert.equal((await kubectl(["get", "nodes"])).code, 0);
  });

  test("cluster delete leaves no process, namespace, link, route, nft table, cgroup, mount or file", async () => {
    const supervisor = rec.supervisor!;
    const children = JSON.parse(readFileSync(join(rec.dir, "processes.json"), "utf8")) as { pid: number }[];
    assert.equal(children.length, 4, "server and three agents");
    const del = await cluster(["delete", name]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, new RegExp(`cluster ${name} deleted`));
    for (const p of [supervisor, ...children]) assert.ok(!existsSync(`/proc/${p.pid}`) || !readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes(stateDir), `process ${p.pid} still runs`);
    const stray = readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
      try {
        return readFileSync(`/proc/${e}/cmdline`, "utf8").includes(rec.dir) || readlinkSync(`/proc/${e}/cwd`).startsWith(rec.dir);
      } catch {
        return false;
      }
    });
    assert.deepEqual(stray, []);
    const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    for (const n of rec.nodes) {
      assert.ok(!netns.includes(n.netns), `netns ${n.netns} left`);
      assert.notEqual(spawnSync("ip", ["link", "show", n.hostVeth]).status, 0, `veth ${n.hostVeth} left`);
    }
    assert.notEqual(spawnSync("ip", ["link", "show", rec.bridge]).status, 0, `bridge ${rec.bridge} left`);
    assert.doesNotMatch(spawnSync("ip", ["-4", "route", "show", "table", "all"], { encoding: "utf8" }).stdout, new RegExp(rec.subnet.replace(/\.0\/24$/, "").replace(/\./g, "\\.")));
    assert.doesNotMatch(spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout, new RegExp(rec.nftTable));
    const cgroups = readdirSync("/sys/fs/cgroup").filter((h) => existsSync(join("/sys/fs/cgroup", h, rec.cgroupParent)));
    assert.deepEqual(cgroups, [], `cgroups left under ${rec.cgroupParent}`);
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(stateDir.replace(/[.]/g, "\\.")));
    assert.ok(!existsSync(rec.dir), `${rec.dir} left`);
    for (const n of rec.nodes) assert.ok(!existsSync(n.execRoot), `${n.execRoot} left`);
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(`/run/gantry-clusters/${rec.id}`));
    assert.doesNotMatch((await cluster(["list"])).stdout, new RegExp(name));
  });
});
