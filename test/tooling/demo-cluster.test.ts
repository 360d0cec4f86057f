// The README's main job, run as a user runs it: scripts/demo-cluster.sh starts `gantry server`
// (control plane + this host's node), imports a busybox image into the node's engine, serves a
// Deployment of two web servers behind a Service, fetches a page from each pod and 16 through
// the ClusterIP, and runs kubectl exec and logs. The test checks both pods answered, directly
// and through the Service, what exec and logs printed, and that the script removed what it made.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { skipReason } from "../cluster-agent/_node.ts";

const repo = join(import.meta.dirname, "..", "..");
const skip = skipReason();

test("scripts/demo-cluster.sh serves a Deployment behind a Service and leaves nothing behind", { skip, timeout: 240_000 }, () => {
  const r = spawnSync(join(repo, "scripts", "demo-cluster.sh"), { cwd: repo, encoding: "utf8", timeout: 230_000 });
  assert.equal(r.status, 0, `the demo failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /deployment "web" successfully rolled out/);
  assert.match(r.stdout, /service\/web\s+ClusterIP\s+10\.43\.\d+\.\d+/);
  const answers = [...r.stdout.matchAll(/^10\.42\.77\.\d+: hello from (web-[a-z0-9]+-[a-z0-9]+)$/gm)].map((m) => m[1]);
  assert.equal(answers.length, 2, `two pods should answer:\n${r.stdout}`);
  assert.notEqual(answers[0], answers[1], "each pod answers with its own name");
  const viaService = [...r.stdout.matchAll(/^10\.43\.\d+\.\d+: hello from (web-[a-z0-9]+-[a-z0-9]+)$/gm)].map((m) => m[1]);
  assert.equal(viaService.length, 16, `16 requests through the ClusterIP:\n${r.stdout}`);
  assert.deepEqual(new Set(viaService), new Set(answers), "the ClusterIP reaches both pods (1 in 32,768 to miss one by chance)");
  assert.match(r.stdout, new RegExp(`^${answers[0]} runs as uid 0; httpd is pid 1$`, "m"), "kubectl exec ran in the first pod");
  assert.match(r.stdout, /^\S+: response:200$/m, "kubectl logs shows httpd's request log");
  const work = /state in (\/tmp\/gantry-demo-cluster-\w+)$/m.exec(r.stdout)?.[1];
  assert.ok(work, `the demo names its state directory:\n${r.stdout}`);
  assert.equal(existsSync(work), false, "the demo's state directory is removed");
  assert.equal(existsSync("/sys/class/net/demopods0"), false, "the demo's pod bridge is removed");
  const tables = spawnSync("nft", ["list", "ruleset"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(tables, /10\.42\.77\.0\/24/, "no nft rule for the demo's pod subnet is left");
  const pauses = spawnSync("pgrep", ["-f", work], { encoding: "utf8" }).stdout.trim();
  assert.equal(pauses, "", "no process of the demo is left");
});
