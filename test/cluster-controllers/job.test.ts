// The Job and TTL-after-finished controllers against a real API server (SQLite store) on a
// fake clock. No node agent: the test plays the kubelet, setting pods' phases through the
// status subresource. Every scenario runs to quiet and then reads what the server holds.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../src/common/clock.ts";
import { GarbageCollector, JobController, TtlAfterFinishedController, type ControllerContext } from "../../src/cluster/controllers/index.ts";
import type { ApiRequest, KubeObject, ResourceRef } from "../../src/cluster/client/index.ts";
import { crashingTransport, EVENTS, PODS, startHarness, type Harness } from "./_harness.ts";

const JOBS: ResourceRef = { group: "batch", version: "v1", resource: "jobs", kind: "Job", namespaced: true };

interface Pod extends KubeObject {
  spec: { hostname?: string; containers: { name: string; env?: { name: string; valueFrom?: unknown }[] }[] };
  status?: { phase?: string };
}
interface Job extends KubeObject {
  spec: Record<string, unknown>;
  status?: { active?: number; ready?: number; succeeded?: number; failed?: number; terminating?: number; startTime?: string; completionTime?: string; completedIndexes?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[]; uncountedTerminatedPods?: object };
}

let h: Harness;
before(async () => {
  h = await startHarness((ctx) => [new JobController(ctx), new TtlAfterFinishedController(ctx), new GarbageCollector(ctx)]);
});
after(() => h.stop());

const template = (extra: Record<string, unknown> = {}) => ({ metadata: extra, spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } });

async function createJob(name: string, spec: Record<string, unknown>, templateMeta: Record<string, unknown> = {}): Promise<Job> {
  return (await h.client.resource(JOBS).create("default", { metadata: { name }, spec: { template: template(templateMeta), ...spec } })) as Job;
}
const getJob = async (name: string) => (await h.get(JOBS, "default", name)) as Job | undefined;
const podsOf = async (name: string) => (await h.list(PODS, "default", `batch.kubernetes.io/job-name=${name}`)) as Pod[];
const isActive = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";
const conditionsOf = (job: Job | undefined) => (job?.status?.conditions ?? []).filter((c) => c.status === "True").map((c) => `${c.type}:${c.reason}`);
const eventsOf = async (name: string) => ((await h.list(EVENTS, "default")) as (KubeObject & { reason: string; message: string; involvedObject: { name: string; kind: string } })[]).filter((e) => e.involvedObject.kind === "Job" && e.involvedObject.name === name);

/** What a kubelet reports when the pod's container exits. */
async function finish(pod: Pod, phase: "Succeeded" | "Failed", on: Harness = h): Promise<void> {
  const t = new Date(on.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
  const terminated = { exitCode: phase === "Succeeded" ? 0 : 1, reason: phase === "Succeeded" ? "Completed" : "Error", startedAt: t, finishedAt: t };
  const status = { phase, containerStatuses: [{ name: "c", image: "busybox", imageID: "", ready: false, restartCount: 0, state: { terminated } }] };
  await on.client.resource(PODS).patch("default", pod.metadata.name!, "merge", { status }, { subresource: "status" });
}

/** Follows the shared pod informer and remembers the most pods of a Job ever active at once. */
function watchActive(jobName: string): { max: () => number } {
  const active = new Set<string>();
  let max = 0;
  const see = (p: KubeObject) => {
    if (p.metadata.labels?.["batch.kubernetes.io/job-name"] !== jobName) return;
    if (isActive(p as Pod)) active.add(p.metadata.uid!);
    else active.delete(p.metadata.uid!);
    max = Math.max(max, active.size);
  };
  h.manager.informers.informerFor(PODS).addHandlers({ onAdd: see, onUpdate: (_o, p) => see(p), onDelete: (p) => active.delete(p.metadata.uid!) });
  return { max: () => max };
}

test("completions 5, parallelism 2: five pods succeed, never more than two at once, SuccessCriteriaMet then Complete", async () => {
  const seen = watchActive("five");
  const job = await createJob("five", { completions: 5, parallelism: 2 });
  const uids = new Set<string>();
  for (let round = 0; round < 10; round++) {
    await h.runToQuiet();
    const active = (await podsOf("five")).filter(isActive);
    if (!active.length) break;
    assert.ok(active.length <= 2, `${active.length} active`);
    for (const p of active) {
      uids.add(p.metadata.uid!);
      await finish(p, "Succeeded");
    }
  }
  assert.equal(seen.max(), 2, "two at a time, never more");
  const done = await getJob("five");
  assert.deepEqual(conditionsOf(done), ["SuccessCriteriaMet:CompletionsReached", "Complete:CompletionsReached"]);
  assert.equal(done!.status!.succeeded, 5);
  assert.equal(done!.status!.failed, undefined);
  assert.equal(done!.status!.active, 0);
  assert.equal(done!.status!.terminating, 0);
  assert.deepEqual(done!.status!.uncountedTerminatedPods, {});
  assert.ok(done!.status!.startTime && done!.status!.completionTime);
  const pods = await podsOf("five");
  assert.equal(pods.length, 5, "one pod per completion, no extra");
  assert.equal(uids.size, 5);
  for (const p of pods) {
    assert.match(p.metadata.name!, /^five-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(p.metadata.finalizers ?? [], [], "counted, then let go");
    assert.equal(p.metadata.labels!["batch.kubernetes.io/controller-uid"], job.metadata.uid);
    assert.equal(p.metadata.labels!["controller-uid"], job.metadata.uid);
    assert.equal(p.metadata.labels!["job-name"], "five");
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: "batch/v1", kind: "Job", name: "five", uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }]);
  }
  const events = await eventsOf("five");
  assert.equal(events.filter((e) => e.reason === "SuccessfulCreate").length, 5);
  assert.ok(events.every((e) => e.reason !== "SuccessfulCreate" || /^Created pod: five-/.test(e.message)));
  assert.deepEqual(events.filter((e) => e.reason === "Completed").map((e) => e.message), ["Job completed"]);
});

