// The DaemonSet controller (pkg/controller/daemon): one pod per eligible node, pinned to it
// by node affinity (the scheduler binds it); nodes that join get theirs, pods of removed or
// no longer eligible nodes go; RollingUpdate replaces old pods within maxUnavailable
// (OnDelete leaves them until deleted). The decisions are _daemonset-plan.ts's; this file
// feeds it from the informers and carries it out, with expectations as the ReplicaSet's.
import { BY_NAMESPACE, copyObject, isNotFound, objectKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { daemonPodFor, daemonSetHash, planDaemonSet, REVISION_HASH_LABEL } from "./_daemonset-plan.ts";
import { CONTROLLER_REVISIONS, ensureRevision, pruneRevisions, revisionsOf, type ControllerRevision } from "./_controller-revisions.ts";
import { EventRecorder } from "./_events.ts";
import { Expectations } from "./_expectations.ts";
import { claimDependents, controllerOf } from "./_owner-refs.ts";
import { isPodReady } from "./_pods.ts";
import { DAEMON_SETS, NODES, PODS, type DaemonSet, type DaemonSetStatus, type Node, type Pod } from "./_types.ts";

const sameStatus = (a: DaemonSetStatus | undefined, b: DaemonSetStatus) => JSON.stringify(a ?? {}) === JSON.stringify(b);

export class DaemonSetController extends Controller {
  private readonly sets: Informer<DaemonSet>;
  private readonly pods: Informer<Pod>;
  private readonly nodes: Informer<Node>;
  private readonly revisions: Informer<ControllerRevision>;
  private readonly expectations: Expectations;
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("daemonset", ctx);
    this.expectations = new Expectations(ctx.clock);
    this.events = new EventRecorder(ctx.client, "daemonset-controller", ctx.clock, ctx.log);
    this.sets = ctx.informers.informerFor<DaemonSet>(DAEMON_SETS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.nodes = ctx.informers.informerFor<Node>(NODES);
    this.revisions = ctx.informers.informerFor<ControllerRevision>(CONTROLLER_REVISIONS);
    this.sets.addHandlers({
      onAdd: (ds) => this.queue.add(objectKey(ds)),
      onUpdate: (_old, ds) => this.queue.add(objectKey(ds)),
      onDelete: (ds) => {
        this.expectations.forget(objectKey(ds));
        this.queue.add(objectKey(ds));
      },
    });
    this.pods.addHandlers({
      onAdd: (pod) => this.podChanged(pod, "add"),
      onUpdate: (old, pod) => {
        if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
        this.podChanged(pod, pod.metadata.deletionTimestamp ? "delete" : "update");
        const minReady = this.setOf(pod)?.spec.minReadySeconds ?? 0;
        if (!isPodReady(old) && isPodReady(pod) && minReady > 0) {
          const ds = this.setOf(pod);
          if (ds) this.queue.addAfter(objectKey(ds), minReady * 1000 + 1000);
        }
      },
      onDelete: (pod) => this.podChanged(pod, "delete"),
    });
    // Any node change may change where every set should run.
    const allSets = () => {
      for (const ds of this.sets.cache.list()) this.queue.add(objectKey(ds));
    };
    this.nodes.addHandlers({ onAdd: allSets, onUpdate: (old, node) => old.metadata.resourceVersion !== node.metadata.resourceVersion && allSets(), onDelete: allSets });
  }

  private setOf(pod: Pod): DaemonSet | undefined {
    const ref = controllerOf(pod);
    if (ref?.kind !== DAEMON_SETS.kind) return undefined;
    const ds = this.sets.cache.get(`${pod.metadata.namespace}/${ref.name}`);
    return ds?.metadata.uid === ref.uid ? ds : undefined;
  }

  private podChanged(pod: Pod, how: "add" | "update" | "delete"): void {
    const ds = this.setOf(pod);
    if (!ds) {
      // An orphan may be adopted by a set selecting it.
      if (!controllerOf(pod) && how !== "delete") for (const s of this.sets.cache.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? "")) this.queue.add(objectKey(s));
      return;
    }
    const key = objectKey(ds);
    if (how === "add" && !pod.metadata.deletionTimestamp) this.expectations.creationObserved(key);
    if (how === "delete" || pod.metadata.deletionTimestamp) this.expectations.deletionObserved(key, objectKey(pod));
    this.queue.add(key);
  }

  async reconcile(key: string): Promise<void> {
    const ds = this.sets.cache.get(key);
    if (!ds) {
      this.expectations.forget(key);
      return;
    }
    const inNamespace = this.pods.cache.byIndex(BY_NAMESPACE, ds.metadata.namespace ?? "").filter((p) => !p.metadata.deletionTimestamp);
    const pods = await claimDependents(this.ctx.client, PODS, ds, DAEMON_SETS, ds.spec.selector, inNamespace);
    const hash = daemonSetHash(ds);
    const now = this.ctx.clock.now();
    const plan = planDaemonSet(ds, this.nodes.cache.list(), pods, hash, now);
    let failure: Error | undefined;
    if (!ds.metadata.deletionTimestamp) {
      const revisions = revisionsOf(this.revisions, ds);
      await ensureRevision(this.ctx.client, ds, DAEMON_SETS, `${ds.metadata.name}-${hash}`, ds.spec.template, { [REVISION_HASH_LABEL]: hash }, revisions);
      const inUse = new Set([hash, ...pods.map((p) => p.metadata.labels?.[REVISION_HASH_LABEL] ?? "")]);
      const live = new Set([`${ds.metadata.name}-${hash}`, ...revisions.filter((r) => inUse.has(r.metadata.labels?.[REVISION_HASH_LABEL] ?? "")).map((r) => r.metadata.name!)]);
      await pruneRevisions(this.ctx.client, revisions, ds.spec.revisionHistoryLimit ?? 10, live);
    }
    if (this.expectations.satisfied(key) && !ds.metadata.deletionTimestamp) failure = await this.act(key, ds, plan.create, plan.delete, hash);
    if (!sameStatus(ds.status, plan.status)) {
      const next = copyObject(ds);
      next.status = plan.status;
      try {
        await this.ctx.client.resource<DaemonSet>(DAEMON_SETS).updateStatus(next);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const minReady = ds.spec.minReadySeconds ?? 0;
    if (minReady > 0 && plan.status.numberReady > (plan.status.numberAvailable ?? 0)) this.queue.addAfter(key, minReady * 1000);
    if (failure) throw failure;
  }

  private async act(key: string, ds: DaemonSet, create: string[], del: Pod[], hash: string): Promise<Error | undefined> {
    const pods = this.ctx.client.resource<Pod>(PODS);
    this.expectations.expect(key, create.length, del.map((p) => objectKey(p)));
    const results = await Promise.allSettled([
      ...create.map(async (node) => {
        try {
          const pod = await pods.create(ds.metadata.namespace, daemonPodFor(ds, node, hash));
          await this.events.event(DAEMON_SETS, ds, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
        } catch (err) {
          this.expectations.creationObserved(key);
          await this.events.event(DAEMON_SETS, ds, "Warning", "FailedCreate", `Error creating: ${(err as Error).message}`);
          throw err;
        }
      }),
      ...del.map(async (pod) => {
        try {
          await pods.delete(pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
          await this.events.event(DAEMON_SETS, ds, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`);
        } catch (err) {
          this.expectations.deletionObserved(key, objectKey(pod));
          if (isNotFound(err)) return;
          await this.events.event(DAEMON_SETS, ds, "Warning", "FailedDelete", `Error deleting: ${(err as Error).message}`);
          throw err;
        }
      }),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    return failed?.reason as Error | undefined;
  }
}
