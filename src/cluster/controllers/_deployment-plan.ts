// One sync of a Deployment, planned without I/O (pkg/controller/deployment: sync.go,
// rolling.go, recreate.go, progress.go). The planner runs Kubernetes' algorithm against
// copies of the Deployment and its ReplicaSets, applying each change to its copies as the
// upstream controller applies it to the API, and records the writes in order: ReplicaSets
// to create, update (scale, annotations) or delete, the Deployment's annotations, its new
// status, and when to look again. The controller then makes those writes.
import { selectsEverything } from "./_label-selector.ts";
import { computeTemplateHash, POD_TEMPLATE_HASH_LABEL } from "./_pod-template-hash.ts";
import { controllerRefTo } from "./_owner-refs.ts";
import {
  activeSets,
  byCreation,
  byRevision,
  bySizeNewer,
  bySizeOlder,
  calculateStatus,
  compactStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  DESIRED_REPLICAS_ANNOTATION,
  findNewReplicaSet,
  getCondition,
  hasProgressDeadline,
  isRollingUpdate,
  MAX_REPLICAS_ANNOTATION,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newReplicaSetReplicas,
  REASON_FOUND_NEW_RS,
  REASON_NEW_RS_AVAILABLE,
  REASON_NEW_RS_CREATED,
  REASON_PAUSED,
  REASON_RESUMED,
  REASON_RS_UPDATED,
  REASON_TIMED_OUT,
  removeCondition,
  replicasAnnotationsNeedUpdate,
  replicasOf,
  setCondition,
  setDeploymentRevision,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  sumAvailable,
  sumSpecReplicas,
  sumStatusReplicas,
} from "./_rollout.ts";
import { rfc3339 } from "./_time.ts";
import { DEPLOYMENTS, type Deployment, type DeploymentStatus, type Pod, type ReplicaSet } from "./_types.ts";

export type SetWrite = { op: "create" | "update" | "delete"; rs: ReplicaSet };

export interface DeploymentEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface DeploymentPlan {
  /** ReplicaSet writes, in the order to make them. */
  writes: SetWrite[];
  /** Events to record on the Deployment, each once `afterWrite` writes are made. */
  events: { afterWrite: number; event: DeploymentEvent }[];
  /** The Deployment's annotations, when they change (its revision). */
  annotations?: Record<string, string>;
  /** The Deployment's status, when it changes. */
  status?: DeploymentStatus;
  /** Look again after this long (a progress deadline to check). */
  requeueAfterMs?: number;
}

export interface DeploymentInput {
  deployment: Deployment;
  /** The ReplicaSets the Deployment controls (already claimed). */
  sets: ReplicaSet[];
  /** Pods by the uid of the set controlling them (Recreate waits for old ones to go). */
  podsBySet: Map<string, Pod[]>;
  now: number;
}

const clone = <T>(v: T): T => structuredClone(v);
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function planDeployment(input: DeploymentInput): DeploymentPlan {
  return new Planner(input).plan();
}

class Planner {
  private readonly d: Deployment;
  private sets: ReplicaSet[];
  private readonly writes: SetWrite[] = [];
  private readonly events: DeploymentPlan["events"] = [];
  private requeueAfterMs: number | undefined;
  private readonly nowIso: string;

  constructor(private readonly input: DeploymentInput) {
    this.d = clone(input.deployment);
    this.d.status ??= {};
    this.sets = input.sets.map(clone);
    this.nowIso = rfc3339(input.now);
  }

  plan(): DeploymentPlan {
    this.sync();
    const out: DeploymentPlan = { writes: this.writes, events: this.events };
    const before = this.input.deployment;
    if (!sameJson(before.metadata.annotations ?? {}, this.d.metadata.annotations ?? {})) out.annotations = this.d.metadata.annotations;
    if (!sameJson(compactStatus(before.status ?? {}), compactStatus(this.d.status!))) out.status = compactStatus(this.d.status!);
    if (this.requeueAfterMs !== undefined) out.requeueAfterMs = this.requeueAfterMs;
    return out;
  }

  private event(type: DeploymentEvent["type"], reason: string, message: string): void {
    this.events.push({ afterWrite: this.writes.length, event: { type, reason, message } });
  }

