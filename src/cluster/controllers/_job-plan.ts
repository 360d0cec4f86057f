// The Job controller's decisions without I/O (pkg/controller/job/job_controller.go,
// indexed_job_utils.go, backoff_utils.go as of Kubernetes 1.31): which pods count as
// finished, how many should run, which to delete, which completion indexes to start, the
// pod back-off, the pods a sync creates, and the job-tracking accounting that moves a
// finished pod into the status before its finalizer goes.
import { JOBS, type Job } from "./_batch-types.ts";
import { controllerRefTo } from "./_owner-refs.ts";
import { compareForDeletion, isPodActive, isPodReady } from "./_pods.ts";
import { rfc3339 } from "./_time.ts";
import type { Condition, Pod } from "./_types.ts";

export const JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking";
export const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";
export const CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid";
export const COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index";
export const COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX";

/** Pod back-off after failures: 10 s, doubling per failure since the last success, at most 6 min (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff). */
export const POD_BACKOFF_MS = 10_000;
export const MAX_POD_BACKOFF_MS = 360_000;
/** At most this many pods created or deleted per sync (MaxPodCreateDeletePerSync). */
export const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
/** At most this many uids in status.uncountedTerminatedPods at once (MaxUncountedPods). */
export const MAX_UNCOUNTED_PODS = 500;

export const isSuspended = (job: Job) => job.spec.suspend === true;
export const isIndexed = (job: Job) => job.spec.completionMode === "Indexed";
export const hasTrackingFinalizer = (pod: Pod) => pod.metadata.finalizers?.includes(JOB_TRACKING_FINALIZER) === true;
export const completionsOf = (job: Job): number | undefined => job.spec.completions ?? undefined;

