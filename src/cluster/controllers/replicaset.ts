// The ReplicaSet controller (pkg/controller/replicaset): keeps spec.replicas active pods of
// the template, claims pods by selector (adopts orphans, releases pods that stop matching),
// deletes surplus pods in Kubernetes' order, and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas (ready for minReadySeconds) and observedGeneration.
// Creations and deletions are remembered as expectations until the pod informer shows
// them, so a slow cache never makes it create the same pods twice.
import { BY_NAMESPACE, BY_OWNER_UID, copyObject, isNotFound, objectKey, type Informer, type OwnerReference, type ResourceRef } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { EventRecorder } from "./_events.ts";
import { Expectations } from "./_expectations.ts";
import { claimDependents, classifyForClaim, controllerOf, controllerRefTo } from "./_owner-refs.ts";
import { isPodActive, isPodAvailable, isPodReady, podsToDelete } from "./_pods.ts";
import { rfc3339 } from "./_time.ts";
import { PODS, REPLICA_SETS, REPLICATION_CONTROLLERS, type Condition, type LabelSelector, type Pod, type ReplicaSet, type ReplicaSetStatus } from "./_types.ts";

/** At most this many pods are created or deleted in one sync (BurstReplicas). */
export const BURST_REPLICAS = 500;

export interface ReplicaSetScale {
  /** How many pods to create. */
  create: number;
  /** Which pods to delete, first to go first. */
  delete: Pod[];
}

/**
 * What brings `active` (the set's own active pods) to spec.replicas: a number of pods to
 * create, or the surplus pods to delete; `related` are the active pods of every set with
 * the same owner, which rank pods sharing a node for deletion first.
 */
export function planReplicaSetScale(rs: ReplicaSet, active: Pod[], related: Pod[], now: number): ReplicaSetScale {
  const diff = active.length - (rs.spec.replicas ?? 1);
  if (diff < 0) return { create: Math.min(-diff, BURST_REPLICAS), delete: [] };
  if (diff > 0) return { create: 0, delete: podsToDelete(active, related, Math.min(diff, BURST_REPLICAS), now) };
  return { create: 0, delete: [] };
}

/** A new pod of the set's template (controller.GetPodFromTemplate): named `<rs>-<5 random>` by the API server. */
export function podFromTemplate(rs: ReplicaSet, kind: ResourceRef = REPLICA_SETS): Pod {
  const t = rs.spec.template ?? {};
  const meta = t.metadata ?? {};
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { generateName: `${rs.metadata.name}-`, namespace: rs.metadata.namespace, ownerReferences: [controllerRefTo(rs, kind)] },
    spec: structuredClone(t.spec ?? {}),
  };
  if (meta.labels) pod.metadata.labels = { ...meta.labels };
  if (meta.annotations) pod.metadata.annotations = { ...meta.annotations };
  if (Array.isArray(meta.finalizers)) pod.metadata.finalizers = [...(meta.finalizers as string[])];
  return pod;
}

function labelsInclude(labels: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

/**
 * The status `active` gives the set (calculateStatus); a failure to create or delete sets
 * ReplicaFailure (FailedCreate/FailedDelete), success clears it.
 */
export function computeReplicaSetStatus(rs: ReplicaSet, active: Pod[], now: number, failure?: Error): ReplicaSetStatus {
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  const minReady = rs.spec.minReadySeconds ?? 0;
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const pod of active) {
    if (labelsInclude(pod.metadata.labels, templateLabels)) fullyLabeled++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, minReady, now)) available++;
    }
  }
  let conditions = (rs.status?.conditions ?? []).map((c) => ({ ...c }));
  const hasFailure = conditions.some((c) => c.type === "ReplicaFailure");
  if (failure && !hasFailure) {
    const diff = active.length - (rs.spec.replicas ?? 1);
    const reason = diff < 0 ? "FailedCreate" : diff > 0 ? "FailedDelete" : "";
    const cond: Condition = { type: "ReplicaFailure", status: "True", lastTransitionTime: rfc3339(now), reason, message: failure.message };
    conditions.push(cond);
  } else if (!failure && hasFailure) {
    conditions = conditions.filter((c) => c.type !== "ReplicaFailure");
  }
  // Zero counts are left out, as Kubernetes' omitempty leaves them out.
  const status: ReplicaSetStatus = { replicas: active.length };
  if (fullyLabeled) status.fullyLabeledReplicas = fullyLabeled;
  if (ready) status.readyReplicas = ready;
  if (available) status.availableReplicas = available;
  status.observedGeneration = rs.metadata.generation;
  if (conditions.length) status.conditions = conditions;
  return status;
}