test("a new pod waits out the back-off (10 s, then 20 s); past backoffLimit the Job fails", async () => {
  await createJob("flaky", { backoffLimit: 2 });
  await h.runToQuiet(0);
  const created: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const active = (await podsOf("flaky")).filter(isActive);
    assert.equal(active.length, 1, `attempt ${attempt}: one pod running`);
    created.push(h.clock.now());
    await finish(active[0]!, "Failed");
    // Not before the back-off: 10 s after the first failure, 20 s after the second.
    const backoff = 10_000 * 2 ** attempt;
    await h.runToQuiet(backoff - 1);
    if (attempt < 2) {
      assert.equal((await podsOf("flaky")).filter(isActive).length, 0, `attempt ${attempt}: no replacement before ${backoff} ms`);
      await h.clock.advance(backoff - 1 - (h.clock.now() - created[attempt]!));
      await h.runToQuiet(1);
      assert.equal((await podsOf("flaky")).filter(isActive).length, 1, `attempt ${attempt}: replaced after ${backoff} ms`);
    }
  }
  const job = await getJob("flaky");
  assert.deepEqual(conditionsOf(job), ["FailureTarget:BackoffLimitExceeded", "Failed:BackoffLimitExceeded"]);
  assert.equal(job!.status!.failed, 3);
  assert.equal(job!.status!.completionTime, undefined);
  assert.equal((await podsOf("flaky")).length, 3);
  const warning = (await eventsOf("flaky")).find((e) => e.reason === "BackoffLimitExceeded");
  assert.equal(warning?.message, "Job has reached the specified backoff limit");
  assert.equal((warning as unknown as { type: string }).type, "Warning");
});

test("failing with a pod still terminating: FailureTarget first, Failed once it is gone; it counts as failed", async () => {
  await createJob("slowstop", { parallelism: 2, completions: 2, backoffLimit: 0 }, { finalizers: ["example.com/hold"] });
  await h.runToQuiet();
  const [first, second] = (await podsOf("slowstop")).filter(isActive);
  assert.ok(first && second);
  await finish(first, "Failed");
  await h.runToQuiet();
  let job = await getJob("slowstop");
  assert.deepEqual(conditionsOf(job), ["FailureTarget:BackoffLimitExceeded"], "not Failed while a pod terminates");
  assert.equal(job!.status!.terminating, 1);
  const stopping = (await podsOf("slowstop")).find((p) => p.metadata.uid === second.metadata.uid)!;
  assert.ok(stopping.metadata.deletionTimestamp, "the other pod is being deleted");
  for (const p of await podsOf("slowstop")) await h.client.resource(PODS).patch("default", p.metadata.name!, "merge", { metadata: { finalizers: null } });
  await h.runToQuiet();
  job = await getJob("slowstop");
  assert.deepEqual(conditionsOf(job), ["FailureTarget:BackoffLimitExceeded", "Failed:BackoffLimitExceeded"]);
  assert.equal(job!.status!.failed, 2, "the stopped pod counts as failed");
  assert.equal(job!.status!.terminating, 0);
});

