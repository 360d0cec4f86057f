// The namespace controller: a namespace being deleted (Terminating, with `kubernetes` in
// spec.finalizers) has everything in it deleted; once nothing is left, the finalizer is
// removed through namespaces/NAME/finalize and the API server lets the namespace go.
// Emptiness is checked with the server (one LIST per kind), not the caches, which may not
// yet hold an object created just before the deletion. Each object of a namespaced kind
// that goes enqueues its namespace, so the last one out finishes the job.
import { copyObject, isConflict, isNotFound, type DiscoveredResource, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { WatchedKinds } from "./_objects.ts";

export const NAMESPACE_FINALIZER = "kubernetes";
const NAMESPACES: DiscoveredResource = { group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false, verbs: ["get", "list", "watch", "update", "delete"] };

/** While content remains (held by someone else's finalizer, say), look again this often besides on events. */
const RECHECK_MS = 10_000;

const finalizersOf = (ns: KubeObject) => ((ns.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []);

export class NamespaceController extends Controller {
  private readonly kinds: WatchedKinds;
  private readonly namespaces;

  constructor(ctx: ControllerContext) {
    super("namespace", ctx);
    this.kinds = new WatchedKinds(ctx.resources.filter((r) => r.namespaced), ctx.informers);
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.namespaces.addHandlers({
      onAdd: (ns) => this.queue.add(ns.metadata.name!),
      onUpdate: (_old, ns) => this.queue.add(ns.metadata.name!),
    });
    for (const { informer } of this.kinds.entries) {
      informer.addHandlers({
        onDelete: (obj) => {
          const ns = obj.metadata.namespace && this.namespaces.cache.get(obj.metadata.namespace);
          if (ns && ns.metadata.deletionTimestamp) this.queue.add(ns.metadata.name!);
        },
      });
    }
  }

  async reconcile(name: string): Promise<void> {
    const ns = this.namespaces.cache.get(name);
    if (!ns?.metadata.deletionTimestamp || !finalizersOf(ns).includes(NAMESPACE_FINALIZER)) return;
    let remaining = 0;
    for (const { resource } of this.kinds.entries) {
      const objects = this.ctx.client.resource(resource);
      for (const obj of (await objects.list(name)).items) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        await objects.delete(name, obj.metadata.name!, { propagationPolicy: "Background", preconditions: { uid: obj.metadata.uid } }).catch((err: unknown) => {
          if (!isNotFound(err) && !isConflict(err)) throw err;
        });
      }
    }
    if (remaining > 0) {
      this.queue.addAfter(name, RECHECK_MS);
      return;
    }
    const live = await this.ctx.client.resource(NAMESPACES).get(undefined, name).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!live) return;
    const next = copyObject(live);
    next.spec = { ...(next.spec as object), finalizers: finalizersOf(live).filter((f) => f !== NAMESPACE_FINALIZER) };
    await this.ctx.client.resource(NAMESPACES).updateSubresource(next, "finalize");
  }
}