  /** syncDeployment, after the sets are claimed. */
  private sync(): void {
    const d = this.d;
    if (selectsEverything(d.spec.selector)) {
      this.event("Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.");
      if ((d.status!.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) d.status!.observedGeneration = d.metadata.generation;
      return;
    }
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly();
    this.checkPausedConditions();
    if (d.spec.paused) return this.syncScaleOnly();
    if (this.isScalingEvent()) return this.syncScaleOnly();
    if (isRollingUpdate(d)) this.rolloutRolling();
    else this.rolloutRecreate();
  }

  // ---- the sets, as the writes so far leave them ----

  private record(op: SetWrite["op"], rs: ReplicaSet): void {
    const prior = op === "update" ? this.writes.find((w) => w.op !== "delete" && w.rs.metadata.name === rs.metadata.name) : undefined;
    if (prior) prior.rs = rs;
    else this.writes.push({ op, rs });
    this.sets = op === "delete" ? this.sets.filter((s) => s.metadata.name !== rs.metadata.name) : [...this.sets.filter((s) => s.metadata.name !== rs.metadata.name), rs];
  }

  /** The new set and every old one (getAllReplicaSetsAndSyncRevision). */
  private newAndOld(createIfMissing: boolean): { newRs: ReplicaSet | undefined; old: ReplicaSet[] } {
    const found = findNewReplicaSet(this.d, this.sets);
    const old = this.sets.filter((rs) => rs !== found);
    return { newRs: this.syncNewReplicaSet(found, old, createIfMissing), old: this.sets.filter((rs) => old.some((o) => o.metadata.name === rs.metadata.name)) };
  }

  /** getNewReplicaSet: brings an existing new set's annotations up to date, or creates it. */
  private syncNewReplicaSet(existing: ReplicaSet | undefined, old: ReplicaSet[], createIfMissing: boolean): ReplicaSet | undefined {
    const d = this.d;
    const newRevision = maxRevision(old) + 1;
    if (existing) {
      const rs = clone(existing);
      const annotationsChanged = setNewReplicaSetAnnotations(d, rs, newRevision, true);
      const minReadyChanged = (rs.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0);
      let current = existing;
      if (annotationsChanged || minReadyChanged) {
        rs.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        this.record("update", rs);
        current = rs;
      }
      setDeploymentRevision(d, current.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? "");
      if (hasProgressDeadline(d) && !getCondition(d.status, "Progressing")) {
        setCondition(d.status!, newCondition("Progressing", "True", REASON_FOUND_NEW_RS, `Found new replica set "${current.metadata.name}"`, this.nowIso));
      }
      return current;
    }
    if (!createIfMissing) return undefined;

    const hash = computeTemplateHash(d.spec.template, d.status!.collisionCount);
    const template = clone(d.spec.template ?? {});
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
    const selector = clone(d.spec.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const rs: ReplicaSet = {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...template.metadata.labels },
        ownerReferences: [controllerRefTo(d, DEPLOYMENTS)],
        // Server-owned; set here only so the planner orders the new set as the newest.
        creationTimestamp: this.nowIso,
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    rs.spec.replicas = newReplicaSetReplicas(d, [...old, rs], rs);
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    this.record("create", rs);
    if (replicasOf(rs) > 0) this.event("Normal", "ScalingReplicaSet", `Scaled up replica set ${rs.metadata.name} from 0 to ${replicasOf(rs)}`);
    setDeploymentRevision(d, String(newRevision));
    if (hasProgressDeadline(d)) setCondition(d.status!, newCondition("Progressing", "True", REASON_NEW_RS_CREATED, `Created new replica set "${rs.metadata.name}"`, this.nowIso));
    return rs;
  }

  /** scaleReplicaSet: the size and the desired/max annotations, with an event when the size changes. */
  private scaleSet(rs: ReplicaSet, newScale: number, operation?: "up" | "down"): { scaled: boolean; rs: ReplicaSet } {
    const d = this.d;
    const max = replicasOf(d) + maxSurge(d);
    const sizeChanges = replicasOf(rs) !== newScale;
    if (!sizeChanges && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), max)) return { scaled: false, rs };
    const next = clone(rs);
    const from = replicasOf(rs);
    next.spec.replicas = newScale;
    setReplicasAnnotations(next, replicasOf(d), max);
    this.record("update", next);
    if (sizeChanges) {
      const op = operation ?? (from < newScale ? "up" : "down");
      this.event("Normal", "ScalingReplicaSet", `Scaled ${op} replica set ${rs.metadata.name} from ${from} to ${newScale}`);
    }
    return { scaled: sizeChanges, rs: next };
  }