/** Runs fn `count` times in batches of 1, 2, 4, ... and stops after a batch with a failure (slowStartBatch); returns the successes and the first error. */
export async function slowStartBatch(count: number, fn: () => Promise<void>): Promise<{ done: number; error?: Error }> {
  let remaining = count;
  let done = 0;
  for (let batch = Math.min(remaining, 1); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    done += results.filter((r) => r.status === "fulfilled").length;
    if (failed) return { done, error: failed.reason as Error };
    remaining -= batch;
  }
  return { done };
}

const sameStatus = (a: ReplicaSetStatus | undefined, b: ReplicaSetStatus) => JSON.stringify(a ?? {}) === JSON.stringify(b);

/**
 * The kind a replica controller keeps: ReplicaSets, or ReplicationControllers — the same
 * controller in Kubernetes too, behind an adapter, since only the selector's shape differs.
 */
export interface ReplicatedKind {
  ref: ResourceRef;
  /** The controller's name (its queue, its logs). */
  name: string;
  /** The component events are reported as. */
  component: string;
  /** The object's selector as a LabelSelector. */
  selectorOf(set: ReplicaSet): LabelSelector | undefined;
}

export const REPLICA_SET_KIND: ReplicatedKind = { ref: REPLICA_SETS, name: "replicaset", component: "replicaset-controller", selectorOf: (rs) => rs.spec.selector };

/** A ReplicationController's selector is a plain label map (validated non-empty by the API). */
export const REPLICATION_CONTROLLER_KIND: ReplicatedKind = {
  ref: REPLICATION_CONTROLLERS,
  name: "replicationcontroller",
  component: "replication-controller",
  selectorOf: (rc) => ({ matchLabels: { ...((rc.spec as { selector?: Record<string, string> }).selector ?? {}) } }),
};

export class ReplicaSetController extends Controller {
  private readonly sets: Informer<ReplicaSet>;
  private readonly pods: Informer<Pod>;
  private readonly expectations: Expectations;
  private readonly events: EventRecorder;
  private readonly ref: ResourceRef;

  constructor(ctx: ControllerContext, private readonly kind: ReplicatedKind = REPLICA_SET_KIND) {
    super(kind.name, ctx);
    this.ref = kind.ref;
    this.expectations = new Expectations(ctx.clock);
    this.events = new EventRecorder(ctx.client, kind.component, ctx.clock, ctx.log);
    this.sets = ctx.informers.informerFor<ReplicaSet>(kind.ref);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.sets.addHandlers({
      onAdd: (rs) => this.queue.add(objectKey(rs)),
      onUpdate: (_old, rs) => this.queue.add(objectKey(rs)),
      onDelete: (rs) => {
        this.expectations.forget(objectKey(rs));
        this.queue.add(objectKey(rs));
      },
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podAdded(pod),
      onUpdate: (old, pod) => this.podUpdated(old, pod),
      onDelete: (pod) => this.podDeleted(pod),
    });
  }

  /** The set a controller reference names, if it is in the cache and is that very set (same uid). */
  private setOf(namespace: string | undefined, ref: OwnerReference | undefined): ReplicaSet | undefined {
    if (ref?.kind !== this.ref.kind) return undefined;
    const rs = this.sets.cache.get(`${namespace}/${ref.name}`);
    return rs?.metadata.uid === ref.uid ? rs : undefined;
  }