test("Indexed: each index runs until it succeeds once; a failed index is retried under the same index", async () => {
  await createJob("idx", { completions: 3, parallelism: 3, completionMode: "Indexed" });
  await h.runToQuiet();
  let pods = (await podsOf("idx")).filter(isActive);
  assert.equal(pods.length, 3);
  const indexOf = (p: Pod) => p.metadata.annotations!["batch.kubernetes.io/job-completion-index"]!;
  assert.deepEqual(pods.map(indexOf).sort(), ["0", "1", "2"]);
  for (const p of pods) {
    const i = indexOf(p);
    assert.match(p.metadata.name!, new RegExp(`^idx-${i}-[a-z0-9]{5}$`));
    assert.equal(p.metadata.labels!["batch.kubernetes.io/job-completion-index"], i);
    assert.equal(p.spec.hostname, `idx-${i}`);
    assert.deepEqual(p.spec.containers[0]!.env, [{ name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }]);
  }
  const byIndex = (i: string) => pods.find((p) => indexOf(p) === i)!;
  await finish(byIndex("0"), "Succeeded");
  await finish(byIndex("1"), "Failed");
  await h.runToQuiet();
  let job = await getJob("idx");
  assert.equal(job!.status!.completedIndexes, "0");
  assert.equal(job!.status!.failed, 1);
  pods = (await podsOf("idx")).filter(isActive);
  assert.deepEqual(pods.map(indexOf).sort(), ["1", "2"], "index 1 again, index 0 not");
  for (const p of pods) await finish(p, "Succeeded");
  await h.runToQuiet();
  job = await getJob("idx");
  assert.equal(job!.status!.completedIndexes, "0-2");
  assert.equal(job!.status!.succeeded, 3);
  assert.deepEqual(conditionsOf(job), ["SuccessCriteriaMet:CompletionsReached", "Complete:CompletionsReached"]);
  const succeeded = (await podsOf("idx")).filter((p) => p.status?.phase === "Succeeded").map(indexOf).sort();
  assert.deepEqual(succeeded, ["0", "1", "2"], "each index succeeded exactly once");
});

test("suspend deletes the running pods without counting them, resume starts them again", async () => {
  await createJob("pause", { completions: 4, parallelism: 2 });
  await h.runToQuiet();
  assert.equal((await podsOf("pause")).filter(isActive).length, 2);
  await h.client.resource(JOBS).patch("default", "pause", "merge", { spec: { suspend: true } });
  await h.runToQuiet();
  let job = await getJob("pause");
  assert.equal((await podsOf("pause")).length, 0, "deleted, finalizer first");
  assert.equal(job!.status!.active, 0);
  assert.equal(job!.status!.failed, undefined, "suspension is no failure");
  assert.deepEqual(job!.status!.conditions!.map((c) => [c.type, c.status, c.reason]), [["Suspended", "True", "JobSuspended"]]);
  const start = job!.status!.startTime;
  await h.clock.advance(5_000);
  await h.client.resource(JOBS).patch("default", "pause", "merge", { spec: { suspend: false } });
  await h.runToQuiet();
  job = await getJob("pause");
  assert.equal((await podsOf("pause")).filter(isActive).length, 2);
  assert.deepEqual(job!.status!.conditions!.map((c) => [c.type, c.status, c.reason]), [["Suspended", "False", "JobResumed"]]);
  assert.notEqual(job!.status!.startTime, start, "the deadline counts from the resume");
  const reasons = (await eventsOf("pause")).map((e) => e.reason);
  assert.ok(reasons.includes("Suspended") && reasons.includes("Resumed"), reasons.join());
  await h.client.resource(JOBS).delete("default", "pause");
});

test("activeDeadlineSeconds: on the clock, the running pods are stopped and the Job fails with DeadlineExceeded", async () => {
  await createJob("late", { activeDeadlineSeconds: 30, parallelism: 2, completions: 2 });
  await h.runToQuiet(0);
  assert.equal((await podsOf("late")).filter(isActive).length, 2);
  await h.clock.advance(29_000);
  await h.runToQuiet(0);
  assert.deepEqual(conditionsOf(await getJob("late")), [], "not before 30 s");
  await h.clock.advance(1_000);
  await h.runToQuiet(0);
  const job = await getJob("late");
  assert.deepEqual(conditionsOf(job), ["FailureTarget:DeadlineExceeded", "Failed:DeadlineExceeded"]);
  assert.equal(job!.status!.failed, 2);
  assert.equal((await podsOf("late")).length, 0);
  assert.equal((await eventsOf("late")).find((e) => e.reason === "DeadlineExceeded")?.message, "Job was active longer than specified deadline");
});

test("ttlSecondsAfterFinished deletes the finished Job and its pods when the time comes", async () => {
  await createJob("brief", { ttlSecondsAfterFinished: 60 });
  await h.runToQuiet();
  await finish((await podsOf("brief"))[0]!, "Succeeded");
  await h.runToQuiet(0);
  assert.deepEqual(conditionsOf(await getJob("brief")), ["SuccessCriteriaMet:CompletionsReached", "Complete:CompletionsReached"]);
  await h.clock.advance(59_000);
  await h.runToQuiet(0);
  assert.ok(await getJob("brief"), "kept until the TTL");
  await h.clock.advance(1_000);
  await h.runToQuiet();
  assert.equal(await getJob("brief"), undefined);
  assert.equal((await podsOf("brief")).length, 0);
});

