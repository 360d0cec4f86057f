// The arithmetic of Deployments (pkg/controller/deployment/util/deployment_util.go), pure:
// maxSurge/maxUnavailable fenceposts, revisions and the annotations that carry them, which
// ReplicaSet is new and which are old, the status a set of ReplicaSets gives a Deployment,
// and its Available/Progressing conditions with Kubernetes' reasons and messages.
import { invalidArgument } from "../../common/errors.ts";
import { templatesEqualIgnoringHash } from "./_pod-template-hash.ts";
import type { Condition, Deployment, DeploymentStatus, ReplicaSet } from "./_types.ts";

export const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";
export const REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history";
export const DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas";
export const MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas";
export const CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause";
const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to";
/** Longest revision-history annotation kept (the controller's default MaxRevHistoryLengthInChars). */
const REVISION_HISTORY_LIMIT_CHARS = 2000;

/** Annotations a Deployment does not pass to its ReplicaSets (skipCopyAnnotation). */
const NOT_COPIED = new Set([LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION]);

// Condition reasons (deployment_util.go).
export const REASON_NEW_RS_AVAILABLE = "NewReplicaSetAvailable";
export const REASON_TIMED_OUT = "ProgressDeadlineExceeded";
export const REASON_RS_UPDATED = "ReplicaSetUpdated";
export const REASON_FOUND_NEW_RS = "FoundNewReplicaSet";
export const REASON_NEW_RS_CREATED = "NewReplicaSetCreated";
export const REASON_FAILED_RS_CREATE = "ReplicaSetCreateError";
export const REASON_PAUSED = "DeploymentPaused";
export const REASON_RESUMED = "DeploymentResumed";
export const REASON_MIN_AVAILABLE = "MinimumReplicasAvailable";
export const REASON_MIN_UNAVAILABLE = "MinimumReplicasUnavailable";

/** A progressDeadlineSeconds of MaxInt32 means none. */
const NO_DEADLINE = 2147483647;

export const replicasOf = (x: { spec: { replicas?: number } } | undefined): number => x?.spec.replicas ?? 1;

/**
 * An int-or-percent scaled against total (intstr.GetScaledValueFromIntOrPercent): "25%" of
 * 10 is 2.5, rounded up or down as asked. Anything else is the API's 422.
 */
export function scaledValue(value: number | string | undefined, total: number, roundUp: boolean): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  const m = /^(-?\d+)%$/.exec(value);
  if (!m) {
    if (/^-?\d+$/.test(value)) return Number(value);
    throw invalidArgument(`invalid value for IntOrString: invalid type: string is not a percentage: "${value}"`);
  }
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/** maxSurge (rounded up) and maxUnavailable (rounded down); both 0 would deadlock, so unavailable becomes 1 (ResolveFenceposts). */
export function resolveFenceposts(maxSurge: number | string | undefined, maxUnavailable: number | string | undefined, desired: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge, desired, true);
  let unavailable = scaledValue(maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export const isRollingUpdate = (d: Deployment) => (d.spec.strategy?.type ?? "RollingUpdate") === "RollingUpdate";

export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge ?? "25%", ru?.maxUnavailable ?? "25%", replicasOf(d)).surge;
}

export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return Math.min(resolveFenceposts(ru?.maxSurge ?? "25%", ru?.maxUnavailable ?? "25%", replicas).unavailable, replicas);
}

export function revisionOf(rs: { metadata: { annotations?: Record<string, string> } } | undefined): number {
  const v = rs?.metadata.annotations?.[REVISION_ANNOTATION];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export const maxRevision = (sets: ReplicaSet[]) => sets.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);

const created = (o: ReplicaSet) => Date.parse(o.metadata.creationTimestamp ?? "") || 0;

/** Oldest first; ties by name (controller.ReplicaSetsByCreationTimestamp). */
export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  return created(a) - created(b) || (a.metadata.name! < b.metadata.name! ? -1 : a.metadata.name! > b.metadata.name! ? 1 : 0);
}

/** Lowest revision first; ties by creation (ReplicaSetsByRevision). */
export function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

/** Largest first; ties newer first (ReplicaSetsBySizeNewer). */
export function bySizeNewer(a: ReplicaSet, b: ReplicaSet): number {
  return replicasOf(b) - replicasOf(a) || byCreation(b, a);
}

/** Largest first; ties older first (ReplicaSetsBySizeOlder). */
export function bySizeOlder(a: ReplicaSet, b: ReplicaSet): number {
  return replicasOf(b) - replicasOf(a) || byCreation(a, b);
}

/** The oldest set whose template is the Deployment's (FindNewReplicaSet): several can exist after a hash collision. */
export function findNewReplicaSet(d: Deployment, sets: ReplicaSet[]): ReplicaSet | undefined {
  return [...sets].sort(byCreation).find((rs) => templatesEqualIgnoringHash(rs.spec.template, d.spec.template));
}

export const activeSets = (sets: (ReplicaSet | undefined)[]): ReplicaSet[] => sets.filter((rs): rs is ReplicaSet => !!rs && replicasOf(rs) > 0);

export const sumSpecReplicas = (sets: (ReplicaSet | undefined)[]) => sets.reduce((n, rs) => n + (rs ? replicasOf(rs) : 0), 0);
export const sumStatusReplicas = (sets: (ReplicaSet | undefined)[]) => sets.reduce((n, rs) => n + (rs?.status?.replicas ?? 0), 0);
export const sumReady = (sets: (ReplicaSet | undefined)[]) => sets.reduce((n, rs) => n + (rs?.status?.readyReplicas ?? 0), 0);
export const sumAvailable = (sets: (ReplicaSet | undefined)[]) => sets.reduce((n, rs) => n + (rs?.status?.availableReplicas ?? 0), 0);

