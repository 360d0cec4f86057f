// The garbage collector (kube-controller-manager's garbagecollector, level-triggered per
// object): an object whose owners are all gone is deleted; one that still has an owner
// loses the references to owners that are gone (dangling: no object with that uid), as
// Kubernetes' attemptToDeleteItem patches them away; an owner deleted with
// propagationPolicy Orphan has the reference removed from each dependent, then its
// `orphan` finalizer; one deleted with Foreground has its dependents deleted and keeps its
// `foregroundDeletion` finalizer until no dependent with blockOwnerDeletion is left.
//
// Every object of every collectable kind is followed by the shared informers. Events
// enqueue keys only: the object itself on add and update; its dependents (by the owner-uid
// index) when it goes, so they can find their owner gone; its owners when it changes or
// goes, so an owner waiting in foreground deletion looks again.
import { isConflict, isNotFound, type DiscoveredResource, type KubeObject, type OwnerReference } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { parseTypedKey, typedKey, WatchedKinds } from "./_objects.ts";

export const FOREGROUND_FINALIZER = "foregroundDeletion";
export const ORPHAN_FINALIZER = "orphan";

export class GarbageCollector extends Controller {
  private readonly kinds: WatchedKinds;

  constructor(ctx: ControllerContext) {
    super("garbage-collector", ctx);
    this.kinds = new WatchedKinds(ctx.resources, ctx.informers);
    for (const { resource, informer } of this.kinds.entries) {
      informer.addHandlers({
        onAdd: (obj) => this.queue.add(typedKey(resource, obj)),
        onUpdate: (old, cur) => {
          this.queue.add(typedKey(resource, cur));
          this.enqueueOwners(cur, old);
        },
        onDelete: (obj) => {
          this.enqueueDependents(obj);
          this.enqueueOwners(obj);
        },
      });
    }
  }

  private enqueueDependents(owner: KubeObject): void {
    if (!owner.metadata.uid) return;
    for (const d of this.kinds.dependentsOf(owner.metadata.uid)) this.queue.add(typedKey(d.resource, d.obj));
  }

  private enqueueOwners(...objs: KubeObject[]): void {
    for (const o of objs) {
      for (const ref of o.metadata.ownerReferences ?? []) {
        for (const owner of this.kinds.byUid(ref.uid)) this.queue.add(typedKey(owner.resource, owner.obj));
      }
    }
  }

  async reconcile(key: string): Promise<void> {
    const { resourceId, namespace, name } = parseTypedKey(key);
    const kind = this.kinds.get(resourceId);
    const obj = kind?.informer.cache.get(namespace ? `${namespace}/${name}` : name);
    if (!kind || !obj) return;
    const m = obj.metadata;
    if (m.deletionTimestamp) {
      if (m.finalizers?.includes(ORPHAN_FINALIZER)) return this.orphanDependents(kind.resource, obj);
      if (m.finalizers?.includes(FOREGROUND_FINALIZER)) return this.deleteDependentsFirst(kind.resource, obj);
      return;
    }
    const owners = m.ownerReferences ?? [];
    if (owners.length === 0) return;
    const dangling: OwnerReference[] = [];
    for (const ref of owners) if (!(await this.ownerExists(ref, obj))) dangling.push(ref);
    // Every owner is gone: the dependent goes too (its own dependents follow the same way).
    if (dangling.length === owners.length) return this.remove(kind.resource, obj, "Background");
    // Some owner remains: the dependent stays, without the references to owners that are gone.
    if (dangling.length > 0) await this.dropOwnerReferences(kind.resource, obj, new Set(dangling.map((r) => r.uid)));
  }

  /** Takes the references to `uids` out of obj's ownerReferences (guarded by the cached resourceVersion). */
  private async dropOwnerReferences(resource: DiscoveredResource, obj: KubeObject, uids: Set<string>): Promise<void> {
    // A newer object is a Conflict: the key is retried against the newer cache.
    await this.patchMetadata(resource, obj, { ownerReferences: (obj.metadata.ownerReferences ?? []).filter((r) => !uids.has(r.uid)) });
  }

  /**
   * Sets metadata fields with a merge patch pinned to the cached resourceVersion (a newer object
   * is a Conflict, as an update would be): the cache may hold only the object's metadata, so
   * an update would write the rest of it away. An empty list is removed (null).
   */
  private async patchMetadata(resource: DiscoveredResource, obj: KubeObject, fields: { ownerReferences?: OwnerReference[]; finalizers?: string[] }): Promise<void> {
    const metadata: Record<string, unknown> = { resourceVersion: obj.metadata.resourceVersion };
    for (const [k, v] of Object.entries(fields)) metadata[k] = v.length ? v : null;
    await this.writeIgnoringGone(() => this.ctx.client.resource(resource).patch(obj.metadata.namespace, obj.metadata.name!, "merge", { metadata }));
  }

  /** Is the owner there, with this uid? The cache answers yes; a no is checked with the server (the owner's informer may lag). */
  private async ownerExists(ref: OwnerReference, dependent: KubeObject): Promise<boolean> {
    if (this.kinds.byUid(ref.uid).length) return true;
    const kind = this.kinds.forOwner(ref);
    // An owner of a kind the server does not serve cannot exist.
    if (!kind) return false;
    const ns = kind.resource.namespaced ? dependent.metadata.namespace : undefined;
    if (kind.resource.namespaced && !ns) return false;
    try {
      const live = await this.ctx.client.resource(kind.resource).get(ns, ref.name);
      return live.metadata.uid === ref.uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Orphan: take this owner out of every dependent's ownerReferences, then drop the finalizer. */
  private async orphanDependents(resource: DiscoveredResource, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const d of this.kinds.dependentsOf(uid)) {
      // The cached resourceVersion guards the write: a newer object is a Conflict, retried.
      await this.patchMetadata(d.resource, d.obj, { ownerReferences: (d.obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid) });
    }
    await this.removeFinalizer(resource, owner, ORPHAN_FINALIZER);
  }

  /** Foreground: delete the dependents; the owner goes once no blocking dependent is left. */
  private async deleteDependentsFirst(resource: DiscoveredResource, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    const dependents = this.kinds.dependentsOf(uid);
    for (const d of dependents) if (!d.obj.metadata.deletionTimestamp) await this.remove(d.resource, d.obj, "Foreground");
    const blocking = dependents.filter((d) => (d.obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion));
    // Not yet: each blocking dependent's deletion enqueues this owner again.
    if (blocking.length) return;
    await this.removeFinalizer(resource, owner, FOREGROUND_FINALIZER);
  }

  private async remove(resource: DiscoveredResource, obj: KubeObject, policy: "Background" | "Foreground"): Promise<void> {
    const { namespace, name, uid } = obj.metadata;
    const objects = this.ctx.client.resource(resource);
    try {
      await objects.delete(namespace, name!, { propagationPolicy: policy, preconditions: { uid } });
    } catch (err) {
      if (isNotFound(err)) return;
      // The uid precondition failed: the object we meant is gone and a namesake stands there.
      if (isConflict(err) && (await objects.get(namespace, name!).catch(() => undefined))?.metadata.uid !== uid) return;
      throw err;
    }
  }

  private async removeFinalizer(resource: DiscoveredResource, obj: KubeObject, finalizer: string): Promise<void> {
    await this.patchMetadata(resource, obj, { finalizers: (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer) });
  }

  private async writeIgnoringGone(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