test("a deleted Job's pods lose the tracking finalizer, so they can go", async () => {
  await createJob("gone", { parallelism: 2, completions: 2 });
  await h.runToQuiet();
  assert.equal((await podsOf("gone")).length, 2);
  await h.client.resource(JOBS).delete("default", "gone", { propagationPolicy: "Orphan" });
  await h.runToQuiet();
  const pods = await podsOf("gone");
  assert.equal(pods.length, 2, "orphaned, not deleted");
  for (const p of pods) assert.deepEqual(p.metadata.finalizers ?? [], []);
});

test("bad specs are refused with Kubernetes' causes; work-queue Jobs keep completions unset", async () => {
  await assert.rejects(createJob("noidx", { completionMode: "Indexed", parallelism: 2 }), /spec.completions: Required value/);
  await assert.rejects(createJob("neg", { activeDeadlineSeconds: 0 }), /spec.activeDeadlineSeconds: Invalid value: 0/);
  const wq = await createJob("wq", { parallelism: 2 });
  assert.equal(wq.spec.completions, undefined);
  await h.runToQuiet();
  const pods = await podsOf("wq");
  assert.equal(pods.length, 2);
  await finish(pods[0]!, "Succeeded");
  await h.runToQuiet();
  assert.deepEqual(conditionsOf(await getJob("wq")), [], "the other pod still runs");
  assert.equal((await podsOf("wq")).filter(isActive).length, 1, "no new pod after a success");
  await finish(pods[1]!, "Succeeded");
  await h.runToQuiet();
  assert.deepEqual(conditionsOf(await getJob("wq")), ["SuccessCriteriaMet:CompletionsReached", "Complete:CompletionsReached"]);
  assert.equal(h.manager.controllers.find((c) => c.name === "job")!.failures, 0, h.logs.join("\n"));
});

/** Runs a Job with completions 4 / parallelism 2 on a server whose controllers die after `crashAfter`, then on a new server over the same store. */
async function crashAndRestart(name: string, crashAfter: (req: ApiRequest) => boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-job-restart-"));
  const clock = new FakeClock();
  const crash = crashingTransport(crashAfter);
  const controllers = (ctx: ControllerContext) => [new JobController(ctx), new GarbageCollector(ctx)];
  try {
    let first: Harness | undefined = await startHarness(controllers, { dataDir: dir, clock, wrapTransport: crash.wrap });
    try {
      await first.client.resource(JOBS).create("default", { metadata: { name }, spec: { completions: 4, parallelism: 2, template: template() } });
      await first.runToQuiet();
      const running = (await first.list(PODS, "default")) as Pod[];
      assert.equal(running.length, 2);
      for (const p of running) await finish(p, "Succeeded", first);
      await first.runToQuiet();
      assert.ok(crash.crashed, "the controllers died part way through counting");
      const halfway = (await first.get(JOBS, "default", name)) as Job;
      assert.notEqual(halfway.status?.succeeded, 2, "the crash left the counting unfinished");
      await first.stop();
      first = undefined;
    } finally {
      await first?.stop();
    }
    const second = await startHarness(controllers, { dataDir: dir, clock });
    try {
      await second.runToQuiet();
      let job = (await second.get(JOBS, "default", name)) as Job;
      assert.equal(job.status!.succeeded, 2, "each finished pod counted once, none missed");
      assert.deepEqual(job.status!.uncountedTerminatedPods, {});
      let pods = (await second.list(PODS, "default")) as Pod[];
      assert.equal(pods.length, 4, "two more pods, no duplicate");
      for (const p of pods.filter(isActive)) await finish(p, "Succeeded", second);
      await second.runToQuiet();
      job = (await second.get(JOBS, "default", name)) as Job;
      assert.equal(job.status!.succeeded, 4);
      assert.deepEqual(conditionsOf(job), ["SuccessCriteriaMet:CompletionsReached", "Complete:CompletionsReached"]);
      pods = (await second.list(PODS, "default")) as Pod[];
      assert.equal(pods.length, 4);
      assert.ok(pods.every((p) => !(p.metadata.finalizers ?? []).length));
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("restart after the finished pods were recorded but before any finalizer was removed: counted once", async () => {
  await crashAndRestart("crash1", (req) => req.method === "PUT" && req.path.includes("/jobs/crash1/status") && (req.body ?? "").includes('"uncountedTerminatedPods":{"succeeded":["'));
});

test("restart after one finalizer of two was removed: counted once", async () => {
  await crashAndRestart("crash2", (req) => req.method === "PATCH" && req.path.includes("/pods/") && (req.body ?? "").includes("$deleteFromPrimitiveList"));
});
