// The StatefulSet controller (pkg/controller/statefulset): feeds _statefulset-plan.ts from
// the informers and carries out its steps — claims first, then the pod; deletions with the
// pod's uid as precondition — and writes the status `kubectl rollout status sts` reads.
// Pods have fixed names, so a create that finds the pod already there is no failure, and
// the level-triggered plan needs no expectations: it waits on what the cache shows.
import { BY_NAMESPACE, copyObject, isAlreadyExists, isNotFound, objectKey, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { CONTROLLER_REVISIONS, ensureRevision, pruneRevisions, revisionsOf, type ControllerRevision } from "./_controller-revisions.ts";
import { EventRecorder } from "./_events.ts";
import { claimDependents, controllerOf } from "./_owner-refs.ts";
import { planStatefulSet, REVISION_LABEL, statefulPodFor, statefulSetRevision, type StatefulSetAction } from "./_statefulset-plan.ts";
import { PERSISTENT_VOLUME_CLAIMS, PODS, STATEFUL_SETS, type Pod, type PodTemplate, type StatefulSet } from "./_types.ts";

export class StatefulSetController extends Controller {
  private readonly sets: Informer<StatefulSet>;
  private readonly pods: Informer<Pod>;
  private readonly claims: Informer<KubeObject>;
  private readonly revisions: Informer<ControllerRevision>;
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("statefulset", ctx);
    this.events = new EventRecorder(ctx.client, "statefulset-controller", ctx.clock, ctx.log);
    this.sets = ctx.informers.informerFor<StatefulSet>(STATEFUL_SETS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.claims = ctx.informers.informerFor<KubeObject>(PERSISTENT_VOLUME_CLAIMS);
    this.revisions = ctx.informers.informerFor<ControllerRevision>(CONTROLLER_REVISIONS);
    this.sets.addHandlers({
      onAdd: (s) => this.queue.add(objectKey(s)),
      onUpdate: (_old, s) => this.queue.add(objectKey(s)),
      onDelete: (s) => this.queue.add(objectKey(s)),
    });
    const podChanged = (pod: Pod) => {
      const ref = controllerOf(pod);
      if (ref?.kind === STATEFUL_SETS.kind) this.queue.add(`${pod.metadata.namespace}/${ref.name}`);
      else if (!ref) for (const s of this.sets.cache.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? "")) this.queue.add(objectKey(s));
    };
    this.pods.addHandlers({
      onAdd: podChanged,
      onUpdate: (old, pod) => {
        if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
        podChanged(pod);
        const minReady = this.sets.cache.get(`${pod.metadata.namespace}/${controllerOf(pod)?.name}`)?.spec.minReadySeconds ?? 0;
        if (minReady > 0) this.queue.addAfter(`${pod.metadata.namespace}/${controllerOf(pod)?.name}`, minReady * 1000 + 1000);
      },
      onDelete: podChanged,
    });
  }

  async reconcile(key: string): Promise<void> {
    const sts = this.sets.cache.get(key);
    if (!sts) return;
    const ns = sts.metadata.namespace ?? "";
    const pods = await claimDependents(this.ctx.client, PODS, sts, STATEFUL_SETS, sts.spec.selector, this.pods.cache.byIndex(BY_NAMESPACE, ns));
    const claims = new Set(this.claims.cache.byIndex(BY_NAMESPACE, ns).map((c) => c.metadata.name!));
    const revision = statefulSetRevision(sts);
    const plan = planStatefulSet(sts, pods, claims, revision, this.ctx.clock.now());
    let failure: Error | undefined;
    if (!sts.metadata.deletionTimestamp) {
      const revisions = revisionsOf(this.revisions, sts);
      await ensureRevision(this.ctx.client, sts, STATEFUL_SETS, revision, sts.spec.template, { [REVISION_LABEL]: revision }, revisions);
      const live = new Set([revision, plan.status.currentRevision ?? "", plan.status.updateRevision ?? "", ...pods.map((p) => p.metadata.labels?.[REVISION_LABEL] ?? "")]);
      await pruneRevisions(this.ctx.client, revisions, sts.spec.revisionHistoryLimit ?? 10, live);
      for (const action of plan.actions) {
        failure = await this.act(sts, action, revision);
        if (failure) break;
      }
    }
    if (JSON.stringify(sts.status ?? {}) !== JSON.stringify(plan.status)) {
      const next = copyObject(sts);
      next.status = plan.status;
      try {
        await this.ctx.client.resource<StatefulSet>(STATEFUL_SETS).updateStatus(next);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (failure) throw failure;
  }

  /** The pod from the template of `wanted` (the current revision below the partition), read back from its ControllerRevision; the update revision's when that is gone. */
  private podFor(sts: StatefulSet, ordinal: number, wanted: string, updateRevision: string): Pod {
    if (wanted !== updateRevision) {
      const cr = revisionsOf(this.revisions, sts).find((r) => r.metadata.name === wanted);
      const template = (cr?.data as { spec?: { template?: PodTemplate & { $patch?: string } } } | undefined)?.spec?.template;
      if (template) {
        const { $patch: _replace, ...plain } = template;
        return statefulPodFor(sts, ordinal, wanted, plain);
      }
    }
    return statefulPodFor(sts, ordinal, updateRevision);
  }

  private async act(sts: StatefulSet, action: StatefulSetAction, revision: string): Promise<Error | undefined> {
    const ns = sts.metadata.namespace;
    try {
      if (action.type === "create") {
        for (const claim of action.claims) {
          try {
            await this.ctx.client.resource(PERSISTENT_VOLUME_CLAIMS).create(ns, claim);
            await this.events.event(STATEFUL_SETS, sts, "Normal", "SuccessfulCreate", `create Claim ${claim.metadata.name} Pod ${sts.metadata.name}-${action.ordinal} in StatefulSet ${sts.metadata.name} success`);
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
          }
        }
        const pod = this.podFor(sts, action.ordinal, action.revision, revision);
        try {
          await this.ctx.client.resource<Pod>(PODS).create(ns, pod);
        } catch (err) {
          if (isAlreadyExists(err)) return undefined;
          throw err;
        }
        await this.events.event(STATEFUL_SETS, sts, "Normal", "SuccessfulCreate", `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`);
      } else {
        const { pod } = action;
        try {
          await this.ctx.client.resource<Pod>(PODS).delete(ns, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
        await this.events.event(STATEFUL_SETS, sts, "Normal", "SuccessfulDelete", `delete Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`);
      }
      return undefined;
    } catch (err) {
      const what = action.type === "create" ? `create Pod ${sts.metadata.name}-${action.ordinal}` : `delete Pod ${action.pod.metadata.name}`;
      await this.events.event(STATEFUL_SETS, sts, "Warning", action.type === "create" ? "FailedCreate" : "FailedDelete", `${what} in StatefulSet ${sts.metadata.name} failed error: ${(err as Error).message}`);
      return err as Error;
    }
  }
}
