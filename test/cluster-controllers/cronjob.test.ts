// The CronJob controller (with the Job controller and the garbage collector) against a real
// API server on a fake clock: starts on schedule, the concurrency policies, history limits,
// suspend, and what a server restart finds — missed starts within or past the starting
// deadline, too many missed, and a Job created just before a crash. The test plays the
// kubelet for the Jobs' pods.
import { afterEach, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../src/common/clock.ts";
import { CronJobController, GarbageCollector, JobController, type ControllerContext } from "../../src/cluster/controllers/index.ts";
import type { KubeObject, ResourceRef } from "../../src/cluster/client/index.ts";
import { crashingTransport, EVENTS, PODS, startHarness, type Harness } from "./_harness.ts";

const JOBS: ResourceRef = { group: "batch", version: "v1", resource: "jobs", kind: "Job", namespaced: true };
const CRON_JOBS: ResourceRef = { group: "batch", version: "v1", resource: "cronjobs", kind: "CronJob", namespaced: true };
const MINUTE = 60_000;

interface CronJob extends KubeObject {
  status?: { active?: { name: string; uid: string }[]; lastScheduleTime?: string; lastSuccessfulTime?: string };
}
interface Job extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

const controllers = (ctx: ControllerContext) => [new CronJobController(ctx), new JobController(ctx), new GarbageCollector(ctx)];
/** The API server stamps creation with the wall clock; the fake one starts a little behind it, so nothing is created "in the future". */
const behindWallClock = () => new FakeClock(Math.floor(Date.now() / MINUTE) * MINUTE - 2 * MINUTE);
const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, "Z");

// A server per test: each starts with the fake clock behind the wall clock again.
let h: Harness;
beforeEach(async () => {
  h = await startHarness(controllers, { clock: behindWallClock() });
});
afterEach(() => h.stop());

async function createCronJob(name: string, spec: Record<string, unknown>, on: Harness = h): Promise<{ cj: CronJob; firstStart: number }> {
  const cj = (await on.client.resource(CRON_JOBS).create("default", {
    metadata: { name },
    spec: { schedule: "*/1 * * * *", jobTemplate: { spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } } }, ...spec },
  })) as CronJob;
  const created = Date.parse(cj.metadata.creationTimestamp!);
  if (on.clock.now() < created) await on.clock.advance(created - on.clock.now());
  await on.runToQuiet(0);
  return { cj, firstStart: Math.floor(created / MINUTE) * MINUTE + MINUTE };
}

/** Moves the clock to t (plus the controller's 100 ms padding) and lets everything settle. */
async function at(t: number, on: Harness = h): Promise<void> {
  if (t + 100 > on.clock.now()) await on.clock.advance(t + 100 - on.clock.now());
  await on.runToQuiet(0);
}

const jobsOf = async (cj: string, on: Harness = h) => ((await on.list(JOBS, "default")) as Job[]).filter((j) => j.metadata.ownerReferences?.[0]?.name === cj).map((j) => j.metadata.name!).sort();
const getCronJob = async (name: string, on: Harness = h) => (await on.get(CRON_JOBS, "default", name)) as CronJob;
const eventsOf = async (name: string, on: Harness = h) =>
  ((await on.list(EVENTS, "default")) as (KubeObject & { reason: string; message: string; involvedObject: { name: string; kind: string } })[]).filter((e) => e.involvedObject.kind === "CronJob" && e.involvedObject.name === name);
const jobName = (cj: string, t: number) => `${cj}-${t / MINUTE}`;

/** Ends a Job's running pods with this phase, as a kubelet would report it. */
async function finishJob(job: string, phase: "Succeeded" | "Failed", on: Harness = h): Promise<void> {
  for (const p of await on.list(PODS, "default", `batch.kubernetes.io/job-name=${job}`)) {
    const s = (p.status as { phase?: string } | undefined)?.phase;
    if (s === "Succeeded" || s === "Failed") continue;
    await on.client.resource(PODS).patch("default", p.metadata.name!, "merge", { status: { phase } }, { subresource: "status" });
  }
  await on.runToQuiet(0);
}

