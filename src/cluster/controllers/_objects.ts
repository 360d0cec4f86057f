// Helpers the cluster-wide controllers share: naming an object across kinds with one key,
// and finding the informer for a kind an ownerReference names.
import { BY_OWNER_UID, BY_UID, objectKey, splitKey, type DiscoveredResource, type Informer, type InformerFactory, type KubeObject, type OwnerReference } from "../client/index.ts";

/** "group/resource|namespace/name" (core group: "/pods|default/p"): one queue key for any object. */
export function typedKey(r: DiscoveredResource, obj: KubeObject): string {
  return `${r.group}/${r.resource}|${objectKey(obj)}`;
}

export function parseTypedKey(key: string): { resourceId: string; namespace: string | undefined; name: string } {
  const bar = key.indexOf("|");
  return { resourceId: key.slice(0, bar), ...splitKey(key.slice(bar + 1)) };
}

export const resourceId = (r: DiscoveredResource) => `${r.group}/${r.resource}`;

/** Resources a cluster-wide controller can follow and delete. */
export const collectable = (r: DiscoveredResource) => ["list", "watch", "delete"].every((v) => r.verbs.includes(v));

/**
 * The kinds a process watches, with their shared informers, looked up by id or by apiVersion+kind.
 * Their objects may hold only metadata (the factory's metadata informers, unless another loop
 * follows the kind in full): the loops over every kind read nothing else, and write with patches.
 */
export class WatchedKinds {
  readonly entries: { resource: DiscoveredResource; informer: Informer }[];
  private readonly byId = new Map<string, { resource: DiscoveredResource; informer: Informer }>();
  private readonly byKind = new Map<string, { resource: DiscoveredResource; informer: Informer }>();

  constructor(resources: DiscoveredResource[], informers: InformerFactory) {
    this.entries = resources.filter(collectable).map((resource) => ({ resource, informer: informers.metadataInformerFor(resource) }));
    for (const e of this.entries) {
      this.byId.set(resourceId(e.resource), e);
      this.byKind.set(`${e.resource.group ? `${e.resource.group}/` : ""}${e.resource.version}|${e.resource.kind}`, e);
      // An ownerReference may name any served version of the group; this server serves one.
      this.byKind.set(`${e.resource.group}|${e.resource.kind}`, e);
    }
  }

  get(id: string) {
    return this.byId.get(id);
  }

  /** The kind an ownerReference points at, if the server serves it. */
  forOwner(ref: OwnerReference) {
    const slash = ref.apiVersion.indexOf("/");
    const group = slash < 0 ? "" : ref.apiVersion.slice(0, slash);
    return this.byKind.get(`${ref.apiVersion}|${ref.kind}`) ?? this.byKind.get(`${group}|${ref.kind}`);
  }

  /** Cached objects with this uid, in any kind. */
  byUid(uid: string): { resource: DiscoveredResource; obj: KubeObject }[] {
    return this.entries.flatMap((e) => e.informer.cache.byIndex(BY_UID, uid).map((obj) => ({ resource: e.resource, obj })));
  }

  /** Cached objects that name this uid among their owners, in any kind. */
  dependentsOf(uid: string): { resource: DiscoveredResource; obj: KubeObject }[] {
    return this.entries.flatMap((e) => e.informer.cache.byIndex(BY_OWNER_UID, uid).map((obj) => ({ resource: e.resource, obj })));
  }
}