const annotationsOf = (o: { metadata: { annotations?: Record<string, string> } }) => (o.metadata.annotations ??= {});

/** Sets the desired- and max-replicas annotations; whether anything changed (SetReplicasAnnotations). */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = annotationsOf(rs);
  let changed = false;
  for (const [k, v] of [[DESIRED_REPLICAS_ANNOTATION, String(desired)], [MAX_REPLICAS_ANNOTATION, String(max)]] as const) {
    if (a[k] !== v) {
      a[k] = v;
      changed = true;
    }
  }
  return changed;
}

export function replicasAnnotationsNeedUpdate(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = rs.metadata.annotations ?? {};
  return a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
}

/**
 * Brings the Deployment's annotations (change-cause and the user's) to the new set, and
 * moves its revision up to newRevision, keeping the revisions it had in revision-history
 * (a rollback makes an old set new again). SetNewReplicaSetAnnotations.
 */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  const a = annotationsOf(rs);
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (NOT_COPIED.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const had = Object.hasOwn(a, REVISION_ANNOTATION);
  const oldRevision = a[REVISION_ANNOTATION] ?? "";
  const oldRevisionNum = oldRevision === "" ? 0 : Number(oldRevision);
  if (!Number.isInteger(oldRevisionNum)) return changed;
  if (oldRevisionNum < newRevision) {
    a[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (had && oldRevision !== "") {
      const history = a[REVISION_HISTORY_ANNOTATION] ?? "";
      if (history === "") a[REVISION_HISTORY_ANNOTATION] = oldRevision;
      else {
        const kept = history.split(",");
        let total = history.length + oldRevision.length + 1;
        while (total > REVISION_HISTORY_LIMIT_CHARS && kept.length) total -= kept.shift()!.length + 1;
        if (total <= REVISION_HISTORY_LIMIT_CHARS) a[REVISION_HISTORY_ANNOTATION] = [...kept, oldRevision].join(",");
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/** The Deployment's own revision annotation follows its new set's (SetDeploymentRevision). */
export function setDeploymentRevision(d: Deployment, revision: string): boolean {
  const a = annotationsOf(d);
  if (a[REVISION_ANNOTATION] === revision) return false;
  a[REVISION_ANNOTATION] = revision;
  return true;
}

/** How many replicas the new set should have now (NewRSNewReplicas). */
export function newReplicaSetReplicas(d: Deployment, all: ReplicaSet[], newRs: ReplicaSet): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const current = sumSpecReplicas(all);
  const maxTotal = replicasOf(d) + maxSurge(d);
  if (current >= maxTotal) return replicasOf(newRs);
  const up = Math.min(maxTotal - current, replicasOf(d) - replicasOf(newRs));
  return replicasOf(newRs) + up;
}

// ---- conditions ----

export function getCondition(status: DeploymentStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export function newCondition(type: string, status: Condition["status"], reason: string, message: string, now: string): Condition {
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

/** Sets a condition; one with the same status and reason is left as it is (SetDeploymentCondition). */
export function setCondition(status: DeploymentStatus, cond: Condition): void {
  const cur = getCondition(status, cond.type);
  if (cur && cur.status === cond.status && cur.reason === cond.reason) return;
  const next = { ...cond };
  if (cur && cur.status === cond.status) next.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== cond.type), next];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((c) => c.type !== type);
}

export const hasProgressDeadline = (d: Deployment) => d.spec.progressDeadlineSeconds !== undefined && d.spec.progressDeadlineSeconds !== NO_DEADLINE;

/** Counts from the sets, and Available from whether enough are (calculateStatus). */
export function calculateStatus(d: Deployment, all: (ReplicaSet | undefined)[], newRs: ReplicaSet | undefined, now: string): DeploymentStatus {
  const available = sumAvailable(all);
  const total = sumSpecReplicas(all);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: sumStatusReplicas(all),
    updatedReplicas: sumStatusReplicas([newRs]),
    readyReplicas: sumReady(all),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
    conditions: (d.status?.conditions ?? []).map((c) => ({ ...c })),
  };
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  if (available >= replicasOf(d) - maxUnavailable(d)) setCondition(status, newCondition("Available", "True", REASON_MIN_AVAILABLE, "Deployment has minimum availability.", now));
  else setCondition(status, newCondition("Available", "False", REASON_MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now));
  return status;
}

/** Every replica updated and available, and the spec seen (DeploymentComplete). */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const want = replicasOf(d);
  return (s.updatedReplicas ?? 0) === want && (s.replicas ?? 0) === want && (s.availableReplicas ?? 0) === want && (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
}

/** Something moved forward since the last status (DeploymentProgressing). */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** No progress for progressDeadlineSeconds since Progressing was last updated (DeploymentTimedOut). */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const cond = getCondition(s, "Progressing");
  if (!cond || cond.reason === REASON_NEW_RS_AVAILABLE) return false;
  if (cond.reason === REASON_TIMED_OUT) return true;
  const from = Date.parse(cond.lastUpdateTime ?? "");
  return !Number.isNaN(from) && from + d.spec.progressDeadlineSeconds! * 1000 < now;
}

/** Status fields Kubernetes leaves out when zero (omitempty), for comparing and writing. */
export function compactStatus(s: DeploymentStatus): DeploymentStatus {
  const out: DeploymentStatus = {};
  for (const [k, v] of Object.entries(s) as [keyof DeploymentStatus, unknown][]) {
    if (v === 0 || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