test("a CronJob fires on schedule on the clock, waits for the next start, and records what its Jobs did", async () => {
  const { cj, firstStart } = await createCronJob("tick", {});
  await at(firstStart - 1_000);
  assert.deepEqual(await jobsOf("tick"), [], "nothing before the start");
  await at(firstStart);
  const name = jobName("tick", firstStart);
  assert.deepEqual(await jobsOf("tick"), [name]);
  const job = (await h.get(JOBS, "default", name))!;
  assert.equal(job.metadata.annotations!["batch.kubernetes.io/cronjob-scheduled-timestamp"], iso(firstStart));
  assert.deepEqual(job.metadata.ownerReferences, [{ apiVersion: "batch/v1", kind: "CronJob", name: "tick", uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
  let status = (await getCronJob("tick")).status!;
  assert.deepEqual(status.active!.map((r) => r.name), [name]);
  assert.equal(status.lastScheduleTime, iso(firstStart));
  // Waiting, not polling: the next thing on the clock is the next start (+100 ms).
  assert.equal(h.clock.nextDue(), firstStart + MINUTE + 100);
  await finishJob(name, "Succeeded");
  status = (await getCronJob("tick")).status!;
  assert.deepEqual(status.active ?? [], []);
  assert.ok(status.lastSuccessfulTime, "the Job's completion is recorded");
  await at(firstStart + MINUTE);
  assert.deepEqual(await jobsOf("tick"), [name, jobName("tick", firstStart + MINUTE)]);
  const reasons = (await eventsOf("tick")).map((e) => `${e.reason}: ${e.message}`);
  assert.ok(reasons.includes(`SuccessfulCreate: Created job ${name}`), reasons.join("\n"));
  assert.ok(reasons.includes(`SawCompletedJob: Saw completed job: ${name}, condition: Complete`), reasons.join("\n"));
  await h.client.resource(CRON_JOBS).delete("default", "tick");
});

test("Forbid skips a start while the last Job runs; Replace deletes it and starts anew", async () => {
  const forbid = await createCronJob("one-at-a-time", { concurrencyPolicy: "Forbid" });
  const replace = await createCronJob("newest-wins", { concurrencyPolicy: "Replace" });
  const t = Math.max(forbid.firstStart, replace.firstStart);
  await at(t);
  await at(t + MINUTE);
  assert.deepEqual(await jobsOf("one-at-a-time"), [jobName("one-at-a-time", t)], "Forbid: the second start skipped");
  assert.ok((await eventsOf("one-at-a-time")).some((e) => e.reason === "JobAlreadyActive"));
  assert.deepEqual(await jobsOf("newest-wins"), [jobName("newest-wins", t + MINUTE)], "Replace: the first Job deleted");
  assert.deepEqual((await getCronJob("newest-wins")).status!.active!.map((r) => r.name), [jobName("newest-wins", t + MINUTE)]);
  assert.equal((await h.list(PODS, "default", `batch.kubernetes.io/job-name=${jobName("newest-wins", t)}`)).length, 0, "its pods went with it");
  // The skipped start was never recorded: with no starting deadline it is still due, and runs as soon as the last Job ends (as upstream).
  await finishJob(jobName("one-at-a-time", t), "Succeeded");
  assert.deepEqual(await jobsOf("one-at-a-time"), [jobName("one-at-a-time", t), jobName("one-at-a-time", t + MINUTE)], "Forbid: the skipped start runs once the last one ended");
  for (const n of ["one-at-a-time", "newest-wins"]) await h.client.resource(CRON_JOBS).delete("default", n);
});

test("history limits keep the newest finished Jobs and delete the rest", async () => {
  const { firstStart: t } = await createCronJob("history", { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1, jobTemplate: { spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } } } });
  for (let i = 0; i < 5; i++) {
    await at(t + i * MINUTE);
    await finishJob(jobName("history", t + i * MINUTE), i < 3 ? "Succeeded" : "Failed");
  }
  await at(t + 5 * MINUTE);
  assert.deepEqual(await jobsOf("history"), [jobName("history", t + MINUTE), jobName("history", t + 2 * MINUTE), jobName("history", t + 4 * MINUTE), jobName("history", t + 5 * MINUTE)].sort(), "2 succeeded, 1 failed, and the one running");
  assert.ok((await eventsOf("history")).some((e) => e.reason === "SuccessfulDelete" && e.message === `Deleted job ${jobName("history", t)}`));
  await h.client.resource(CRON_JOBS).delete("default", "history");
});

test("suspended, nothing starts; resumed, the most recent missed start runs, once", async () => {
  const { firstStart: t } = await createCronJob("napping", { suspend: true });
  await at(t + 3 * MINUTE + 10_000);
  assert.deepEqual(await jobsOf("napping"), []);
  await h.client.resource(CRON_JOBS).patch("default", "napping", "merge", { spec: { suspend: false } });
  await h.runToQuiet(0);
  assert.deepEqual(await jobsOf("napping"), [jobName("napping", t + 3 * MINUTE)], "only the latest of the four missed");
  await h.client.resource(CRON_JOBS).delete("default", "napping");
});

test("bad schedules and zones are reported as Kubernetes does, and start nothing", async () => {
  await assert.rejects(h.client.resource(CRON_JOBS).create("default", { metadata: { name: "bad" }, spec: { schedule: "every minute", jobTemplate: { spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x" }] } } } } } }), /spec.schedule/);
  const { firstStart: t } = await createCronJob("feb31", { schedule: "0 0 31 2 *" });
  await createCronJob("mars", { timeZone: "Mars/Olympus" });
  await at(t + MINUTE);
  assert.deepEqual(await jobsOf("feb31"), []);
  assert.deepEqual(await jobsOf("mars"), []);
  assert.ok((await eventsOf("mars")).some((e) => e.reason === "UnknownTimeZone" && e.message.startsWith('invalid timeZone: "Mars/Olympus"')));
  for (const n of ["feb31", "mars"]) await h.client.resource(CRON_JOBS).delete("default", n);
});

/** Stops the server, lets `downMs` of fake time pass, and starts another over the same store. */
async function restartAfter(dir: string, clock: FakeClock, first: Harness, downMs: number): Promise<Harness> {
  await first.stop();
  await clock.advance(downMs);
  return startHarness(controllers, { dataDir: dir, clock });
}

test("a server restart: the most recent missed start runs if within startingDeadlineSeconds, not if past it; past 100 missed, a warning", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-cron-restart-"));
  const clock = behindWallClock();
  let s = await startHarness(controllers, { dataDir: dir, clock });
  try {
    const { firstStart: t } = await createCronJob("lenient", { startingDeadlineSeconds: 600 }, s);
    await createCronJob("strict", { startingDeadlineSeconds: 30 }, s);
    await createCronJob("forgetful", {}, s);
    await at(t, s);
    for (const n of ["lenient", "strict", "forgetful"]) assert.deepEqual(await jobsOf(n, s), [jobName(n, t)]);
    // Down for 5 minutes and 45 seconds: starts t+1..t+5 missed, the last 45 s ago.
    s = await restartAfter(dir, clock, s, 5 * MINUTE + 45_000 - 100);
    await s.runToQuiet(0);
    assert.deepEqual(await jobsOf("lenient", s), [jobName("lenient", t), jobName("lenient", t + 5 * MINUTE)], "within 600 s: the latest missed start runs, once");
    assert.deepEqual(await jobsOf("strict", s), [jobName("strict", t)], "45 s late with a 30 s deadline: not started");
    await at(t + 6 * MINUTE, s);
    assert.deepEqual(await jobsOf("strict", s), [jobName("strict", t), jobName("strict", t + 6 * MINUTE)], "the next start is on time");
    // Down for two hours: more than 100 starts missed.
    s = await restartAfter(dir, clock, s, 120 * MINUTE);
    await s.runToQuiet(0);
    const last = t + 126 * MINUTE;
    assert.deepEqual((await jobsOf("forgetful", s)).filter((n) => n !== jobName("forgetful", t) && !n.endsWith(String((t + 5 * MINUTE) / MINUTE)) && !n.endsWith(String((t + 6 * MINUTE) / MINUTE))), [jobName("forgetful", last)]);
    assert.ok((await eventsOf("forgetful", s)).some((e) => e.reason === "TooManyMissedTimes"));
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a crash between creating the Job and recording it: after the restart the Job is recorded, not made twice", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-cron-crash-"));
  const clock = behindWallClock();
  const crash = crashingTransport((req) => req.method === "POST" && /\/namespaces\/default\/jobs(\?|$)/.test(req.path));
  let s = await startHarness(controllers, { dataDir: dir, clock, wrapTransport: crash.wrap });
  try {
    const { firstStart: t } = await createCronJob("fragile", {}, s);
    await at(t, s);
    assert.ok(crash.crashed);
    assert.equal((await getCronJob("fragile", s)).status?.lastScheduleTime, undefined, "the start was never recorded");
    s = await restartAfter(dir, clock, s, 5_000);
    await s.runToQuiet(0);
    assert.deepEqual(await jobsOf("fragile", s), [jobName("fragile", t)]);
    const status = (await getCronJob("fragile", s)).status!;
    assert.deepEqual(status.active!.map((r) => r.name), [jobName("fragile", t)]);
    assert.equal(status.lastScheduleTime, iso(t));
    await at(t + MINUTE, s);
    assert.deepEqual(await jobsOf("fragile", s), [jobName("fragile", t), jobName("fragile", t + MINUTE)]);
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
