// An informer's cache: objects by key ("namespace/name"), frozen, with indexes kept up to
// date on every change — by namespace, by uid, by owner uid, by spec.nodeName and by label — so a
// controller finds an owner's dependents or a node's pods without scanning.
import { deepFreeze, objectKey, type KubeObject } from "./objects.ts";

/** Values an object is filed under in one index. */
export type IndexFunc = (obj: KubeObject) => string[];

export const BY_NAMESPACE = "namespace";
export const BY_UID = "uid";
export const BY_OWNER_UID = "owner-uid";
export const BY_NODE_NAME = "node-name";
/** Filed under "key=value" for each label. */
export const BY_LABEL = "label";

export const standardIndexes: Record<string, IndexFunc> = {
  [BY_NAMESPACE]: (o) => (o.metadata.namespace ? [o.metadata.namespace] : []),
  [BY_UID]: (o) => (o.metadata.uid ? [o.metadata.uid] : []),
  [BY_OWNER_UID]: (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid),
  [BY_NODE_NAME]: (o) => {
    const node = (o.spec as { nodeName?: unknown } | undefined)?.nodeName;
    return typeof node === "string" && node ? [node] : [];
  },
  [BY_LABEL]: (o) => Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`),
};

export class IndexedCache<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  /**
   * index name → value → keys: one key as a plain string, more in a Set. Most values name
   * one object (a uid, an owner with one dependent, a node's single pod), and a Set per object
   * was a third of the memory of 5,000 cached pods' indexes.
   */
  private readonly indexes = new Map<string, Map<string, string | Set<string>>>();

  constructor(private readonly indexFuncs: Record<string, IndexFunc> = standardIndexes) {
    for (const name of Object.keys(indexFuncs)) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  list(): T[] {
    return [...this.items.values()];
  }

  /** Objects filed under value in the named index. */
  byIndex(index: string, value: string): T[] {
    const idx = this.indexes.get(index);
    if (!idx) throw new RangeError(`no index named "${index}" (have ${[...this.indexes.keys()].join(", ")})`);
    const keys = idx.get(value);
    if (keys === undefined) return [];
    if (typeof keys === "string") return [this.items.get(keys)!];
    return [...keys].map((k) => this.items.get(k)!);
  }

  /** Stores obj (frozen) and returns what it replaced. */
  put(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    const frozen = deepFreeze(obj);
    this.items.set(key, frozen);
    for (const [name, fn] of Object.entries(this.indexFuncs)) {
      const idx = this.indexes.get(name)!;
      for (const v of fn(frozen)) {
        const keys = idx.get(v);
        if (keys === undefined) idx.set(v, key);
        else if (typeof keys !== "string") keys.add(key);
        else if (keys !== key) idx.set(v, new Set([keys, key]));
      }
    }
    return old;
  }

  /** Removes the object under key and returns it. */
  remove(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexFuncs)) {
      const idx = this.indexes.get(name)!;
      for (const v of fn(obj)) {
        const keys = idx.get(v);
        if (keys === key) idx.delete(v);
        else if (typeof keys === "object") {
          keys.delete(key);
          if (keys.size === 1) idx.set(v, keys.values().next().value!);
          else if (keys.size === 0) idx.delete(v);
        }
      }
    }
  }
}
