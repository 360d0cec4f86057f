// The CronJob controller (pkg/controller/cronjob/cronjob_controllerv2.go): at each start
// of spec.schedule (in spec.timeZone) it creates the Job `<cronjob>-<minutes since the
// epoch>` from spec.jobTemplate, honouring concurrencyPolicy (Allow, Forbid: skip while one
// runs, Replace: delete the running ones first), startingDeadlineSeconds, suspend and the
// successful/failed history limits, and keeps status.active, lastScheduleTime and
// lastSuccessfulTime. It waits for the next start on the clock (the key is queued for just
// after it), never polls. After a pause — a server restart — the most recent missed start
// is run if still within the starting deadline; past 100 missed starts it says so. The Job
// name is the lock: a start tried twice (a crash between creating the Job and recording
// it) finds its Job already there and only records it.
import { BY_OWNER_UID, copyObject, isAlreadyExists, isNotFound, objectKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { CRON_JOBS, finishedConditionOf, isJobFinished, JOBS, type CronJob, type Job } from "./_batch-types.ts";
import { formatInZone, isKnownTimeZone, mostRecentScheduleTime, nextScheduleDelay, parseSchedule, scheduledJobName, type Schedule } from "./_cron-schedule.ts";
import { EventRecorder } from "./_events.ts";
import { controllerOf, controllerRefTo } from "./_owner-refs.ts";
import { rfc3339 } from "./_time.ts";

export const SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp";

const parseTime = (t: string | undefined) => (t ? Date.parse(t) : undefined);

/** The Job for one start (getJobFromTemplate2): the template's labels, annotations and spec, the start in the name and an annotation, the CronJob as controller. */
export function jobForStart(cj: CronJob, scheduled: number): Job {
  const meta = cj.spec.jobTemplate.metadata ?? {};
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: scheduledJobName(cj.metadata.name!, scheduled),
      namespace: cj.metadata.namespace,
      labels: { ...(meta.labels ?? {}) },
      annotations: { ...(meta.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: formatInZone(scheduled, cj.spec.timeZone) },
      ownerReferences: [controllerRefTo(cj, CRON_JOBS)],
    },
    spec: structuredClone(cj.spec.jobTemplate.spec),
  };
}

/** Finished Jobs beyond a history limit, oldest first by start time, then name (byJobStartTime). */
export function jobsOverLimit(jobs: Job[], limit: number | undefined): Job[] {
  if (limit === undefined || jobs.length <= limit) return [];
  const start = (j: Job) => parseTime(j.status?.startTime);
  const sorted = [...jobs].sort((a, b) => {
    const sa = start(a);
    const sb = start(b);
    if (sa === undefined || sb === undefined) return sa === sb ? a.metadata.name!.localeCompare(b.metadata.name!) : sa === undefined ? 1 : -1;
    return sa === sb ? a.metadata.name!.localeCompare(b.metadata.name!) : sa - sb;
  });
  return sorted.slice(0, jobs.length - limit);
}

