// The resource quota controller (pkg/controller/resourcequota): keeps every ResourceQuota's
// status true — status.hard is spec.hard, status.used what the namespace's objects use now —
// so admission (which charges new objects) has a starting point, and usage comes back when
// objects are deleted or finish. Keyed by quota; pods, services, claims, config maps and
// secrets are watched (a deletion, or a change of what one uses, requeues the quotas of its
// namespace); other `count/<resource>` kinds are counted by a list at sync time. Every quota is also counted
// again every 5 minutes (kube-controller-manager's --resource-quota-sync-period), which
// catches what no event announces: a deleted pod's grace period running out. A restart
// counts every quota afresh from the store.
import {
  BY_NAMESPACE,
  computeQuotaUsed,
  copyObject,
  countedResource,
  formatResourceList,
  isConflict,
  isNotFound,
  objectKey,
  objectUsage,
  type Informer,
  type KubeObject,
  type ResourceRef,
} from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";

export const RESOURCE_QUOTAS: ResourceRef = { group: "", version: "v1", resource: "resourcequotas", kind: "ResourceQuota", namespaced: true };
const WATCHED: ResourceRef[] = [
  { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true },
  { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true },
  { group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true },
  { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true },
  { group: "", version: "v1", resource: "secrets", kind: "Secret", namespaced: true },
];
export const QUOTA_RESYNC_MS = 5 * 60_000;

interface Quota extends KubeObject {
  spec?: { hard?: Record<string, string>; [k: string]: unknown };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

/** The kinds a quota's hard names are about (pods for requests.cpu, deployments.apps for count/deployments.apps). */
function kindsOf(hard: Record<string, string>): { group: string; plural: string }[] {
  const kinds = new Map<string, { group: string; plural: string }>();
  for (const name of Object.keys(hard)) {
    let kind = countedResource(name);
    if (!kind) {
      if (name.startsWith("services.")) kind = { group: "", plural: "services" };
      else if (name === "requests.storage" || name.includes(".storageclass.storage.k8s.io/")) kind = { group: "", plural: "persistentvolumeclaims" };
      else kind = { group: "", plural: "pods" }; // cpu, memory, requests.*, limits.*, hugepages
    }
    kinds.set(`${kind.group}/${kind.plural}`, kind);
  }
  return [...kinds.values()];
}

export class ResourceQuotaController extends Controller {
  private readonly quotas: Informer<Quota>;
  private readonly watched = new Map<string, Informer>();

  constructor(ctx: ControllerContext) {
    super("resourcequota", ctx);
    this.quotas = ctx.informers.informerFor<Quota>(RESOURCE_QUOTAS);
    // Only a change of spec.hard asks for a count: status changes are this controller's own
    // writes and admission's charges (kube-controller-manager's quota controller does the same).
    this.quotas.addHandlers({
      onAdd: (q) => this.queue.add(objectKey(q)),
      onUpdate: (old, q) => {
        if (JSON.stringify(old.spec?.hard ?? {}) !== JSON.stringify(q.spec?.hard ?? {})) this.queue.add(objectKey(q));
      },
    });
    // Replenishment: usage goes down when an object goes, or when it stops using what it did
    // (a pod that finished). A new object is charged by admission, not counted here, so a
    // count cannot run ahead of a create whose charge is already in the quota.
    for (const ref of WATCHED) {
      const inf = ctx.informers.informerFor(ref);
      this.watched.set(`${ref.group}/${ref.resource}`, inf);
      const requeue = (o: KubeObject) => {
        for (const q of this.quotas.cache.byIndex(BY_NAMESPACE, o.metadata.namespace ?? "")) this.queue.add(objectKey(q));
      };
      const usage = (o: KubeObject) => formatResourceList(objectUsage(ref.group, ref.resource, o, this.ctx.clock.now()));
      inf.addHandlers({
        onUpdate: (old, cur) => {
          if (usage(old) !== usage(cur)) requeue(cur);
        },
        onDelete: requeue,
      });
    }
  }

  /** The namespace's objects of one kind: from its informer, else listed from the server now. */
  private async objectsOf(ns: string, group: string, plural: string): Promise<readonly KubeObject[]> {
    const inf = this.watched.get(`${group}/${plural}`);
    if (inf) return inf.cache.byIndex(BY_NAMESPACE, ns);
    const ref = this.ctx.resources.find((r) => r.group === group && r.resource === plural && r.namespaced && r.verbs.includes("list"));
    if (!ref) return [];
    return (await this.ctx.client.resource(ref).list(ns)).items;
  }

  async reconcile(key: string): Promise<void> {
    const quota = this.quotas.cache.get(key);
    if (!quota || quota.metadata.deletionTimestamp) return;
    const ns = quota.metadata.namespace!;
    const hard = quota.spec?.hard ?? {};
    const objects = [];
    for (const { group, plural } of kindsOf(hard)) objects.push({ group, plural, items: await this.objectsOf(ns, group, plural) });
    const status = { hard: { ...hard }, used: computeQuotaUsed(quota, objects, this.ctx.clock.now()) };
    if (JSON.stringify(status) !== JSON.stringify({ hard: quota.status?.hard ?? {}, used: quota.status?.used ?? {} })) {
      const next = copyObject(quota);
      next.status = status;
      try {
        // Pinned to the cached resourceVersion: a charge admission made meanwhile is a conflict, and a fresh count follows.
        await this.ctx.client.resource<Quota>(RESOURCE_QUOTAS).updateStatus(next);
      } catch (err) {
        if (isNotFound(err)) return;
        if (isConflict(err)) {
          this.queue.addAfter(key, 50); // once the informer has the newer quota
          return;
        }
        throw err;
      }
    }
    this.queue.addAfter(key, QUOTA_RESYNC_MS);
  }
}
