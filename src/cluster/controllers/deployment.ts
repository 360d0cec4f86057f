// The Deployment controller (pkg/controller/deployment): claims the ReplicaSets its selector
// matches, plans one sync with _deployment-plan.ts (RollingUpdate within maxSurge and
// maxUnavailable, or Recreate; revisions and history; proportional scaling; paused;
// progress deadline) and makes the writes it asks for, in order. A write that fails ends
// the sync and the key is retried with back-off; the next sync plans again from the cache.
import { BY_NAMESPACE, BY_OWNER_UID, copyObject, isAlreadyExists, isNotFound, objectKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { planDeployment, type DeploymentPlan } from "./_deployment-plan.ts";
import { EventRecorder } from "./_events.ts";
import { selectorMatches } from "./_label-selector.ts";
import { claimDependents, controllerOf } from "./_owner-refs.ts";
import { templatesEqualIgnoringHash } from "./_pod-template-hash.ts";
import { compactStatus, newCondition, REASON_FAILED_RS_CREATE, setCondition } from "./_rollout.ts";
import { rfc3339 } from "./_time.ts";
import { DEPLOYMENTS, PODS, REPLICA_SETS, type Deployment, type Pod, type ReplicaSet } from "./_types.ts";

export class DeploymentController extends Controller {
  private readonly deployments: Informer<Deployment>;
  private readonly sets: Informer<ReplicaSet>;
  private readonly pods: Informer<Pod>;
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("deployment", ctx);
    this.events = new EventRecorder(ctx.client, "deployment-controller", ctx.clock, ctx.log);
    this.deployments = ctx.informers.informerFor<Deployment>(DEPLOYMENTS);
    this.sets = ctx.informers.informerFor<ReplicaSet>(REPLICA_SETS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.deployments.addHandlers({
      onAdd: (d) => this.queue.add(objectKey(d)),
      onUpdate: (_old, d) => this.queue.add(objectKey(d)),
      onDelete: (d) => this.queue.add(objectKey(d)),
    });
    this.sets.addHandlers({
      onAdd: (rs) => this.setChanged(rs),
      onUpdate: (old, rs) => {
        if (controllerOf(old)?.uid !== controllerOf(rs)?.uid) this.setChanged(old);
        this.setChanged(rs);
      },
      onDelete: (rs) => this.setChanged(rs),
    });
    // Recreate waits for the old pods to be gone.
    this.pods.addHandlers({ onDelete: (pod) => this.podDeleted(pod) });
  }

  private ownerOf(obj: { metadata: { namespace?: string } } & Parameters<typeof controllerOf>[0]): Deployment | undefined {
    const ref = controllerOf(obj);
    if (ref?.kind !== DEPLOYMENTS.kind) return undefined;
    const d = this.deployments.cache.get(`${obj.metadata.namespace}/${ref.name}`);
    return d?.metadata.uid === ref.uid ? d : undefined;
  }

  private setChanged(rs: ReplicaSet): void {
    const owner = this.ownerOf(rs);
    if (owner) return this.queue.add(objectKey(owner));
    if (controllerOf(rs)) return;
    // An orphan: every Deployment that would adopt it looks.
    for (const d of this.deployments.cache.byIndex(BY_NAMESPACE, rs.metadata.namespace ?? "")) {
      if (selectorMatches(d.spec.selector, rs.metadata.labels)) this.queue.add(objectKey(d));
    }
  }

  private podDeleted(pod: Pod): void {
    const ref = controllerOf(pod);
    if (ref?.kind !== REPLICA_SETS.kind) return;
    const rs = this.sets.cache.get(`${pod.metadata.namespace}/${ref.name}`);
    const d = rs && this.ownerOf(rs);
    if (d && d.spec.strategy?.type === "Recreate") this.queue.add(objectKey(d));
  }

  async reconcile(key: string): Promise<void> {
    const d = this.deployments.cache.get(key);
    if (!d) return;
    const candidates = this.sets.cache.byIndex(BY_NAMESPACE, d.metadata.namespace ?? "");
    const sets = d.metadata.deletionTimestamp ? candidates.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid) : await claimDependents(this.ctx.client, REPLICA_SETS, d, DEPLOYMENTS, d.spec.selector, candidates);
    const podsBySet = new Map<string, Pod[]>();
    for (const rs of sets) {
      podsBySet.set(rs.metadata.uid!, this.pods.cache.byIndex(BY_OWNER_UID, rs.metadata.uid!).filter((p) => controllerOf(p)?.uid === rs.metadata.uid));
    }
    const plan = planDeployment({ deployment: d, sets, podsBySet, now: this.ctx.clock.now() });
    await this.apply(key, d, plan);
  }

  private async apply(key: string, d: Deployment, plan: DeploymentPlan): Promise<void> {
    const sets = this.ctx.client.resource<ReplicaSet>(REPLICA_SETS);
    const record = async (writesDone: number) => {
      for (const { event } of plan.events.filter((e) => e.afterWrite === writesDone)) await this.events.event(DEPLOYMENTS, d, event.type, event.reason, event.message);
    };
    await record(0);
    for (const [i, write] of plan.writes.entries()) {
      if (write.op === "create") {
        const created = await this.createSet(d, write.rs);
        if (!created) return;
      } else if (write.op === "update") {
        await sets.update(write.rs);
      } else {
        try {
          await sets.delete(write.rs.metadata.namespace, write.rs.metadata.name!, { preconditions: { uid: write.rs.metadata.uid } });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      await record(i + 1);
    }
    let current = d;
    if (plan.annotations) {
      current = await this.ctx.client.resource<Deployment>(DEPLOYMENTS).patch(d.metadata.namespace, d.metadata.name!, "merge", { metadata: { annotations: plan.annotations } });
    }
    if (plan.status) await this.writeStatus(current, plan.status);
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
  }

  /**
   * Creates the new set; false when the sync must stop. A set of that name that is ours with
   * this template means the cache is behind (look again); anyone else's is a hash collision,
   * and collisionCount moves on so the next name differs.
   */
  private async createSet(d: Deployment, rs: ReplicaSet): Promise<boolean> {
    const sets = this.ctx.client.resource<ReplicaSet>(REPLICA_SETS);
    const body = copyObject(rs);
    delete body.metadata.creationTimestamp;
    try {
      await sets.create(d.metadata.namespace, body);
      return true;
    } catch (err) {
      if (isAlreadyExists(err)) {
        const existing = await sets.get(d.metadata.namespace, rs.metadata.name!);
        if (controllerOf(existing)?.uid === d.metadata.uid && templatesEqualIgnoringHash(existing.spec.template, d.spec.template)) {
          this.queue.add(objectKey(d));
          return false;
        }
        const status = { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
        await this.writeStatus(d, status);
        throw new Error(`replica set ${rs.metadata.name} exists and is not this deployment's: hash collision, collisionCount is now ${status.collisionCount}`, { cause: err });
      }
      const status = copyObject(d.status ?? {});
      const message = `Failed to create new replica set "${rs.metadata.name}": ${(err as Error).message}`;
      setCondition(status, newCondition("Progressing", "False", REASON_FAILED_RS_CREATE, message, rfc3339(this.ctx.clock.now())));
      await this.writeStatus(d, status);
      await this.events.event(DEPLOYMENTS, d, "Warning", REASON_FAILED_RS_CREATE, message);
      throw err;
    }
  }

  private async writeStatus(d: Deployment, status: Deployment["status"]): Promise<void> {
    const next = copyObject(d);
    next.status = compactStatus(status ?? {});
    try {
      await this.ctx.client.resource<Deployment>(DEPLOYMENTS).updateStatus(next);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
