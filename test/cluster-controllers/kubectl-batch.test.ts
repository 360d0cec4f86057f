// Jobs and CronJobs as users meet them: a real `gantry server --no-agent` child process, the
// real kubectl and the wall clock. With no node agent the test plays the kubelet, marking pods
// Succeeded through the status subresource. A `*/1 * * * *` CronJob makes a Job within a
// minute (the wait is bounded to 70 s) which completes once its pod succeeds; a Job's server
// killed with SIGKILL right after its pods succeed counts each of them once after the restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubectlMissing } from "../cluster-api/_server.ts";
import { freePort, startGantry, until } from "./_gantry-server.ts";

test("kubectl: a */1 CronJob makes a Job within a minute on the wall clock; its pod succeeds, the Job completes", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-kubectl-cron-"));
  const server = await startGantry(dir, join(dir, "data"), await freePort());
  const { ok } = server;
  try {
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
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("kubectl: a Job's server killed (SIGKILL) just after its pods succeed counts each once after the restart, and makes no extra pod", { skip: kubectlMissing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-kubectl-job-"));
  const dataDir = join(dir, "data");
  const port = await freePort();
  let server = await startGantry(dir, dataDir, port);
  try {
    const manifest = join(dir, "job.json");
    writeFileSync(manifest, JSON.stringify({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "batch" }, spec: { completions: 6, parallelism: 3, template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } } }));
    await server.ok("create", "-f", manifest);
    assert.match(await server.ok("get", "job", "batch"), /batch\s+Running\s+0\/6\s/);
    const podsOf = async () => (await server.ok("get", "pods", "-l", "batch.kubernetes.io/job-name=batch", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}")).trim().split(/\s+/).filter(Boolean);
    const running = await until("three pods", 20_000, async () => {
      const pods = await podsOf();
      return pods.length === 3 ? pods.map((p) => p.split("=")[0]!) : undefined;
    });
    for (const p of running) await server.ok("patch", `pod/${p}`, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Succeeded"}}');
    // Killed while the controller may be anywhere in counting them.
    await server.stop("SIGKILL");
    server = await startGantry(dir, dataDir, port);
    await until("three more pods after the restart", 60_000, async () => ((await podsOf()).length === 6 ? true : undefined));
    await until("the first three counted", 60_000, async () => ((await server.ok("get", "job", "batch", "-o", "jsonpath={.status.succeeded}")) === "3" ? true : undefined));
    for (const p of (await podsOf()).filter((p) => !p.endsWith("=Succeeded"))) await server.ok("patch", `pod/${p.split("=")[0]}`, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Succeeded"}}');
    await server.ok("wait", "--for=condition=complete", "job/batch", "--timeout=30s");
    assert.equal(await server.ok("get", "job", "batch", "-o", "jsonpath={.status.succeeded}/{.status.failed}"), "6/");
    assert.equal((await podsOf()).length, 6, "one pod per completion: none made twice, none lost");
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