  /** scaleReplicaSetAndRecordEvent: nothing when the size is already right; returns the set as it now is. */
  private scaleTo(rs: ReplicaSet, newScale: number): { scaled: boolean; rs: ReplicaSet } {
    if (replicasOf(rs) === newScale) return { scaled: false, rs };
    return this.scaleSet(rs, newScale);
  }

  // ---- rolling update ----
  // As upstream, the status is computed from the sets as they were found this sync (the
  // sizes just written show up in the next one, through the informer).

  private rolloutRolling(): void {
    const { newRs, old } = this.newAndOld(true);
    const all = [...old, newRs!];
    if (this.reconcileNewReplicaSet(all, newRs!)) return this.syncRolloutStatus(all, newRs);
    if (this.reconcileOldReplicaSets(all, activeSets(old), newRs!)) return this.syncRolloutStatus(all, newRs);
    if (deploymentComplete(this.d, this.d.status!)) this.cleanup(old);
    this.syncRolloutStatus(all, newRs);
  }

  private reconcileNewReplicaSet(all: ReplicaSet[], newRs: ReplicaSet): boolean {
    const want = replicasOf(this.d);
    if (replicasOf(newRs) === want) return false;
    if (replicasOf(newRs) > want) return this.scaleTo(newRs, want).scaled;
    return this.scaleTo(newRs, newReplicaSetReplicas(this.d, all, newRs)).scaled;
  }

  private reconcileOldReplicaSets(all: ReplicaSet[], old: ReplicaSet[], newRs: ReplicaSet): boolean {
    if (sumSpecReplicas(old) === 0) return false;
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    const newUnavailable = replicasOf(newRs) - (newRs.status?.availableReplicas ?? 0);
    const maxScaledDown = sumSpecReplicas(all) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = this.cleanupUnhealthyReplicas(old, maxScaledDown);
    const scaledDown = this.scaleDownOldForRollingUpdate([...cleaned.sets, newRs], cleaned.sets);
    return cleaned.count + scaledDown > 0;
  }

  /** Old sets' unavailable pods go first, whatever their age (cleanupUnhealthyReplicas); returns the sets as they now are. */
  private cleanupUnhealthyReplicas(old: ReplicaSet[], maxCleanup: number): { sets: ReplicaSet[]; count: number } {
    let count = 0;
    const sets = [...old].sort(byCreation);
    for (let i = 0; i < sets.length; i++) {
      const rs = sets[i]!;
      if (count >= maxCleanup) break;
      const replicas = replicasOf(rs);
      const available = rs.status?.availableReplicas ?? 0;
      if (replicas === 0 || replicas === available) continue;
      const n = Math.min(maxCleanup - count, replicas - available);
      sets[i] = this.scaleTo(rs, replicas - n).rs;
      count += n;
    }
    return { sets, count };
  }

  /** Scale old sets down, oldest first, while enough stay available (scaleDownOldReplicaSetsForRollingUpdate). */
  private scaleDownOldForRollingUpdate(all: ReplicaSet[], old: ReplicaSet[]): number {
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    const available = sumAvailable(all);
    if (available <= minAvailable) return 0;
    const toScaleDown = available - minAvailable;
    let total = 0;
    for (const rs of [...old].sort(byCreation)) {
      if (total >= toScaleDown) break;
      if (replicasOf(rs) === 0) continue;
      const n = Math.min(replicasOf(rs), toScaleDown - total);
      this.scaleTo(rs, replicasOf(rs) - n);
      total += n;
    }
    return total;
  }

  // ---- recreate ----

  private rolloutRecreate(): void {
    let { newRs, old } = this.newAndOld(false);
    let all: (ReplicaSet | undefined)[] = [...old, newRs];
    let scaledDown = false;
    for (const rs of activeSets(old)) if (this.scaleTo(rs, 0).scaled) scaledDown = true;
    if (scaledDown) return this.syncRolloutStatus(all, newRs);
    if (this.oldPodsRunning(newRs, old)) return this.syncRolloutStatus(all, newRs);
    if (!newRs) {
      ({ newRs, old } = this.newAndOld(true));
      all = [...old, newRs];
    }
    this.scaleTo(newRs!, replicasOf(this.d));
    if (deploymentComplete(this.d, this.d.status!)) this.cleanup(old);
    this.syncRolloutStatus(all, newRs);
  }

