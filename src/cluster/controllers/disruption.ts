// The disruption controller (pkg/controller/disruption): keeps every PodDisruptionBudget's
// status (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed, disruptedPods,
// observedGeneration, the DisruptionAllowed condition) true to the pods it selects, so
// `kubectl get pdb` shows it without an eviction having to compute it first. The numbers
// come from the same pure function the eviction subresource decides with. A budget is
// requeued when one of its disruptedPods entries expires (2 minutes).
import { BY_NAMESPACE, computeDisruptionStatus, copyObject, DISRUPTED_POD_TIMEOUT_MS, isNotFound, objectKey, type Informer, type KubeObject, type ResourceRef } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { selectorMatches } from "./_label-selector.ts";
import { DEPLOYMENTS, PODS, REPLICA_SETS, REPLICATION_CONTROLLERS, STATEFUL_SETS, type LabelSelector, type Pod } from "./_types.ts";

export const PDBS: ResourceRef = { group: "policy", version: "v1", resource: "poddisruptionbudgets", kind: "PodDisruptionBudget", namespaced: true };

interface Budget extends KubeObject {
  spec?: { selector?: LabelSelector; [k: string]: unknown };
  status?: { disruptedPods?: Record<string, string>; [k: string]: unknown };
}

interface Scalable extends KubeObject {
  spec?: { replicas?: number };
}

export class DisruptionController extends Controller {
  private readonly budgets: Informer<Budget>;
  private readonly pods: Informer<Pod>;
  private readonly scalables: Map<string, Informer<Scalable>>;

  constructor(ctx: ControllerContext) {
    super("disruption", ctx);
    this.budgets = ctx.informers.informerFor<Budget>(PDBS);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.scalables = new Map([REPLICA_SETS, DEPLOYMENTS, STATEFUL_SETS, REPLICATION_CONTROLLERS].map((r) => [r.kind, ctx.informers.informerFor<Scalable>(r)]));
    this.budgets.addHandlers({ onAdd: (b) => this.queue.add(objectKey(b)), onUpdate: (_o, b) => this.queue.add(objectKey(b)) });
    const podChanged = (pod: Pod) => {
      for (const b of this.budgets.cache.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? "")) if (selectorMatches(b.spec?.selector, pod.metadata.labels)) this.queue.add(objectKey(b));
    };
    this.pods.addHandlers({
      onAdd: podChanged,
      onUpdate: (old, pod) => {
        podChanged(old);
        podChanged(pod);
      },
      onDelete: podChanged,
    });
    // A change of replicas changes expectedPods for percentages and maxUnavailable.
    for (const inf of this.scalables.values()) {
      inf.addHandlers({ onUpdate: (_o, s) => this.queueNamespace(s.metadata.namespace), onAdd: (s) => this.queueNamespace(s.metadata.namespace) });
    }
  }

  private queueNamespace(ns: string | undefined): void {
    for (const b of this.budgets.cache.byIndex(BY_NAMESPACE, ns ?? "")) this.queue.add(objectKey(b));
  }

  /** The replicas the selected pods' controllers want (getExpectedScale: ReplicaSet → its Deployment, StatefulSet, ReplicationController). */
  private expectedScale(ns: string, pods: Pod[]): number {
    const seen = new Set<string>();
    let total = 0;
    const get = (kind: string, name: string) => this.scalables.get(kind)?.cache.get(`${ns}/${name}`);
    for (const pod of pods) {
      const ref = (pod.metadata.ownerReferences ?? []).find((r) => r.controller);
      if (!ref || seen.has(ref.uid)) continue;
      seen.add(ref.uid);
      if (ref.kind === "ReplicaSet") {
        const rs = get("ReplicaSet", ref.name);
        const dep = (rs?.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === "Deployment");
        total += (dep ? get("Deployment", dep.name) : rs)?.spec?.replicas ?? 0;
      } else if (ref.kind === "StatefulSet" || ref.kind === "ReplicationController") total += get(ref.kind, ref.name)?.spec?.replicas ?? 0;
    }
    return total;
  }

  async reconcile(key: string): Promise<void> {
    const pdb = this.budgets.cache.get(key);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const ns = pdb.metadata.namespace!;
    const pods = this.pods.cache.byIndex(BY_NAMESPACE, ns).filter((p) => selectorMatches(pdb.spec?.selector, p.metadata.labels));
    const now = this.ctx.clock.now();
    const status = computeDisruptionStatus(pdb, pods, this.expectedScale(ns, pods), now);
    if (JSON.stringify(status) !== JSON.stringify(pdb.status ?? {})) {
      const next = copyObject(pdb);
      next.status = status as unknown as Budget["status"];
      try {
        await this.ctx.client.resource<Budget>(PDBS).updateStatus(next);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const expiries = Object.values(status.disruptedPods ?? {}).map((at) => Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS - now);
    if (expiries.length) this.queue.addAfter(key, Math.max(1, Math.min(...expiries)));
  }
}
