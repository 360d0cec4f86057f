// A CronJob as users meet it: a real `gantry server --no-agent` child process, the real
// kubectl and the wall clock. A `*/1 * * * *` schedule makes a Job within a minute (the
// wait is bounded to 70 s); with no node agent the test plays the kubelet and marks the
// Job's pod Succeeded through the status subresource, then sees the Job complete and the
// CronJob record it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KUBECTL, kubectlMissing } from "../cluster-api/_server.ts";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test("kubectl: a */1 CronJob makes a Job within a minute on the wall clock; its pod succeeds, the Job completes", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-kubectl-cron-"));
  const dataDir = join(dir, "data");
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/gantry/main.ts", "server", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--no-agent"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const kubectl = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(KUBECTL, ["--kubeconfig", join(dataDir, "admin.kubeconfig"), "--cache-dir", join(dir, "cache"), ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const ok = async (...args: string[]) => {
    const r = await kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    await until("gantry server to listen", 30_000, async () => (out.includes("listening on") ? true : undefined));
    await ok("create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "/bin/true");
    assert.match(await ok("get", "cronjob", "tick"), /tick\s+\*\/1 \* \* \* \*\s+<none>\s+False\s+0\s+<none>/);

    const job = await until("the CronJob's first Job", 70_000, async () => {
      const jobs = JSON.parse(await ok("get", "jobs", "-o", "json")) as { items: { metadata: { name: string; annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] } }[] };
      return jobs.items.find((j) => j.metadata.ownerReferences?.some((r) => r.kind === "CronJob" && r.name === "tick"));
    });
    const minutes = Number(/^tick-(\d+)$/.exec(job.metadata.name)?.[1]);
    assert.ok(minutes > 0, job.metadata.name);
    assert.equal(job.metadata.annotations!["batch.kubernetes.io/cronjob-scheduled-timestamp"], new Date(minutes * 60_000).toISOString().replace(/\.\d+Z$/, "Z"));
    assert.match(await ok("get", "cronjob", "tick", "-o", "jsonpath={.status.active[0].name}"), new RegExp(`^${job.metadata.name}$`));

    const pod = await until("the Job's pod", 20_000, async () => (await ok("get", "pods", "-l", `batch.kubernetes.io/job-name=${job.metadata.name}`, "-o", "name")).trim() || undefined);
    assert.match(pod, new RegExp(`^pod/${job.metadata.name}-[a-z0-9]{5}$`));
    assert.equal(await ok("get", pod, "-o", "jsonpath={.metadata.finalizers}"), '["batch.kubernetes.io/job-tracking"]');
    await ok("patch", pod, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Succeeded"}}');
    await ok("wait", "--for=condition=complete", `job/${job.metadata.name}`, "--timeout=30s");
    assert.match(await ok("get", "job", job.metadata.name), new RegExp(`${job.metadata.name}\\s+Complete\\s+1/1`));
    const conditions = await ok("get", "job", job.metadata.name, "-o", "jsonpath={range .status.conditions[*]}{.type}={.status} {end}");
    assert.equal(conditions.trim(), "SuccessCriteriaMet=True Complete=True");
    assert.doesNotMatch(await ok("get", pod, "-o", "jsonpath={.metadata.finalizers}"), /job-tracking/, "counted, then let go");
    await until("the CronJob to record the success", 20_000, async () => (await ok("get", "cronjob", "tick", "-o", "jsonpath={.status.lastSuccessfulTime}")) || undefined);
    const events = await ok("get", "events", "--field-selector", "involvedObject.name=tick");
    assert.match(events, new RegExp(`SuccessfulCreate\\s+cronjob/tick\\s+Created job ${job.metadata.name}`));
  } finally {
    child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