/** The pod's completion index (the annotation, as upstream reads it), if it is a valid number. */
export function completionIndexOf(pod: Pod): number | undefined {
  const v = pod.metadata.annotations?.[COMPLETION_INDEX_KEY];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** Has a usable index for this Job: present and below completions. */
function validIndex(job: Job, pod: Pod): number | undefined {
  const ix = completionIndexOf(pod);
  return ix !== undefined && ix < (completionsOf(job) ?? 0) ? ix : undefined;
}

/** status.completedIndexes ("1,3-5,7") as a set, indexes at or past completions dropped. */
export function parseIndexes(text: string | undefined, completions: number): Set<number> {
  const out = new Set<number>();
  for (const part of (text ?? "").split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = Math.min(Number(m[2] ?? m[1]), completions - 1);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** Indexes in upstream's compressed form: sorted, consecutive runs as ranges ("0,2-4"). */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * Whether the pod counts as failed (isPodFailed): phase Failed; or, unless the Job replaces
 * only failed pods, being deleted without having succeeded — so a pod that never reaches
 * a phase (deleted by someone, its node gone) is still counted.
 */
export function isPodFailed(pod: Pod, job: Job): boolean {
  const phase = pod.status?.phase;
  if (phase === "Failed") return true;
  if (job.spec.podReplacementPolicy === "Failed") return false;
  return !!pod.metadata.deletionTimestamp && phase !== "Succeeded";
}

/** Pods being deleted that have not finished (controller.CountTerminatingPods). */
export function countTerminating(pods: Pod[]): number {
  return pods.filter((p) => p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed").length;
}

/** How many pods should be running (manageJob's wantActive). */
export function wantActive(job: Job, succeeded: number, active: number): number {
  const parallelism = job.spec.parallelism ?? 1;
  const completions = completionsOf(job);
  // A work-queue Job keeps parallelism running until one succeeds, then lets the rest finish.
  if (completions === undefined) return succeeded > 0 ? active : parallelism;
  return Math.max(0, Math.min(completions - succeeded, parallelism));
}

/** restartPolicy OnFailure: the restarts of the running pods' containers reach the back-off limit (pastBackoffLimitOnFailure). */
export function pastBackoffLimitOnFailure(job: Job, active: Pod[]): boolean {
  if (job.spec.template?.spec?.restartPolicy !== "OnFailure") return false;
  let restarts = 0;
  for (const pod of active) {
    for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) restarts += c.restartCount ?? 0;
  }
  const limit = job.spec.backoffLimit ?? 6;
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

/** Ran for activeDeadlineSeconds since startTime (suspension stops the clock: startTime is reset on resume). */
export function deadlineRemainingMs(job: Job, now: number): number | undefined {
  const deadline = job.spec.activeDeadlineSeconds;
  const start = job.status?.startTime ? Date.parse(job.status.startTime) : NaN;
  if (deadline === undefined || Number.isNaN(start) || isSuspended(job)) return undefined;
  return start + deadline * 1000 - now;
}

const activeOrder = (a: Pod, b: Pod) => compareForDeletion(a, b, () => 0, undefined);

/**
 * The active pods to delete to get down by rmAtLeast (activePodsForRemoval): for an
 * Indexed Job first those with no valid index and all but one of each duplicated index,
 * then in the order a ReplicaSet would delete them (unscheduled, pending, not ready, newer).
 */
export function podsForRemoval(job: Job, active: Pod[], rmAtLeast: number): Pod[] {
  const rm: Pod[] = [];
  let left = active;
  if (isIndexed(job)) {
    left = [];
    const byIndex = new Map<number, Pod[]>();
    for (const p of active) {
      const ix = validIndex(job, p);
      if (ix === undefined) rm.push(p);
      else byIndex.set(ix, [...(byIndex.get(ix) ?? []), p]);
    }
    for (const pods of byIndex.values()) {
      // Keep the one furthest along (the last in deletion order); the rest are duplicates.
      const sorted = [...pods].sort(activeOrder);
      rm.push(...sorted.slice(0, -1));
      left.push(sorted[sorted.length - 1]!);
    }
  }
  if (rm.length < rmAtLeast) rm.push(...[...left].sort(activeOrder).slice(0, rmAtLeast - rm.length));
  return rm;
}

/** The lowest `count` indexes that neither succeeded nor have an active pod (firstPendingIndexes). */
export function firstPendingIndexes(job: Job, succeeded: Set<number>, active: Pod[], count: number): number[] {
  const completions = completionsOf(job) ?? 0;
  const running = new Set(active.map((p) => validIndex(job, p)).filter((ix) => ix !== undefined));
  const out: number[] = [];
  for (let i = 0; i < completions && out.length < count; i++) if (!succeeded.has(i) && !running.has(i)) out.push(i);
  return out;
}

/** Failures since the last success, and when the latest happened: what the pod back-off is computed from. */
export interface BackoffRecord {
  failuresAfterLastSuccess: number;
  lastFailureTime?: number;
}

/**
 * When a pod finished (getFinishedTime): its containers' latest finishedAt, else when it
 * stopped being ready, else its deletion time, else its creation. A time ahead of the
 * controller's clock (skew between servers) counts as now.
 */
export function finishedTime(pod: Pod, now: number): number {
  const times: number[] = [];
  for (const c of (pod.status?.containerStatuses ?? []) as { state?: { terminated?: { finishedAt?: string } } }[]) {
    const t = Date.parse(c.state?.terminated?.finishedAt ?? "");
    if (!Number.isNaN(t)) times.push(t);
  }
  let t = times.length ? Math.max(...times) : NaN;
  if (Number.isNaN(t)) {
    const ready = pod.status?.conditions?.find((c) => c.type === "Ready" && c.status === "False");
    t = Date.parse(ready?.lastTransitionTime ?? "");
  }
  if (Number.isNaN(t)) t = Date.parse(pod.metadata.deletionTimestamp ?? "");
  if (Number.isNaN(t)) t = Date.parse(pod.metadata.creationTimestamp ?? "");
  return Number.isNaN(t) ? now : Math.min(t, now);
}

/** The record after newly finished pods (backoffStore.newBackoffRecord): a success resets it; failures after the latest success count. */
export function nextBackoffRecord(prev: BackoffRecord | undefined, newSucceeded: Pod[], newFailed: Pod[], now: number): BackoffRecord {
  const record: BackoffRecord = { ...(prev ?? { failuresAfterLastSuccess: 0 }) };
  const failedTimes = newFailed.map((p) => finishedTime(p, now)).sort((a, b) => a - b);
  if (newSucceeded.length === 0) {
    if (failedTimes.length === 0) return record;
    return { failuresAfterLastSuccess: record.failuresAfterLastSuccess + failedTimes.length, lastFailureTime: failedTimes[failedTimes.length - 1] };
  }
  const lastSuccess = Math.max(...newSucceeded.map((p) => finishedTime(p, now)));
  const after = failedTimes.filter((t) => t > lastSuccess);
  return after.length ? { failuresAfterLastSuccess: after.length, lastFailureTime: after[after.length - 1] } : { failuresAfterLastSuccess: 0 };
}

/** How long new pods must wait (getRemainingTime): 10 s · 2^(failures-1), capped at 6 min, from the last failure. */
export function backoffRemainingMs(record: BackoffRecord | undefined, now: number): number {
  if (!record || record.failuresAfterLastSuccess === 0 || record.lastFailureTime === undefined) return 0;
  let backoff = POD_BACKOFF_MS;
  for (let i = 1; i < record.failuresAfterLastSuccess && backoff < MAX_POD_BACKOFF_MS; i++) backoff *= 2;
  backoff = Math.min(backoff, MAX_POD_BACKOFF_MS);
  return Math.max(0, backoff - (now - record.lastFailureTime));
}

/** Names are at most 63 characters; a generated one adds 5 to its base, which the server cuts to 58 (MaxGeneratedNameLength). */
const MAX_GENERATED_BASE = 58;

/**
 * A pod for the Job (GetPodFromTemplate plus the Job's additions): `<job>-<5>` (Indexed:
 * `<job>-<index>-<5>` with the index as annotation, label, hostname `<job>-<index>` and
 * JOB_COMPLETION_INDEX from the annotation through the downward API), the Job as
 * controller, and the job-tracking finalizer so the pod cannot vanish uncounted.
 */
export function podForJob(job: Job, index?: number): Pod {
  const t = job.spec.template ?? {};
  const meta = t.metadata ?? {};
  const name = job.metadata.name!;
  const suffix = index === undefined ? "-" : `-${index}-`;
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${name.slice(0, MAX_GENERATED_BASE - suffix.length)}${suffix}`,
      namespace: job.metadata.namespace,
      labels: { ...(meta.labels ?? {}) },
      annotations: { ...(meta.annotations ?? {}) },
      finalizers: [...new Set([...((meta.finalizers as string[] | undefined) ?? []), JOB_TRACKING_FINALIZER])],
      ownerReferences: [controllerRefTo(job, JOBS)],
    },
    spec: structuredClone(t.spec ?? {}),
  };
  if (index !== undefined) {
    pod.metadata.annotations![COMPLETION_INDEX_KEY] = String(index);
    pod.metadata.labels![COMPLETION_INDEX_KEY] = String(index);
    pod.spec!.hostname = `${name}-${index}`;
    const indexEnv = { name: COMPLETION_INDEX_ENV, valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: `metadata.annotations['${COMPLETION_INDEX_KEY}']` } } };
    for (const list of [pod.spec!.initContainers, pod.spec!.containers] as ({ env?: { name: string }[] }[] | undefined)[]) {
      for (const c of list ?? []) if (!(c.env ?? []).some((e) => e.name === COMPLETION_INDEX_ENV)) c.env = [...(c.env ?? []), indexEnv];
    }
  }
  if (!Object.keys(pod.metadata.annotations!).length) delete pod.metadata.annotations;
  return pod;
}

export function newCondition(type: string, status: Condition["status"], reason: string, message: string, now: number): Condition {
  const t = rfc3339(now);
  return { type, status, lastProbeTime: t, lastTransitionTime: t, reason, message };
}

/**
 * Sets a condition to status/reason/message (ensureJobConditionStatus): replaced when any
 * of them differs, added when missing unless it would be False; says whether it changed.
 */
export function ensureCondition(list: Condition[], type: string, status: Condition["status"], reason: string, message: string, now: number): boolean {
  const i = list.findIndex((c) => c.type === type);
  if (i >= 0) {
    const c = list[i]!;
    if (c.status === status && c.reason === reason && c.message === message) return false;
    list[i] = newCondition(type, status, reason, message, now);
    return true;
  }
  if (status === "False") return false;
  list.push(newCondition(type, status, reason, message, now));
  return true;
}

export const REASON_BACKOFF_LIMIT = { reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
export const REASON_DEADLINE = { reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" };
export const REASON_COMPLETIONS = { reason: "CompletionsReached", message: "Reached expected number of succeeded pods" };

/** What a sync does about pods that finished (trackJobStatusAndRemoveFinalizers' loop). */
export interface FinishedPodsAccounting {
  /** Pods whose finalizer goes once the status records them. */
  removeFinalizer: Pod[];
  /** Uids newly put in uncountedTerminatedPods. */
  uncountedSucceeded: string[];
  uncountedFailed: string[];
  /** Indexed: indexes newly completed. */
  newSucceededIndexes: number[];
  /** The 500-uid cap stopped the walk: the rest waits for the next sync. */
  reachedMax: boolean;
}

/**
 * Walks the Job's pods that still carry the finalizer (and whose removal is not already
 * under way): a finished pod — or, once the Job is finishing or being deleted, any pod — is
 * recorded (succeeded by uid, or by index for Indexed; failed by uid) and its finalizer
 * queued for removal. When the Job is failing, a pod that did not succeed counts as failed.
 */
export function accountFinishedPods(job: Job, pods: Pod[], opts: { expectedRemovals: Set<string>; finishing?: Condition; previousIndexes: Set<number> }): FinishedPodsAccounting {
  const uncounted = job.status?.uncountedTerminatedPods ?? {};
  const countedSucceeded = new Set(uncounted.succeeded ?? []);
  const countedFailed = new Set(uncounted.failed ?? []);
  const out: FinishedPodsAccounting = { removeFinalizer: [], uncountedSucceeded: [], uncountedFailed: [], newSucceededIndexes: [], reachedMax: false };
  const failing = opts.finishing !== undefined && opts.finishing.type !== "SuccessCriteriaMet";
  const indexed = isIndexed(job);
  const total = () => out.newSucceededIndexes.length + out.uncountedSucceeded.length + out.uncountedFailed.length;
  for (const pod of pods) {
    const uid = pod.metadata.uid!;
    if (!hasTrackingFinalizer(pod) || opts.expectedRemovals.has(uid)) continue;
    const failed = isPodFailed(pod, job);
    const canRemove = !!job.metadata.deletionTimestamp || opts.finishing !== undefined || pod.status?.phase === "Succeeded" || failed;
    if (!canRemove) continue;
    out.removeFinalizer.push(pod);
    if (pod.status?.phase === "Succeeded" && !countedFailed.has(uid)) {
      if (indexed) {
        const ix = validIndex(job, pod);
        if (ix !== undefined && !opts.previousIndexes.has(ix) && !out.newSucceededIndexes.includes(ix)) out.newSucceededIndexes.push(ix);
      } else if (!countedSucceeded.has(uid)) out.uncountedSucceeded.push(uid);
    } else if (failed || failing) {
      if (!countedFailed.has(uid) && (!indexed || validIndex(job, pod) !== undefined)) out.uncountedFailed.push(uid);
    }
    if (total() >= MAX_UNCOUNTED_PODS) {
      out.reachedMax = true;
      break;
    }
  }
  return out;
}

/** Moves uids whose pods no longer carry the finalizer (or are gone) from uncountedTerminatedPods into the counters (cleanUncountedPodsWithoutFinalizers). */
export function countUncounted(job: Job, stillHeld: Set<string>): boolean {
  const status = (job.status ??= {});
  const uncounted = (status.uncountedTerminatedPods ??= {});
  let changed = false;
  for (const kind of ["succeeded", "failed"] as const) {
    const keep: string[] = [];
    for (const uid of uncounted[kind] ?? []) {
      if (stillHeld.has(uid)) keep.push(uid);
      else {
        status[kind] = (status[kind] ?? 0) + 1;
        changed = true;
      }
    }
    if (keep.length) uncounted[kind] = keep;
    else delete uncounted[kind];
  }
  return changed;
}

/** Ready active pods, as status.ready counts them. */
export const countReady = (pods: Pod[]) => pods.filter((p) => isPodActive(p) && isPodReady(p)).length;
