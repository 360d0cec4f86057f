// Test fixture: a `gantry cluster create` cluster of N nodes for one test file (made in before,
// deleted in after, even when a test failed), with busybox loaded into every node as
// busybox:cnet (`cluster load`, as a user of kind would), kubectl on the host, and commands run
// in a pod through its node's engine with the docker CLI.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { ImageStore, saveImages } from "../../src/image/mod.ts";
import { deleteCluster, readClusterRecord, type ClusterRecord } from "../../src/cluster/local/index.ts";
import { KUBECTL, kubectlMissing } from "../cluster-api/_server.ts";
import { makeBusyboxImage, skipReason as engineSkipReason } from "../engine/_daemon.ts";
import { repo } from "../cluster-agent/_node.ts";

export const skip = engineSkipReason() ?? (kubectlMissing || undefined) ?? (existsSync("/usr/bin/nsenter") ? undefined : "needs nsenter (util-linux)");
export const IMAGE = "busybox:cnet";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCmd(file: string, args: string[], input?: string, timeout = 300_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.on("error", () => undefined); // the command may exit before reading its input
    child.stdin!.end(input ?? "");
  });
}

export interface TestCluster {
  rec: ClusterRecord;
  dir: string;
  kubectlResult(args: string[], input?: string): Promise<Result>;
  /** kubectl that throws with its stderr on failure. */
  kubectl(args: string[], input?: string): Promise<string>;
  docker(node: string, args: string[]): Promise<Result>;
  /** Runs a command in the pod's first container on the node it was scheduled to. */
  exec(pod: string, cmd: string[], namespace?: string): Promise<Result>;
  remove(): Promise<void>;
}

/** servers > 1: an HA control plane (`--servers`). */
export async function createTestCluster(nodes: number, servers = 1): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-cnet-"));
  const stateDir = join(dir, "clusters");
  const kubeconfig = join(dir, "kubeconfig");
  const name = `cn${randomBytes(3).toString("hex")}`;
  const cluster = (args: string[]) => runCmd(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "cluster", "--state-dir", stateDir, ...args]);
  const remove = async () => {
    if (existsSync(join(stateDir, name))) await deleteCluster(stateDir, name).catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const created = await cluster(["create", name, "--nodes", String(nodes), ...(servers > 1 ? ["--servers", String(servers)] : []), "--kubeconfig", kubeconfig]);
    if (created.code !== 0) throw new Error(`cluster create failed:\n${created.stdout}\n${created.stderr}`);
    const imageRoot = join(dir, "image-root");
    await makeBusyboxImage(imageRoot, IMAGE);
    const archive = join(dir, "busybox.tar");
    const out = createWriteStream(archive);
    await saveImages(new ImageStore(imageRoot), [IMAGE], "docker-archive", out);
    out.end();
    await finished(out);
    const loaded = await cluster(["load", name, archive]);
    if (loaded.code !== 0) throw new Error(`cluster load failed: ${loaded.stderr}`);
  } catch (err) {
    await remove();
    throw err;
  }
  const rec = readClusterRecord(stateDir, name);
  const kubectlResult = (args: string[], input?: string) => runCmd(KUBECTL, ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...args], input, 120_000);
  const docker = (node: string, args: string[]) => runCmd("docker", ["-H", `unix://${rec.nodes.find((n) => n.name === node)!.dataRoot}/engine.sock`, ...args], undefined, 60_000);
  const kubectl = async (args: string[], input?: string) => {
    const r = await kubectlResult(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  return {
    rec,
    dir,
    kubectlResult,
    kubectl,
    docker,
    async exec(pod, cmd, namespace = "default") {
      const node = (await kubectl(["get", "pod", pod, "-n", namespace, "-o", "jsonpath={.spec.nodeName}"])).trim();
      const ps = await docker(node, ["ps", "-q", "--filter", `label=io.kubernetes.pod.name=${pod}`, "--filter", `label=io.kubernetes.pod.namespace=${namespace}`, "--filter", "label=io.kubernetes.docker.type=container"]);
      const id = ps.stdout.trim().split("\n")[0];
      if (!id) throw new Error(`no running container for pod ${namespace}/${pod} on ${node}: ${ps.stderr}`);
      return docker(node, ["exec", id, ...cmd]);
    },
    remove,
  };
}