export class CronJobController extends Controller {
  private readonly cronJobs: Informer<CronJob>;
  private readonly jobs: Informer<Job>;
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("cronjob", ctx);
    this.events = new EventRecorder(ctx.client, "cronjob-controller", ctx.clock, ctx.log);
    this.cronJobs = ctx.informers.informerFor<CronJob>(CRON_JOBS);
    this.jobs = ctx.informers.informerFor<Job>(JOBS);
    this.cronJobs.addHandlers({ onAdd: (cj) => this.queue.add(objectKey(cj)), onUpdate: (_old, cj) => this.queue.add(objectKey(cj)) });
    const jobChanged = (job: Job) => {
      const ref = controllerOf(job);
      if (ref?.kind === CRON_JOBS.kind && ref.apiVersion.startsWith("batch/")) this.queue.add(`${job.metadata.namespace}/${ref.name}`);
    };
    this.jobs.addHandlers({ onAdd: jobChanged, onUpdate: (_old, job) => jobChanged(job), onDelete: jobChanged });
  }

  async reconcile(key: string): Promise<void> {
    const cached = this.cronJobs.cache.get(key);
    if (!cached) return;
    const uid = cached.metadata.uid!;
    const jobs = this.jobs.cache.byIndex(BY_OWNER_UID, uid).filter((j) => controllerOf(j)?.uid === uid);
    const cj = copyObject(cached);
    cj.status ??= {};
    const cleaned = await this.cleanupFinishedJobs(cj, jobs);
    const { requeueAfter, changed, error } = await this.syncCronJob(cj, jobs);
    if (cleaned || changed) {
      try {
        await this.ctx.client.resource<CronJob>(CRON_JOBS).updateStatus(cj);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        return;
      }
    }
    if (requeueAfter !== undefined) {
      this.queue.addAfter(key, Math.max(0, requeueAfter));
      return;
    }
    if (error) throw error;
  }

  /** Deletes finished Jobs past the history limits; says whether the active list changed. */
  private async cleanupFinishedJobs(cj: CronJob, jobs: Job[]): Promise<boolean> {
    const succeeded = jobs.filter((j) => finishedConditionOf(j)?.type === "Complete");
    const failed = jobs.filter((j) => finishedConditionOf(j)?.type === "Failed");
    let changed = false;
    for (const job of [...jobsOverLimit(succeeded, cj.spec.successfulJobsHistoryLimit), ...jobsOverLimit(failed, cj.spec.failedJobsHistoryLimit)]) {
      if (await this.deleteJob(cj, job)) changed = true;
    }
    return changed;
  }

  /** Deletes a Job (Background: its pods follow) and takes it off the active list. */
  private async deleteJob(cj: CronJob, job: Job): Promise<boolean> {
    try {
      await this.ctx.client.resource<Job>(JOBS).delete(job.metadata.namespace, job.metadata.name!, { propagationPolicy: "Background", preconditions: { uid: job.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err)) {
        await this.events.event(CRON_JOBS, cj, "Warning", "FailedDelete", `Deleted job: ${(err as Error).message}`);
        return false;
      }
    }
    cj.status!.active = (cj.status!.active ?? []).filter((r) => r.uid !== job.metadata.uid);
    await this.events.event(CRON_JOBS, cj, "Normal", "SuccessfulDelete", `Deleted job ${job.metadata.name}`);
    return true;
  }

  private async syncCronJob(cj: CronJob, jobs: Job[]): Promise<{ requeueAfter?: number; changed: boolean; error?: Error }> {
    const status = cj.status!;
    const now = this.ctx.clock.now();
    let changed = false;
    const isActive = (uid: string | undefined) => (status.active ?? []).some((r) => r.uid === uid);
    for (const job of jobs) {
      const finished = finishedConditionOf(job);
      if (!isActive(job.metadata.uid) && !finished) {
        await this.events.event(CRON_JOBS, cj, "Warning", "UnexpectedJob", `Saw a job that the controller did not create or forgot: ${job.metadata.name}`);
      } else if (isActive(job.metadata.uid) && finished) {
        status.active = status.active!.filter((r) => r.uid !== job.metadata.uid);
        await this.events.event(CRON_JOBS, cj, "Normal", "SawCompletedJob", `Saw completed job: ${job.metadata.name}, condition: ${finished.type}`);
        changed = true;
      }
      const completed = finished?.type === "Complete" ? parseTime(job.status?.completionTime) : undefined;
      if (completed !== undefined && (parseTime(status.lastSuccessfulTime) ?? -Infinity) < completed) {
        status.lastSuccessfulTime = job.status!.completionTime;
        changed = true;
      }
    }
    // Active Jobs gone from the cache: asked of the server before being dropped (the cache may lag).
    for (const ref of [...(status.active ?? [])]) {
      if (jobs.some((j) => j.metadata.uid === ref.uid)) continue;
      const live = await this.ctx.client
        .resource<Job>(JOBS)
        .get(ref.namespace ?? cj.metadata.namespace, ref.name)
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      if (live?.metadata.uid === ref.uid) continue;
      await this.events.event(CRON_JOBS, cj, "Normal", "MissingJob", `Active job went missing: ${ref.name}`);
      status.active = status.active!.filter((r) => r.uid !== ref.uid);
      changed = true;
    }
    if (cj.metadata.deletionTimestamp) return { changed };
    if (cj.spec.timeZone !== undefined && !isKnownTimeZone(cj.spec.timeZone)) {
      await this.events.event(CRON_JOBS, cj, "Warning", "UnknownTimeZone", `invalid timeZone: "${cj.spec.timeZone}": unknown time zone ${cj.spec.timeZone}`);
      return { changed };
    }
    if (cj.spec.suspend) return { changed };
    let schedule: Schedule;
    try {
      schedule = parseSchedule(cj.spec.schedule, cj.spec.timeZone);
    } catch (err) {
      await this.events.event(CRON_JOBS, cj, "Warning", "UnparseableSchedule", `unparseable schedule: "${cj.spec.schedule}" : ${(err as Error).message}`);
      return { changed };
    }
    const times = { created: parseTime(cj.metadata.creationTimestamp) ?? now, lastScheduled: parseTime(status.lastScheduleTime), startingDeadlineSeconds: cj.spec.startingDeadlineSeconds };
    // From the last schedule time as it stands when the sync ends (a start just made moves it).
    const requeue = () => ({ requeueAfter: nextScheduleDelay({ ...times, lastScheduled: parseTime(status.lastScheduleTime) }, now, schedule), changed });
    let due: number | undefined;
    try {
      const r = mostRecentScheduleTime(times, now, schedule, true);
      due = r.mostRecent;
      if (due !== undefined && r.missed === "many") {
        await this.events.event(CRON_JOBS, cj, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
      }
    } catch (err) {
      await this.events.event(CRON_JOBS, cj, "Warning", "InvalidSchedule", `invalid schedule: ${cj.spec.schedule} : ${(err as Error).message}`);
      return { changed };
    }
    // A start older than startingDeadlineSeconds is never found (the search begins at now - deadline),
    // so upstream's MissSchedule branch cannot be reached and is left out.
    if (due === undefined) return requeue();
    const name = scheduledJobName(cj.metadata.name!, due);
    if ((status.active ?? []).some((r) => r.name === name) || parseTime(status.lastScheduleTime) === due) return requeue();
    if (cj.spec.concurrencyPolicy === "Forbid" && (status.active ?? []).length > 0) {
      await this.events.event(CRON_JOBS, cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
      return requeue();
    }
    if (cj.spec.concurrencyPolicy === "Replace") {
      for (const ref of [...(status.active ?? [])]) {
        const job = jobs.find((j) => j.metadata.uid === ref.uid);
        if (!job) continue;
        if (!(await this.deleteJob(cj, job))) return { changed, error: new Error(`could not replace job ${job.metadata.namespace}/${job.metadata.name}`) };
        changed = true;
      }
    }
    let created: Job;
    try {
      created = await this.ctx.client.resource<Job>(JOBS).create(cj.metadata.namespace, jobForStart(cj, due));
      await this.events.event(CRON_JOBS, cj, "Normal", "SuccessfulCreate", `Created job ${created.metadata.name}`);
    } catch (err) {
      if (!isAlreadyExists(err)) {
        await this.events.event(CRON_JOBS, cj, "Warning", "FailedCreate", `Error creating job: ${(err as Error).message}`);
        return { changed, error: err as Error };
      }
      // Created before (a crash before the status was written): record it if it is ours.
      created = await this.ctx.client.resource<Job>(JOBS).get(cj.metadata.namespace, name);
      if (controllerOf(created)?.uid !== cj.metadata.uid || isActive(created.metadata.uid)) return { changed };
    }
    if (!isJobFinished(created)) {
      status.active = [...(status.active ?? []), { kind: "Job", namespace: created.metadata.namespace, name: created.metadata.name!, uid: created.metadata.uid, apiVersion: "batch/v1", resourceVersion: created.metadata.resourceVersion }];
    }
    status.lastScheduleTime = rfc3339(due);
    return { ...requeue(), changed: true };
  }
}
