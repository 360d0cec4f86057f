// `gantry server` as a one-node cluster: with no other flag than where to keep its state and
// its pod network, the server registers this host as a node, and `kubectl run` gets a pod
// scheduled to it and Running; `--no-agent` leaves the node out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KUBECTL } from "../cluster-api/_server.ts";
import { makeBusyboxImage } from "../engine/_daemon.ts";
import { assertNoRulesFor, removeNodeLeftovers, repo, skipReason, until } from "./_node.ts";

function kubectl(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, ["--kubeconfig", join(dir, "data", "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), ...args], { timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("gantry server runs this host's node: kubectl run reaches Running, and delete stops it", { skip: skipReason() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-server-node-"));
  const tag = randomBytes(3).toString("hex");
  const bridge = `gts${tag}`;
  const subnet = `10.96.${100 + (randomBytes(1)[0]! % 100)}.0/24`;
  await makeBusyboxImage(join(dir, "data", "agent"));
  const child = spawn(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "server", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0", "--pod-bridge", bridge, "--pod-subnet", subnet], { stdio: ["ignore", "pipe", "pipe"], cwd: repo });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const node = hostname().toLowerCase();
  try {
    await until(`the server's node:\n${out}`, () => out.includes(`node ${node} runs pods`) || undefined);
    await until("the node Ready", async () => (await kubectl(dir, ["get", "node", node, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"])).stdout === "True" || undefined);
    const run = await kubectl(dir, ["run", "web", "--image", "busybox", "--image-pull-policy", "Never", "--", "sh", "-c", "echo hello-logs; exec sleep 300"]);
    assert.equal(run.code, 0, run.stderr);
    const wide = await until("web Running", async () => {
      const r = await kubectl(dir, ["get", "pod", "web", "-o", "wide", "--no-headers"]);
      return /\sRunning\s/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(wide, new RegExp(`\\s${node}\\s`), "scheduled to the server's own node");
    // The server's own node streams through the same TLS path as any node's kubelet.
    const exec = await kubectl(dir, ["exec", "web", "--", "sh", "-c", "echo from-exec; exit 4"]);
    assert.equal(exec.code, 4, exec.stderr);
    assert.equal(exec.stdout, "from-exec\n");
    const port = JSON.parse((await kubectl(dir, ["get", "node", node, "-o", "json"])).stdout).status.daemonEndpoints.kubeletEndpoint.Port as number;
    assert.ok(port > 0);
    const logs = await kubectl(dir, ["logs", "web"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "hello-logs\n");
    const del = await kubectl(dir, ["delete", "pod", "web", "--grace-period=1"]);
    assert.equal(del.code, 0, del.stderr);
    assert.match((await kubectl(dir, ["get", "pods"])).stderr, /No resources found/);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    removeNodeLeftovers(join(dir, "data", "agent"), dir);
    spawnSync("ip", ["link", "del", bridge]);
    rmSync(dir, { recursive: true, force: true });
    assertNoRulesFor(subnet);
  }
});