  /** Old sets still report pods, or pods of old sets are not finished (oldPodsRunning). */
  private oldPodsRunning(newRs: ReplicaSet | undefined, old: ReplicaSet[]): boolean {
    if (sumStatusReplicas(old) > 0) return true;
    for (const [uid, pods] of this.input.podsBySet) {
      if (newRs && newRs.metadata.uid === uid) continue;
      if (pods.some((p) => p.status?.phase !== "Failed" && p.status?.phase !== "Succeeded")) return true;
    }
    return false;
  }

  // ---- scaling (paused, or replicas changed mid-rollout) ----

  /** isScalingEvent: an active set was sized for another replica count. */
  private isScalingEvent(): boolean {
    const { newRs, old } = this.newAndOld(false);
    for (const rs of activeSets([...old, newRs])) {
      const desired = rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION];
      if (desired !== undefined && Number(desired) !== replicasOf(this.d)) return true;
    }
    return false;
  }

  /** sync: scale only, no new template rolled out; a paused Deployment also cleans up. */
  private syncScaleOnly(): void {
    const { newRs, old } = this.newAndOld(false);
    this.scale(newRs, old);
    if (this.d.spec.paused) this.cleanup(old);
    this.d.status = calculateStatus(this.d, [...old, newRs], newRs, this.nowIso);
  }

  private syncStatusOnly(): void {
    const { newRs, old } = this.newAndOld(false);
    this.d.status = calculateStatus(this.d, [...old, newRs], newRs, this.nowIso);
  }

  /** scale: proportional scaling of every active set when replicas change mid-rollout. */
  private scale(newRs: ReplicaSet | undefined, old: ReplicaSet[]): void {
    const d = this.d;
    const want = replicasOf(d);
    const activeOrLatest = this.activeOrLatest(newRs, old);
    if (activeOrLatest) {
      if (replicasOf(activeOrLatest) !== want) this.scaleTo(activeOrLatest, want);
      return;
    }
    if (this.isSaturated(newRs)) {
      for (const rs of activeSets(old)) this.scaleTo(rs, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = activeSets([...old, newRs]);
    const allowed = want > 0 ? want + maxSurge(d) : 0;
    const toAdd = allowed - sumSpecReplicas(all);
    let operation: "up" | "down" | undefined;
    if (toAdd > 0) {
      all.sort(bySizeNewer);
      operation = "up";
    } else if (toAdd < 0) {
      all.sort(bySizeOlder);
      operation = "down";
    }
    let added = 0;
    const sizes = new Map<string, number>();
    for (const rs of all) {
      if (toAdd === 0) {
        sizes.set(rs.metadata.name!, replicasOf(rs));
        continue;
      }
      const p = this.proportion(rs, toAdd, added);
      sizes.set(rs.metadata.name!, replicasOf(rs) + p);
      added += p;
    }
    if (added !== toAdd && all.length) {
      const first = all[0]!.metadata.name!;
      sizes.set(first, Math.max(0, sizes.get(first)! + toAdd - added));
    }
    for (const rs of all) this.scaleSet(rs, sizes.get(rs.metadata.name!)!, operation);
  }

  /** FindActiveOrLatest: the one active set, or the newest when none is active; none when several are. */
  private activeOrLatest(newRs: ReplicaSet | undefined, old: ReplicaSet[]): ReplicaSet | undefined {
    if (!newRs && old.length === 0) return undefined;
    const sortedOld = [...old].sort(byCreation).reverse();
    const active = activeSets([...sortedOld, newRs]);
    if (active.length === 0) return newRs ?? sortedOld[0];
    if (active.length === 1) return active[0];
    return undefined;
  }

  private isSaturated(rs: ReplicaSet | undefined): boolean {
    if (!rs) return false;
    const desired = rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION];
    if (desired === undefined) return false;
    const want = replicasOf(this.d);
    return replicasOf(rs) === want && Number(desired) === want && (rs.status?.availableReplicas ?? 0) === want;
  }

  /** GetProportion / getReplicaSetFraction: a set's share of a change in size, by the size it was made for. */
  private proportion(rs: ReplicaSet, toAdd: number, added: number): number {
    if (replicasOf(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
    const d = this.d;
    let fraction: number;
    if (replicasOf(d) === 0) fraction = -replicasOf(rs);
    else {
      const target = replicasOf(d) + maxSurge(d);
      const annotated = Number(rs.metadata.annotations?.[MAX_REPLICAS_ANNOTATION] ?? NaN);
      // No (or a zero) annotation: someone edited the set; fall back to the Deployment's size.
      const base = Number.isInteger(annotated) && annotated > 0 ? annotated : (d.status?.replicas ?? 0);
      // Go's math.Round rounds halves away from zero; sizes are never negative here.
      fraction = base > 0 ? Math.round((replicasOf(rs) * target) / base) - replicasOf(rs) : 0;
    }
    const allowed = toAdd - added;
    return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
  }

  // ---- history ----

  /** Delete the oldest sets beyond revisionHistoryLimit that are scaled to zero and settled (cleanupDeployment). */
  private cleanup(old: ReplicaSet[]): void {
    const limit = this.d.spec.revisionHistoryLimit;
    if (limit === undefined) return;
    const alive = old.filter((rs) => !rs.metadata.deletionTimestamp);
    const diff = alive.length - limit;
    if (diff <= 0) return;
    for (const rs of [...alive].sort(byRevision).slice(0, diff)) {
      if ((rs.status?.replicas ?? 0) !== 0 || replicasOf(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      this.record("delete", rs);
    }
  }

  // ---- status ----

  private checkPausedConditions(): void {
    const d = this.d;
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, "Progressing");
    if (cond?.reason === REASON_TIMED_OUT) return;
    const pausedNoted = cond?.reason === REASON_PAUSED;
    if (d.spec.paused && !pausedNoted) setCondition(d.status!, newCondition("Progressing", "Unknown", REASON_PAUSED, "Deployment is paused", this.nowIso));
    else if (!d.spec.paused && pausedNoted) setCondition(d.status!, newCondition("Progressing", "Unknown", REASON_RESUMED, "Deployment is resumed", this.nowIso));
  }

  /** syncRolloutStatus: counts, Available, and Progressing from how the rollout moves. */
  private syncRolloutStatus(all: (ReplicaSet | undefined)[], newRs: ReplicaSet | undefined): void {
    const d = this.d;
    const status = calculateStatus(d, all, newRs, this.nowIso);
    if (!hasProgressDeadline(d)) removeCondition(status, "Progressing");
    const cur = getCondition(d.status, "Progressing");
    const complete = status.replicas === status.updatedReplicas && cur?.reason === REASON_NEW_RS_AVAILABLE;
    if (hasProgressDeadline(d) && !complete) {
      const what = newRs ? `ReplicaSet "${newRs.metadata.name}"` : `Deployment "${d.metadata.name}"`;
      if (deploymentComplete(d, status)) {
        setCondition(status, newCondition("Progressing", "True", REASON_NEW_RS_AVAILABLE, `${what} has successfully progressed.`, this.nowIso));
      } else if (deploymentProgressing(d, status)) {
        const cond = newCondition("Progressing", "True", REASON_RS_UPDATED, `${what} is progressing.`, this.nowIso);
        if (cur?.status === "True") cond.lastTransitionTime = cur.lastTransitionTime;
        removeCondition(status, "Progressing");
        setCondition(status, cond);
      } else if (deploymentTimedOut(d, status, this.input.now)) {
        setCondition(status, newCondition("Progressing", "False", REASON_TIMED_OUT, `${what} has timed out progressing.`, this.nowIso));
      }
    }
    const failure = this.replicaFailure(all, newRs);
    if (failure) setCondition(status, failure);
    else removeCondition(status, "ReplicaFailure");
    if (sameJson(compactStatus(d.status!), compactStatus(status))) {
      this.requeueIfStuck(status);
      return;
    }
    d.status = status;
  }

  /** A ReplicaFailure on the new set (or the old ones) is the Deployment's too (getReplicaFailures). */
  private replicaFailure(all: (ReplicaSet | undefined)[], newRs: ReplicaSet | undefined) {
    const fromSet = (rs: ReplicaSet | undefined) => rs?.status?.conditions?.find((c) => c.type === "ReplicaFailure");
    const c = fromSet(newRs) ?? all.map(fromSet).find((x) => x);
    return c ? { type: "ReplicaFailure", status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message } : undefined;
  }

  /** requeueStuckDeployment: come back when the progress deadline would pass. */
  private requeueIfStuck(status: DeploymentStatus): void {
    const d = this.d;
    const cond = getCondition(status, "Progressing");
    if (!hasProgressDeadline(d) || !cond) return;
    if (deploymentComplete(d, status) || cond.reason === REASON_TIMED_OUT) return;
    const from = Date.parse(cond.lastUpdateTime ?? "");
    if (Number.isNaN(from)) return;
    const after = from + d.spec.progressDeadlineSeconds! * 1000 - this.input.now;
    this.requeueAfterMs = Math.max(after, 1000);
  }
}
