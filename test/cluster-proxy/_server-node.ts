// Test fixture: `gantry server` as a one-node cluster in a child process (the API, the
// controllers, this host's agent and its service proxy), on a pod bridge and subnet of its own
// inside the default cluster CIDR, with the busybox image in its node's engine. Commands run in
// pods through the node's engine with the docker CLI (`docker exec`), as a user of the node
// would. Cleanup deletes the workloads through the running server, stops it, and removes
// whatever a failure left: containers, cgroups, mounts, the bridge, the proxy's nft table.
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KUBECTL } from "../cluster-api/_server.ts";
import { makeBusyboxImage } from "../engine/_daemon.ts";
import { assertNoRulesFor, removeNodeLeftovers, repo, skipReason as nodeSkipReason, until } from "../cluster-agent/_node.ts";
import { proxyTableName } from "../../src/cluster/proxy/index.ts";

export { until };
export const DOCKER = "/usr/local/bin/docker";

export function skipReason(): string | false {
  if (!existsSync(DOCKER)) return `the docker CLI is not installed at ${DOCKER}`;
  if (spawnSync("nft", ["--version"]).status !== 0) return "nft is not installed";
  return nodeSkipReason();
}

export interface ServerNode {
  dir: string;
  nodeName: string;
  /** The pod bridge's own address: the node's InternalIP here. */
  nodeIP: string;
  subnet: string;
  table: string;
  log(): string;
  kubectl(args: string[], input?: string): Promise<string>;
  kubectlResult(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs a command in the pod's (first) container through the node's engine. */
  exec(pod: string, cmd: string[], namespace?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  nft(args: string[]): string;
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[], input?: string, timeout = 90_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.on("error", () => undefined); // the command may exit before reading its input
    child.stdin!.end(input ?? "");
  });
}

export async function startServerNode(extraArgs: string[] = []): Promise<ServerNode> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-svc-"));
  const tag = randomBytes(3).toString("hex");
  const bridge = `gsv${tag}`;
  const octet = 100 + (randomBytes(1)[0]! % 150);
  const subnet = `10.42.${octet}.0/24`;
  const nodeIP = `10.42.${octet}.1`;
  const nodeName = `svc-${tag}`;
  const dataRoot = join(dir, "data", "agent");
  await makeBusyboxImage(dataRoot);
  const args = ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "server", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0", "--name", nodeName, "--pod-bridge", bridge, "--pod-subnet", subnet, "--node-ip", nodeIP, ...extraArgs];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: repo });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const kubeconfig = join(dir, "data", "admin.kubeconfig");
  const engine = join(dataRoot, "engine.sock");
  const kubectlResult = (a: string[], input?: string) => run(KUBECTL, ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...a], input);
  const node: ServerNode = {
    dir,
    nodeName,
    nodeIP,
    subnet,
    table: proxyTableName(dataRoot),
    log: () => out,
    kubectlResult,
    async kubectl(a, input) {
      const r = await kubectlResult(a, input);
      if (r.code !== 0) throw new Error(`kubectl ${a.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    async exec(pod, cmd, namespace = "default") {
      const ps = await run(DOCKER, ["-H", `unix://${engine}`, "ps", "-q", "--filter", `label=io.kubernetes.pod.name=${pod}`, "--filter", `label=io.kubernetes.pod.namespace=${namespace}`, "--filter", "label=io.kubernetes.docker.type=container"]);
      const id = ps.stdout.trim().split("\n")[0];
      if (!id) throw new Error(`no running container for pod ${namespace}/${pod}: ${ps.stderr}`);
      return run(DOCKER, ["-H", `unix://${engine}`, "exec", id, ...cmd], undefined, 30_000);
    },
    nft: (a) => spawnSync("nft", a, { encoding: "utf8" }).stdout,
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        await kubectlResult(["delete", "deployments,pods,services", "--all", "--all-namespaces", "--grace-period=1", "--timeout=60s"]);
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      removeNodeLeftovers(dataRoot, dir);
      spawnSync("nft", ["delete", "table", "ip", node.table], { stdio: "ignore" });
      spawnSync("ip", ["link", "del", bridge], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
      assertNoRulesFor(subnet);
    },
  };
  try {
    await until(`the server's node:\n${out}`, () => {
      if (child.exitCode !== null) throw new Error(`gantry server exited ${child.exitCode}:\n${out}`);
      return out.includes(`node ${nodeName} runs pods`) || undefined;
    });
    await until("the node Ready", async () => (await kubectlResult(["get", "node", nodeName, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"])).stdout === "True" || undefined);
  } catch (err) {
    await node.cleanup();
    throw err;
  }
  return node;
}

/**
 * A Deployment of busybox web servers answering with their pod's name on port 8080 ("http"),
 * which serve on for 30 s after SIGTERM (so a deleted pod is seen terminating while it serves).
 */
export function webDeployment(namespace = "default", replicas = 3): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${namespace}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 60
      containers:
      - name: web
        image: busybox
        imagePullPolicy: Never
        ports: [{containerPort: 8080, name: http}]
        command: [sh, -c, 'mkdir -p /www && hostname >/www/index.html && trap "sleep 30; exit 0" TERM && httpd -p 8080 -h /www && while :; do sleep 1; done']
`;
}
