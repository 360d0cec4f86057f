// The Job controller (pkg/controller/job, Kubernetes 1.31 behaviour): runs pods until
// completions succeed (parallelism at a time; Indexed: each index once), fails the Job
// past backoffLimit or activeDeadlineSeconds, suspends and resumes it, and reports
// active/ready/terminating/succeeded/failed/completedIndexes with the conditions of 1.31+:
// SuccessCriteriaMet then Complete, FailureTarget then Failed, the final one only once no
// pod of the Job is still terminating.
//
// Every pod carries the `batch.kubernetes.io/job-tracking` finalizer, so a pod that
// finishes cannot disappear before it is counted, whatever restarts in between: a finished
// pod's uid goes into status.uncountedTerminatedPods (written first), then its finalizer
// is removed, then the uid moves into the counters. A crash between any two steps leaves
// a state the next sync finishes the same way; nothing is counted twice.
//
// Keys: "ns/name" for a Job; "orphan-pod|ns/name" for a pod that still has the finalizer
// but no unfinished Job to count it (its Job deleted or finished): the finalizer goes.
import { isDeepStrictEqual } from "node:util";
import { ApiStatusError, BY_OWNER_UID, copyObject, isConflict, isNotFound, objectKey, splitKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { isJobFinished, JOBS, type Job } from "./_batch-types.ts";
import { EventRecorder } from "./_events.ts";
import { Expectations } from "./_expectations.ts";
import {
  accountFinishedPods,
  backoffRemainingMs,
  countReady,
  countTerminating,
  countUncounted,
  deadlineRemainingMs,
  ensureCondition,
  firstPendingIndexes,
  hasTrackingFinalizer,
  isIndexed,
  isPodFailed,
  isSuspended,
  JOB_TRACKING_FINALIZER,
  MAX_POD_CREATE_DELETE_PER_SYNC,
  newCondition,
  nextBackoffRecord,
  parseIndexes,
  pastBackoffLimitOnFailure,
  podForJob,
  podsForRemoval,
  REASON_BACKOFF_LIMIT,
  REASON_COMPLETIONS,
  REASON_DEADLINE,
  wantActive,
  completionIndexOf,
  completionsOf,
  formatIndexes,
  type BackoffRecord,
} from "./_job-plan.ts";
import { controllerOf } from "./_owner-refs.ts";
import { isPodActive, isPodReady } from "./_pods.ts";
import { rfc3339 } from "./_time.ts";
import { PODS, type Condition, type Pod } from "./_types.ts";
import { slowStartBatch } from "./replicaset.ts";

const ORPHAN_POD = "orphan-pod|";

/** The strategic merge patch that takes the tracking finalizer off a pod (removeTrackingFinalizerPatch). */
const removeFinalizerPatch = (pod: Pod) => ({ metadata: { uid: pod.metadata.uid, "$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER] } });

/** Per Job: the pods whose finalizer removal was sent and not yet seen (finalizerExpectations). */
class FinalizerRemovals {
  private readonly byJob = new Map<string, Set<string>>();
  pending(jobKey: string): Set<string> {
    return this.byJob.get(jobKey) ?? new Set();
  }
  expect(jobKey: string, uids: string[]): void {
    if (!uids.length) return;
    const set = this.byJob.get(jobKey) ?? new Set();
    for (const u of uids) set.add(u);
    this.byJob.set(jobKey, set);
  }
  observed(jobKey: string, uid: string): void {
    const set = this.byJob.get(jobKey);
    set?.delete(uid);
    if (set?.size === 0) this.byJob.delete(jobKey);
  }
  forget(jobKey: string): void {
    this.byJob.delete(jobKey);
  }
}

/** One sync's working state (syncJobCtx). */
interface SyncState {
  job: Job;
  pods: Pod[];
  active: Pod[];
  activeCount: number;
  ready: number;
  terminating: number;
  succeeded: number;
  failed: number;
  succeededIndexes: Set<number>;
  previousIndexes: Set<number>;
  finishing?: Condition;
  backoff: BackoffRecord;
}

export class JobController extends Controller {
  private readonly jobs: Informer<Job>;
  private readonly pods: Informer<Pod>;
  private readonly expectations: Expectations;
  private readonly removals = new FinalizerRemovals();
  private readonly backoffs = new Map<string, BackoffRecord>();
  /** The resourceVersion of each Job's last status write: until the cache shows it, the cache's counts are older than ours. */
  private readonly written = new Map<string, string>();
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("job", ctx);
    this.expectations = new Expectations(ctx.clock);
    this.events = new EventRecorder(ctx.client, "job-controller", ctx.clock, ctx.log);
    this.jobs = ctx.informers.informerFor<Job>(JOBS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.jobs.addHandlers({
      onAdd: (job) => this.queue.add(objectKey(job)),
      onUpdate: (_old, job) => this.queue.add(objectKey(job)),
      onDelete: (job) => {
        const key = objectKey(job);
        this.expectations.forget(key);
        this.removals.forget(key);
        this.backoffs.delete(key);
        this.written.delete(key);
        // Its pods keep their finalizer until someone takes it off: we do.
        for (const pod of this.pods.cache.byIndex(BY_OWNER_UID, job.metadata.uid!)) if (hasTrackingFinalizer(pod)) this.queue.add(ORPHAN_POD + objectKey(pod));
      },
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podChanged(undefined, pod),
      onUpdate: (old, pod) => this.podChanged(old, pod),
      onDelete: (pod) => this.podDeleted(pod),
    });
  }

  /** The unfinished-or-not Job a pod's controller reference names, if cached with that uid. */
  private jobOf(pod: Pod): Job | undefined {
    const ref = controllerOf(pod);
    if (ref?.kind !== "Job" || !ref.apiVersion.startsWith("batch/")) return undefined;
    const job = this.jobs.cache.get(`${pod.metadata.namespace}/${ref.name}`);
    return job?.metadata.uid === ref.uid ? job : undefined;
  }

  private podChanged(old: Pod | undefined, pod: Pod): void {
    if (old && old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const job = this.jobOf(pod);
    if (!job) {
      if (hasTrackingFinalizer(pod)) this.queue.add(ORPHAN_POD + objectKey(pod));
      if (old) {
        const before = this.jobOf(old);
        if (before) this.queue.add(objectKey(before));
      }
      return;
    }
    const key = objectKey(job);
    if (!old) this.expectations.creationObserved(key);
    if (pod.metadata.deletionTimestamp && !old?.metadata.deletionTimestamp) this.expectations.deletionObserved(key, objectKey(pod));
    if (old && hasTrackingFinalizer(old) && !hasTrackingFinalizer(pod)) this.removals.observed(key, pod.metadata.uid!);
    if (isJobFinished(job) && hasTrackingFinalizer(pod)) this.queue.add(ORPHAN_POD + objectKey(pod));
    this.queue.add(key);
  }

  private podDeleted(pod: Pod): void {
    const job = this.jobOf(pod);
    if (!job) return;
    const key = objectKey(job);
    this.expectations.deletionObserved(key, objectKey(pod));
    this.removals.observed(key, pod.metadata.uid!);
    this.queue.add(key);
  }

  async reconcile(key: string): Promise<void> {
    if (key.startsWith(ORPHAN_POD)) return this.releaseOrphanPod(key.slice(ORPHAN_POD.length));
    try {
      await this.syncJob(key);
    } catch (err) {
      // The Job went away while this sync worked on its cached copy (e.g. an orphaning delete
      // finished by the garbage collector): its delete event brings the key back to the
      // "not in the cache" path, so there is nothing to retry.
      if (isNotFound(err) && err instanceof ApiStatusError && err.statusDetails?.kind === "jobs" && err.statusDetails.name === splitKey(key).name) return;
      throw err;
    }
  }

  /** A pod with the finalizer whose Job is gone or finished: nothing will count it any more (syncOrphanPod). */
  private async releaseOrphanPod(podKey: string): Promise<void> {
    const pod = this.pods.cache.get(podKey);
    if (!pod || !hasTrackingFinalizer(pod)) return;
    const ref = controllerOf(pod);
    if (ref) {
      // Another controller's pod: not ours to touch.
      if (ref.kind !== "Job" || !ref.apiVersion.startsWith("batch/")) return;
      let job = this.jobOf(pod);
      if (!job) {
        // The cache may lag behind a Job just created: ask the server before letting go.
        job = await this.ctx.client
          .resource<Job>(JOBS)
          .get(pod.metadata.namespace, ref.name)
          .catch((err: unknown) => {
            if (isNotFound(err)) return undefined;
            throw err;
          });
        if (job && job.metadata.uid !== ref.uid) job = undefined;
      }
      if (job && !isJobFinished(job)) return;
    }
    await this.removeFinalizer(pod);
  }

  private async removeFinalizer(pod: Pod): Promise<void> {
    try {
      await this.ctx.client.resource<Pod>(PODS).patch(pod.metadata.namespace, pod.metadata.name!, "strategic", removeFinalizerPatch(pod));
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  private async syncJob(key: string): Promise<void> {
    const cached = this.jobs.cache.get(key);
    if (!cached) {
      this.expectations.forget(key);
      this.removals.forget(key);
      this.backoffs.delete(key);
      this.written.delete(key);
      return;
    }
    if (isJobFinished(cached)) {
      this.backoffs.delete(key);
      this.written.delete(key);
      return;
    }
    // Our own last write not yet seen: its update event brings the key back.
    if (!cacheHasSeen(cached.metadata.resourceVersion, this.written.get(key))) return;
    const job = copyObject(cached);
    const now = this.ctx.clock.now();
    const uid = job.metadata.uid!;
    const pods = this.pods.cache.byIndex(BY_OWNER_UID, uid).filter((p) => controllerOf(p)?.uid === uid);
    const expectedRemovals = this.removals.pending(key);
    const satisfied = this.expectations.satisfied(key) && expectedRemovals.size === 0;
    const status = (job.status ??= {});
    status.uncountedTerminatedPods ??= {};
    const uncounted = { succeeded: new Set(status.uncountedTerminatedPods.succeeded ?? []), failed: new Set(status.uncountedTerminatedPods.failed ?? []) };
    const active = pods.filter(isPodActive);
    // Finished pods not yet recorded anywhere (getNewFinishedPods).
    const fresh = pods.filter((p) => hasTrackingFinalizer(p) && !expectedRemovals.has(p.metadata.uid!) && (!isIndexed(job) || (completionIndexOf(p) ?? Infinity) < (completionsOf(job) ?? 0)));
    const newSucceeded = fresh.filter((p) => p.status?.phase === "Succeeded" && !uncounted.succeeded.has(p.metadata.uid!));
    const newFailed = fresh.filter((p) => isPodFailed(p, job) && !uncounted.failed.has(p.metadata.uid!));
    const previousIndexes = parseIndexes(status.completedIndexes, completionsOf(job) ?? 0);
    const succeededIndexes = new Set(previousIndexes);
    if (isIndexed(job)) for (const p of newSucceeded) succeededIndexes.add(completionIndexOf(p)!);
    const s: SyncState = {
      job,
      pods,
      active,
      activeCount: active.length,
      ready: countReady(active),
      terminating: countTerminating(pods),
      succeeded: isIndexed(job) ? succeededIndexes.size : (status.succeeded ?? 0) + newSucceeded.length + uncounted.succeeded.size,
      failed: (status.failed ?? 0) + newFailed.length + uncounted.failed.size,
      succeededIndexes,
      previousIndexes,
      backoff: nextBackoffRecord(this.backoffs.get(key), newSucceeded, newFailed, now),
    };
    if (!status.startTime && !isSuspended(job)) status.startTime = rfc3339(now);

    // A decision taken earlier stands; otherwise look for one now.
    const conditions = (status.conditions ??= []);
    s.finishing = conditions.find((c) => (c.type === "SuccessCriteriaMet" || c.type === "FailureTarget") && c.status === "True");
    if (!s.finishing) {
      const remaining = deadlineRemainingMs(job, now);
      if (s.failed > (job.spec.backoffLimit ?? 6) || pastBackoffLimitOnFailure(job, active)) s.finishing = newCondition("FailureTarget", "True", REASON_BACKOFF_LIMIT.reason, REASON_BACKOFF_LIMIT.message, now);
      else if (remaining !== undefined && remaining <= 0) s.finishing = newCondition("FailureTarget", "True", REASON_DEADLINE.reason, REASON_DEADLINE.message, now);
      else if (remaining !== undefined) this.queue.addAfter(key, remaining);
    }

    let manageError: Error | undefined;
    if (s.finishing) {
      // Finishing: what still runs is stopped (keeping the finalizer, so it is counted as it goes).
      const { deleted, deletedReady, error } = await this.deletePods(key, job, s.active, false);
      manageError = error;
      // Not all gone, or the cache not yet showing our own changes: decide again next time.
      if (deleted !== s.activeCount || !satisfied) s.finishing = undefined;
      s.activeCount -= deleted;
      s.terminating += deleted;
      s.ready -= deletedReady;
    } else {
      let managed = false;
      if (satisfied && !job.metadata.deletionTimestamp) {
        manageError = await this.manageJob(key, s, now);
        managed = true;
      }
      const completions = completionsOf(job);
      const complete =
        completions === undefined ? s.succeeded > 0 && s.activeCount === 0 : isIndexed(job) ? s.succeededIndexes.size >= completions : s.succeeded >= completions && s.activeCount === 0;
      if (complete) s.finishing = newCondition("SuccessCriteriaMet", "True", REASON_COMPLETIONS.reason, REASON_COMPLETIONS.message, now);
      else if (managed) await this.updateSuspension(job, now);
    }
    status.active = s.activeCount;
    status.ready = s.ready;
    status.terminating = s.terminating;
    await this.trackStatus(key, cached, s, now);
    if (manageError) throw manageError;
  }

  /** Suspended (condition True, event) or resumed (condition False, startTime reset so the deadline counts from now). */
  private async updateSuspension(job: Job, now: number): Promise<void> {
    const conditions = job.status!.conditions!;
    if (isSuspended(job)) {
      if (ensureCondition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)) await this.events.event(JOBS, job, "Normal", "Suspended", "Job suspended");
    } else if (ensureCondition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)) {
      await this.events.event(JOBS, job, "Normal", "Resumed", "Job resumed");
      job.status!.startTime = rfc3339(now);
    }
  }

  /** Creates or deletes pods so the right number run (manageJob); returns the error that stopped it, if any. */
  private async manageJob(key: string, s: SyncState, now: number): Promise<Error | undefined> {
    const { job } = s;
    if (isSuspended(job)) {
      const { deleted, deletedReady, error } = await this.deletePods(key, job, s.active, true);
      s.activeCount -= deleted;
      s.terminating += deleted;
      s.ready -= deletedReady;
      return error;
    }
    const want = wantActive(job, s.succeeded, s.activeCount);
    const toDelete = podsForRemoval(job, s.active, Math.max(0, s.activeCount - want)).slice(0, MAX_POD_CREATE_DELETE_PER_SYNC);
    if (toDelete.length) {
      const { deleted, deletedReady, error } = await this.deletePods(key, job, toDelete, true);
      s.activeCount -= deleted;
      s.terminating += deleted;
      s.ready -= deletedReady;
      return error;
    }
    // With podReplacementPolicy Failed, a terminating pod is replaced only once it is gone.
    const replacing = job.spec.podReplacementPolicy === "Failed" ? s.terminating : 0;
    let diff = want - replacing - s.activeCount;
    if (diff <= 0) return undefined;
    const wait = backoffRemainingMs(s.backoff, now);
    if (wait > 0) {
      this.queue.addAfter(key, wait);
      return undefined;
    }
    diff = Math.min(diff, MAX_POD_CREATE_DELETE_PER_SYNC);
    const indexes = isIndexed(job) ? firstPendingIndexes(job, s.succeededIndexes, s.active, diff) : undefined;
    if (indexes) diff = indexes.length;
    if (diff <= 0) return undefined;
    this.expectations.expect(key, diff);
    const pods = this.ctx.client.resource<Pod>(PODS);
    let next = 0;
    const { done, error } = await slowStartBatch(diff, async () => {
      const index = indexes?.[next++];
      try {
        const pod = await pods.create(job.metadata.namespace, podForJob(job, index));
        await this.events.event(JOBS, job, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
      } catch (err) {
        await this.events.event(JOBS, job, "Warning", "FailedCreate", `Error creating: ${(err as Error).message}`);
        throw err;
      }
    });
    // Pods never created will never be seen: stop waiting for them.
    for (let i = done; i < diff; i++) this.expectations.creationObserved(key);
    s.activeCount += done;
    return error;
  }

  /**
   * Deletes pods (deleteJobPods / deleteActivePods). Removed from the Job's count
   * (suspend, scale down): the finalizer goes first, so they are not counted as failed.
   * Stopped because the Job is finishing: the finalizer stays and they count as they go.
   */
  private async deletePods(key: string, job: Job, victims: Pod[], uncount: boolean): Promise<{ deleted: number; deletedReady: number; error?: Error }> {
    if (!victims.length) return { deleted: 0, deletedReady: 0 };
    this.expectations.expect(key, 0, victims.map((p) => objectKey(p)));
    const pods = this.ctx.client.resource<Pod>(PODS);
    let deleted = 0;
    let deletedReady = 0;
    let error: Error | undefined;
    await Promise.all(
      victims.map(async (pod) => {
        try {
          if (uncount && hasTrackingFinalizer(pod)) await pods.patch(pod.metadata.namespace, pod.metadata.name!, "strategic", removeFinalizerPatch(pod));
          await pods.delete(pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
          await this.events.event(JOBS, job, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`);
        } catch (err) {
          this.expectations.deletionObserved(key, objectKey(pod));
          if (!isNotFound(err)) {
            await this.events.event(JOBS, job, "Warning", "FailedDelete", `Error deleting: ${(err as Error).message}`);
            error ??= err as Error;
            return;
          }
        }
        deleted++;
        if (isPodReady(pod)) deletedReady++;
      }),
    );
    return { deleted, deletedReady, error };
  }

  /**
   * Records finished pods and the Job's end (trackJobStatusAndRemoveFinalizers): status with
   * the newly finished uids (and the interim condition) first, then the finalizers off,
   * then the uids into the counters and — once none is uncounted and no pod terminating —
   * Complete or Failed with the event.
   */
  private async trackStatus(key: string, cached: Job, s: SyncState, now: number): Promise<void> {
    let job = s.job;
    const status = job.status!;
    const acc = accountFinishedPods(job, s.pods, { expectedRemovals: this.removals.pending(key), finishing: s.finishing, previousIndexes: s.previousIndexes });
    const uncounted = status.uncountedTerminatedPods!;
    if (acc.uncountedSucceeded.length) uncounted.succeeded = [...(uncounted.succeeded ?? []), ...acc.uncountedSucceeded];
    if (acc.uncountedFailed.length) uncounted.failed = [...(uncounted.failed ?? []), ...acc.uncountedFailed];
    if (isIndexed(job)) {
      const indexes = new Set([...s.previousIndexes, ...acc.newSucceededIndexes]);
      status.completedIndexes = formatIndexes(indexes);
      status.succeeded = indexes.size;
    }
    let final: Condition | undefined;
    if (s.finishing) {
      if (!status.conditions!.some((c) => c.type === s.finishing!.type && c.status === "True")) status.conditions!.push(s.finishing);
      final = newCondition(s.finishing.type === "SuccessCriteriaMet" ? "Complete" : "Failed", "True", s.finishing.reason!, s.finishing.message!, now);
    }
    const write = async () => {
      job = await this.ctx.client.resource<Job>(JOBS).updateStatus(job);
      job.status ??= {};
      this.written.set(key, job.metadata.resourceVersion!);
    };
    // 1. What is about to lose its finalizer is on record first.
    if (!sameStatus(cached.status, job.status)) await write();
    // 2. The finalizers.
    const stillHeld = new Set(s.pods.filter(hasTrackingFinalizer).map((p) => p.metadata.uid!));
    this.removals.expect(key, acc.removeFinalizer.map((p) => p.metadata.uid!));
    const results = await Promise.allSettled(acc.removeFinalizer.map((p) => this.removeFinalizer(p)));
    let removalError: Error | undefined;
    results.forEach((r, i) => {
      const uid = acc.removeFinalizer[i]!.metadata.uid!;
      if (r.status === "fulfilled") stillHeld.delete(uid);
      else {
        this.removals.observed(key, uid);
        removalError ??= r.reason as Error;
      }
    });
    // 3. Uids whose pods have let go move into the counters; then maybe the end.
    const before = JSON.stringify(job.status);
    countUncounted(job, stillHeld);
    const uncountedLeft = (job.status!.uncountedTerminatedPods?.succeeded?.length ?? 0) + (job.status!.uncountedTerminatedPods?.failed?.length ?? 0);
    const ends = final !== undefined && !acc.reachedMax && uncountedLeft === 0 && s.terminating === 0 && !removalError;
    if (ends) {
      ensureCondition(job.status!.conditions!, final!.type, "True", final!.reason!, final!.message!, now);
      if (final!.type === "Complete") job.status!.completionTime = rfc3339(now);
    }
    if (JSON.stringify(job.status) !== before) await write();
    if (removalError) throw removalError;
    this.backoffs.set(key, s.backoff);
    if (ends) {
      this.backoffs.delete(key);
      if (final!.type === "Complete") await this.events.event(JOBS, job, "Normal", "Completed", "Job completed");
      else await this.events.event(JOBS, job, "Warning", final!.reason!, final!.message!);
    }
  }
}

const sameStatus = (a: unknown, b: unknown) => isDeepStrictEqual(a ?? {}, b ?? {});

/** Whether the cache has caught up with a resourceVersion we wrote (revisions are numbers here; anything else counts as caught up). */
function cacheHasSeen(cached: string | undefined, written: string | undefined): boolean {
  if (!written || !cached || !/^\d+$/.test(cached) || !/^\d+$/.test(written)) return true;
  return BigInt(cached) >= BigInt(written);
}