  /** Sets in the pod's namespace whose selector matches it: candidates to adopt an orphan. */
  private setsSelecting(pod: Pod): ReplicaSet[] {
    return this.sets.cache.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? "").filter((rs) => classifyForClaim(rs, this.kind.selectorOf(rs), [pod]).adopt.length > 0);
  }

  private podAdded(pod: Pod): void {
    if (pod.metadata.deletionTimestamp) return this.podDeleted(pod);
    const ref = controllerOf(pod);
    if (ref) {
      const rs = this.setOf(pod.metadata.namespace, ref);
      if (!rs) return;
      this.expectations.creationObserved(objectKey(rs));
      this.queue.add(objectKey(rs));
      return;
    }
    for (const rs of this.setsSelecting(pod)) this.queue.add(objectKey(rs));
  }

  private podUpdated(old: Pod, pod: Pod): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const labelsChanged = JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(pod.metadata.labels ?? {});
    if (pod.metadata.deletionTimestamp) {
      // Being deleted counts as deleted: the pod is no longer active.
      this.podDeleted(pod);
      if (labelsChanged) this.podDeleted(old);
      return;
    }
    const oldRef = controllerOf(old);
    const ref = controllerOf(pod);
    if (oldRef && oldRef.uid !== ref?.uid) {
      const prev = this.setOf(old.metadata.namespace, oldRef);
      if (prev) this.queue.add(objectKey(prev));
    }
    if (ref) {
      const rs = this.setOf(pod.metadata.namespace, ref);
      if (!rs) return;
      this.queue.add(objectKey(rs));
      // Available comes minReadySeconds after ready, with no event to say so.
      const minReady = rs.spec.minReadySeconds ?? 0;
      if (!isPodReady(old) && isPodReady(pod) && minReady > 0) this.queue.addAfter(objectKey(rs), minReady * 1000 + 1000);
      return;
    }
    if (labelsChanged || oldRef) for (const rs of this.setsSelecting(pod)) this.queue.add(objectKey(rs));
  }

  private podDeleted(pod: Pod): void {
    const rs = this.setOf(pod.metadata.namespace, controllerOf(pod));
    if (!rs) return;
    this.expectations.deletionObserved(objectKey(rs), objectKey(pod));
    this.queue.add(objectKey(rs));
  }

  async reconcile(key: string): Promise<void> {
    const rs = this.sets.cache.get(key);
    if (!rs) {
      this.expectations.forget(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    const inNamespace = this.pods.cache.byIndex(BY_NAMESPACE, rs.metadata.namespace ?? "");
    const active = await claimDependents(this.ctx.client, PODS, rs, this.ref, this.kind.selectorOf(rs), inNamespace.filter(isPodActive));

    let failure: Error | undefined;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      failure = await this.manageReplicas(key, rs, active);
    }
    const now = this.ctx.clock.now();
    const status = computeReplicaSetStatus(rs, active, now, failure);
    if (!sameStatus(rs.status, status) || rs.status?.observedGeneration !== rs.metadata.generation) {
      const next = copyObject(rs);
      next.status = status;
      try {
        await this.ctx.client.resource<ReplicaSet>(this.ref).updateStatus(next);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const minReady = rs.spec.minReadySeconds ?? 0;
    if (!failure && minReady > 0 && (status.readyReplicas ?? 0) === status.replicas && (status.availableReplicas ?? 0) !== status.replicas) {
      this.queue.addAfter(key, minReady * 1000);
    }
    if (failure) throw failure;
  }

  /** Active pods of every set under the same owner (getIndirectlyRelatedPods), for the deletion ranking. */
  private relatedPods(rs: ReplicaSet): Pod[] {
    const owner = controllerOf(rs);
    const sets = owner ? this.sets.cache.byIndex(BY_OWNER_UID, owner.uid).filter((s) => controllerOf(s)?.uid === owner.uid) : [rs];
    return sets.flatMap((s) => this.pods.cache.byIndex(BY_OWNER_UID, s.metadata.uid!).filter((p) => controllerOf(p)?.uid === s.metadata.uid && isPodActive(p)));
  }

  private async manageReplicas(key: string, rs: ReplicaSet, active: Pod[]): Promise<Error | undefined> {
    const plan = planReplicaSetScale(rs, active, this.relatedPods(rs), this.ctx.clock.now());
    const pods = this.ctx.client.resource<Pod>(PODS);
    if (plan.create > 0) {
      this.expectations.expect(key, plan.create);
      const { done, error } = await slowStartBatch(plan.create, async () => {
        try {
          const pod = await pods.create(rs.metadata.namespace, podFromTemplate(rs, this.ref));
          await this.events.event(this.ref, rs, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
        } catch (err) {
          await this.events.event(this.ref, rs, "Warning", "FailedCreate", `Error creating: ${(err as Error).message}`);
          throw err;
        }
      });
      // Pods never created will never be seen: stop waiting for them.
      for (let i = done; i < plan.create; i++) this.expectations.creationObserved(key);
      return error;
    }
    if (plan.delete.length > 0) {
      this.expectations.expect(key, 0, plan.delete.map((p) => objectKey(p)));
      const results = await Promise.allSettled(
        plan.delete.map(async (pod) => {
          try {
            await pods.delete(pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
            await this.events.event(this.ref, rs, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`);
          } catch (err) {
            this.expectations.deletionObserved(key, objectKey(pod));
            if (isNotFound(err)) return;
            await this.events.event(this.ref, rs, "Warning", "FailedDelete", `Error deleting: ${(err as Error).message}`);
            throw err;
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      return failed?.reason as Error | undefined;
    }
    return undefined;
  }
}
