// The generic object registry: every resource type is stored, versioned and watched the
// same way (what Kubernetes calls the generic registry). resourceVersion is the store's
// modRevision, never stored inside the value; uid, creationTimestamp and generation are
// owned by the server; deletion goes through finalizers and deletionTimestamp. What differs
// between kinds (defaults, validation, allocation, ...) comes from the kind's strategy.
import { randomUUID } from "node:crypto";
import { GantryError } from "../../common/errors.ts";
import type { Store, StoredObject } from "../store/index.ts";
import { clone, deepEqual, isPlainObject, nowTimestamp, type KubeObject } from "./objects.ts";
import { ObjectClaims, releaseClaims } from "./ranges.ts";
import { apiVersionOf, findResource, resourceTypes, storageKey, storagePrefix, type ResourceType } from "./resources.ts";
import { matchFields, matchLabels, type FieldRequirement, type LabelSelector } from "./selectors.ts";
import {
  ApiError,
  errAlreadyExists,
  errBadRequest,
  errConflict,
  errForbidden,
  errGone,
  errInvalid,
  errNotFound,
  STALE_OBJECT,
} from "./status.ts";
import { NAMESPACE_FINALIZER, strategyFor, type AdmissionLookup } from "./strategies/index.ts";
import { Causes, validateMeta } from "./validation.ts";
import { applyLimitRangeDefaults, checkLimitRanges, limitRangerApplies } from "./limit-ranger.ts";
import { admitQuota, type QuotaAccess } from "./resource-quota.ts";

export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export interface ListQuery {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldRequirement[];
  limit?: number;
  continueToken?: string;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  /** DeleteOptions.gracePeriodSeconds: for kinds deleted gracefully (pods on a node), 0 deletes at once. */
  gracePeriodSeconds?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /**
   * "status" writes only .status; "" (default) writes everything but .status for kinds with a
   * status subresource; an action's name ("binding") writes what its handler made of the
   * object, spec and status alike, and tells the strategy which write it validates.
   */
  subresource?: string;
  /**
   * Admission that needs the requesting user (RBAC's escalation check): runs on the object
   * about to be written, after defaulting and validation, and throws to refuse it.
   */
  admit?: (next: KubeObject, old: KubeObject | undefined) => Promise<void>;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export const FOREGROUND_FINALIZER = "foregroundDeletion";
export const ORPHAN_FINALIZER = "orphan";
export { NAMESPACE_FINALIZER };

const MAX_WRITE_RETRIES = 8;

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeContinue(s: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString()) as ContinueToken;
    if (typeof t.rv === "number" && typeof t.start === "string") return t;
  } catch {
    // fall through
  }
  throw errBadRequest(`invalid continue token "${s}"`);
}

/** Everything in an object that is not metadata or status: a change here bumps generation. */
function specPart(o: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function storeCode(err: unknown): string | undefined {
  return err instanceof GantryError ? err.code : undefined;
}

/** A stored version's decoded object while some watcher still has its event to deliver. */
const decodedVersions = new WeakMap<StoredObject, { rt: ResourceType; obj: KubeObject }>();

export class ObjectRegistry {
  constructor(readonly store: Store) {}

  /** What a kind's admission may read (other kinds' objects). */
  private readonly admissionLookup: AdmissionLookup = {
    get: async (group, plural, ns, name) => {
      const rt = findResource(group, "v1", plural);
      return rt ? this.tryGet(rt, ns, name) : undefined;
    },
    list: async (group, plural) => {
      const rt = findResource(group, "v1", plural);
      return rt ? (await this.list(rt, undefined)).items : [];
    },
  };

  /** How quota admission reads and charges the namespace's ResourceQuotas. */
  private readonly quotaAccess: QuotaAccess = {
    list: async (ns) => this.listIfAny(findResource("", "v1", "resourcequotas")!, ns),
    updateStatus: async (ns, name, change) => {
      await this.mutate(findResource("", "v1", "resourcequotas")!, ns, name, change, { subresource: "status" });
    },
  };

  /**
   * A namespace's objects of a kind that most namespaces have none of (quotas, limit ranges),
   * read on every create: a count, one indexed probe, first; the list only when there are any.
   */
  private async listIfAny(rt: ResourceType, ns: string | undefined): Promise<KubeObject[]> {
    if ((await this.count(rt, ns)) === 0) return [];
    return (await this.list(rt, ns)).items;
  }

  /** Runs the kind's admission on an object about to be written (old: before an update). */
  private async admit(rt: ResourceType, next: KubeObject, old: KubeObject | undefined): Promise<KubeObject> {
    const admit = strategyFor(rt).admit;
    if (!admit) return next;
    if (!isPlainObject(next.metadata)) next.metadata = {};
    await admit(next, this.admissionLookup, old);
    return next;
  }

  /** Stored JSON to a served object: type meta and resourceVersion filled in. */
  decode(rt: ResourceType, so: StoredObject): KubeObject {
    const o = JSON.parse(so.value) as KubeObject;
    o.apiVersion = apiVersionOf(rt);
    o.kind = rt.kind;
    o.metadata = { ...o.metadata, resourceVersion: String(so.modRevision) };
    return reorder(o);
  }

  /**
   * decode() once per stored version and kind for every watcher it reaches: the store hands all
   * watchers of a row the same StoredObject, and each used to parse it again (three pod watchers
   * — controllers, nodes, a client — made three copies of every pod write). The object is
   * shared, so watchers only read it (handlers.ts serialises it, once: encodedEvent).
   */
  private decodeShared(rt: ResourceType, so: StoredObject): KubeObject {
    const hit = decodedVersions.get(so);
    if (hit?.rt === rt) return hit.obj;
    const obj = this.decode(rt, so);
    decodedVersions.set(so, { rt, obj });
    return obj;
  }

  private encode(o: KubeObject): string {
    const copy = { ...o, metadata: { ...o.metadata } };
    delete copy.metadata.resourceVersion;
    return JSON.stringify(copy);
  }

  async get(rt: ResourceType, ns: string | undefined, name: string): Promise<KubeObject> {
    const so = await this.store.get(storageKey(rt, ns, name));
    if (!so) throw errNotFound(rt.plural, rt.group, name);
    return this.decode(rt, so);
  }

  async tryGet(rt: ResourceType, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
    const so = await this.store.get(storageKey(rt, ns, name));
    return so ? this.decode(rt, so) : undefined;
  }

  async list(rt: ResourceType, ns: string | undefined, q: ListQuery = {}): Promise<ListPage> {
    const prefix = storagePrefix(rt, ns);
    let atRevision: number | undefined;
    let startAfterKey: string | undefined;
    if (q.continueToken) {
      const t = decodeContinue(q.continueToken);
      atRevision = t.rv;
      startAfterKey = prefix + t.start;
    }
    let res;
    try {
      res = await this.store.list(prefix, { limit: q.limit, startAfterKey, atRevision });
    } catch (err) {
      if (storeCode(err) === "GONE") {
        throw errGone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.");
      }
      throw err;
    }
    const items: KubeObject[] = [];
    for (const so of res.items) {
      const o = this.decode(rt, so);
      if (q.labelSelector?.length && !matchLabels(q.labelSelector, o.metadata.labels)) continue;
      if (q.fieldSelector?.length && !matchFields(q.fieldSelector, o)) continue;
      items.push(o);
    }
    const page: ListPage = { items, resourceVersion: String(res.revision) };
    if (res.more && res.items.length > 0) {
      const lastKey = res.items[res.items.length - 1]!.key;
      page.continueToken = encodeContinue({ rv: res.revision, start: lastKey.slice(prefix.length) });
    }
    return page;
  }

  /** Checks and completes an object about to be written (create when old is undefined). */
  private prepare(rt: ResourceType, ns: string | undefined, next: KubeObject, old: KubeObject | undefined, opts: WriteOptions, afterDefaults?: (o: KubeObject) => void): KubeObject {
    const strategy = strategyFor(rt);
    if (!isPlainObject(next.metadata)) next.metadata = {};
    next.apiVersion = apiVersionOf(rt);
    next.kind = rt.kind;
    if (rt.namespaced) next.metadata.namespace = ns;
    else delete next.metadata.namespace;
    if (old) {
      if (opts.subresource === "status") {
        // Status writes change status only (and metadata the server keeps).
        const status = next.status;
        next = clone(old);
        if (status === undefined) delete next.status;
        else next.status = status;
      } else if (rt.status && !opts.subresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      const m = next.metadata;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      if (old.metadata.deletionTimestamp) {
        m.deletionTimestamp = old.metadata.deletionTimestamp;
        m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      } else {
        delete m.deletionTimestamp;
        delete m.deletionGracePeriodSeconds;
      }
      m.generation = old.metadata.generation ?? 1;
      strategy.defaults?.(next);
      if (!deepEqual(specPart(next), specPart(old))) m.generation += 1;
      if (old.metadata.deletionTimestamp) {
        const added = (m.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
        if (added.length) throw errForbidden(`${rt.plural} "${m.name}" is being deleted: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`);
      }
    } else {
      const m = next.metadata;
      if (!m.name && m.generateName) m.name = `${m.generateName}${randomSuffix()}`;
      m.uid = randomUUID();
      m.creationTimestamp = nowTimestamp();
      m.generation = 1;
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
      // A status subresource means clients cannot set status on create either.
      if (rt.status && !strategy.statusOnCreate) delete next.status;
      strategy.defaults?.(next);
      afterDefaults?.(next);
    }
    strategy.canonicalize?.(next);
    if (!(strategy.generation ?? rt.status)) delete next.metadata.generation;
    const c = new Causes();
    validateMeta(c, next, strategy.nameIsLabel ? "label" : strategy.nameIsPathSegment ? "path-segment" : "subdomain");
    strategy.validate?.(c, next, old, opts.subresource || undefined);
    if (c.list.length) throw errInvalid(rt.kind, rt.group, next.metadata.name ?? "", c.list);
    return reorder(next);
  }

  /**
   * Lets the kind's allocator fill in and claim what the object holds (ClusterIPs, node
   * ports). The claims this write made are returned, to be released if the write fails.
   */
  private async allocate(rt: ResourceType, ns: string | undefined, next: KubeObject, old: KubeObject | undefined, dryRun: boolean): Promise<string[]> {
    const allocator = strategyFor(rt).allocator;
    if (!allocator) return [];
    const held = new Set(old ? allocator.held(old) : []);
    const claims = new ObjectClaims(this.store, storageKey(rt, ns, next.metadata.name!), next.metadata.uid!, held, (owner, key) => allocator.held(owner).includes(key), dryRun);
    try {
      await allocator.assign(next, old, claims);
    } catch (err) {
      await releaseClaims(this.store, next.metadata.uid, claims.claimed);
      throw err;
    }
    return claims.claimed;
  }

  /**
   * Claims the values stored objects hold, for stores written before claims existed (or
   * values whose claim was lost). A value two objects hold is reported, not taken away.
   */
  async claimHeldValues(log: (message: string) => void): Promise<void> {
    for (const rt of resourceTypes) {
      if (!strategyFor(rt).allocator) continue;
      for (const o of (await this.list(rt, undefined)).items) {
        const ns = rt.namespaced ? o.metadata.namespace : undefined;
        await this.allocate(rt, ns, clone(o), undefined, false).catch((err: unknown) => log(`api: ${rt.plural} ${ns ? ns + "/" : ""}${o.metadata.name}: ${(err as Error).message}`));
      }
    }
  }

  /** Gives back what an object held and no longer does (next undefined: the object is gone). */
  private async release(rt: ResourceType, old: KubeObject, next: KubeObject | undefined): Promise<void> {
    const allocator = strategyFor(rt).allocator;
    if (!allocator) return;
    const kept = new Set(next ? allocator.held(next) : []);
    await releaseClaims(this.store, old.metadata.uid, allocator.held(old).filter((k) => !kept.has(k)));
  }

  async create(rt: ResourceType, ns: string | undefined, body: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    if (body.metadata?.resourceVersion) throw errBadRequest("resourceVersion should not be set on objects to be created");
    if (rt.namespaced) await this.checkNamespaceWritable(ns!);
    // LimitRanger: defaults after the kind's own (a limit already copied to the request stays), bounds after.
    const ranges = limitRangerApplies(rt) ? await this.listIfAny(findResource("", "v1", "limitranges")!, ns) : [];
    const withDefaults = ranges.length && rt.plural === "pods" ? (o: KubeObject) => applyLimitRangeDefaults(o, ranges) : undefined;
    const obj = this.prepare(rt, ns, await this.admit(rt, clone(body), undefined), undefined, opts, withDefaults);
    if (ranges.length) checkLimitRanges(rt, obj, ranges);
    await opts.admit?.(obj, undefined);
    const key = storageKey(rt, ns, obj.metadata.name!);
    if (opts.dryRun) {
      if (await this.store.get(key)) throw errAlreadyExists(rt.plural, rt.group, obj.metadata.name!);
      await admitQuota(this.quotaAccess, rt, obj, Date.now(), true);
      await this.allocate(rt, ns, obj, undefined, true);
      return obj;
    }
    await admitQuota(this.quotaAccess, rt, obj, Date.now(), false);
    // An object that exists is AlreadyExists (409), not a 422 about values its namesake holds
    // (a node registering again asks for the podCIDR it already has).
    if (strategyFor(rt).allocator && (await this.store.get(key))) throw errAlreadyExists(rt.plural, rt.group, obj.metadata.name!);
    const claimed = await this.allocate(rt, ns, obj, undefined, false);
    try {
      const so = await this.store.create(key, this.encode(obj));
      return this.decode(rt, so);
    } catch (err) {
      await releaseClaims(this.store, obj.metadata.uid, claimed);
      if (storeCode(err) === "ALREADY_EXISTS") throw errAlreadyExists(rt.plural, rt.group, obj.metadata.name!);
      throw err;
    }
  }

  private async checkNamespaceWritable(ns: string): Promise<void> {
    const nsObj = await this.tryGet(findResource("", "v1", "namespaces")!, undefined, ns);
    if (!nsObj) throw errNotFound("namespaces", "", ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw errForbidden(`unable to create new content in namespace ${ns} because it is being terminated`, { name: ns, kind: "namespaces" });
    }
  }

  /** PUT: replaces the object; a stale resourceVersion in the body is a 409. */
  async update(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    body: KubeObject,
    opts: WriteOptions = {},
    beforeWrite?: (cur: KubeObject, next: KubeObject) => void,
  ): Promise<KubeObject> {
    if (!isPlainObject(body.metadata)) body.metadata = {};
    if (body.metadata.name && body.metadata.name !== name) {
      throw errBadRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    body.metadata.name = name;
    if (rt.namespaced && body.metadata.namespace && body.metadata.namespace !== ns) {
      throw errBadRequest(`the namespace of the provided object does not match the namespace sent on the request`);
    }
    const rv = body.metadata.resourceVersion;
    return this.mutate(rt, ns, name, (cur) => {
      if (rv && rv !== cur.metadata.resourceVersion) throw errConflict(rt.plural, rt.group, name, STALE_OBJECT);
      const next = clone(body);
      beforeWrite?.(cur, next);
      return next;
    }, opts);
  }

  /**
   * Read-modify-write with optimistic concurrency against the store: change() sees the
   * current object and returns the next one; a concurrent write makes it run again.
   */
  async mutate(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    change: (cur: KubeObject) => KubeObject | Promise<KubeObject>,
    opts: WriteOptions = {},
  ): Promise<KubeObject> {
    const key = storageKey(rt, ns, name);
    for (let attempt = 0; ; attempt++) {
      const so = await this.store.get(key);
      if (!so) throw errNotFound(rt.plural, rt.group, name);
      const cur = this.decode(rt, so);
      const next = this.prepare(rt, ns, await this.admit(rt, await change(clone(cur)), cur), cur, opts);
      await opts.admit?.(next, cur);
      const claimed = await this.allocate(rt, ns, next, cur, opts.dryRun ?? false);
      if (opts.dryRun) return next;
      const unchanged = deepEqual({ ...next, metadata: { ...next.metadata, resourceVersion: undefined, managedFields: undefined } }, { ...cur, metadata: { ...cur.metadata, resourceVersion: undefined, managedFields: undefined } });
      if (unchanged && deepEqual(next.metadata.managedFields ?? [], cur.metadata.managedFields ?? [])) return cur;
      try {
        // ShouldDeleteDuringUpdate: the last finalizer is gone — unless a grace period is still
        // running (a terminating pod's node agent writes its final status before deleting it).
        if (cur.metadata.deletionTimestamp && finalizersOf(rt, next).length === 0 && !(cur.metadata.deletionGracePeriodSeconds ?? 0)) {
          await this.store.delete(key, so.modRevision);
          await this.release(rt, cur, undefined);
          return { ...next, metadata: { ...next.metadata, resourceVersion: String(so.modRevision) } };
        }
        const written = this.decode(rt, await this.store.update(key, this.encode(next), so.modRevision));
        await this.release(rt, cur, written);
        return written;
      } catch (err) {
        await releaseClaims(this.store, next.metadata.uid, claimed);
        if (storeCode(err) === "CONFLICT" && attempt < MAX_WRITE_RETRIES) continue;
        if (storeCode(err) === "NOT_FOUND") throw errNotFound(rt.plural, rt.group, name);
        if (storeCode(err) === "CONFLICT") throw errConflict(rt.plural, rt.group, name, STALE_OBJECT);
        throw err;
      }
    }
  }

  /**
   * DELETE. Objects with finalizers (or a foreground/orphan policy, or namespaces) get a
   * deletionTimestamp and stay until their finalizers are removed; others go at once.
   * Returns the object as last seen and whether it is gone.
   */
  async delete(rt: ResourceType, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<{ object: KubeObject; removed: boolean }> {
    const key = storageKey(rt, ns, name);
    for (let attempt = 0; ; attempt++) {
      const so = await this.store.get(key);
      if (!so) throw errNotFound(rt.plural, rt.group, name);
      const cur = this.decode(rt, so);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== cur.metadata.uid) {
        throw errConflict(rt.plural, rt.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
        throw errConflict(rt.plural, rt.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
      }
      const next = clone(cur);
      const finalizers = new Set(next.metadata.finalizers ?? []);
      if (opts.propagationPolicy === "Foreground") finalizers.add(FOREGROUND_FINALIZER);
      if (opts.propagationPolicy === "Orphan") finalizers.add(ORPHAN_FINALIZER);
      if (finalizers.size) next.metadata.finalizers = [...finalizers];
      // Graceful deletion (rest.BeforeDelete): the object stays, marked with when its grace
      // ends, until its owner (a pod's node agent) deletes it again with grace 0. A second
      // delete may only shorten the grace period.
      const grace = strategyFor(rt).deletionGracePeriod?.(cur, opts.gracePeriodSeconds) ?? 0;
      const graceful = grace > 0;
      if (graceful) {
        const had = cur.metadata.deletionGracePeriodSeconds;
        if (cur.metadata.deletionTimestamp && had !== undefined && had <= grace) return { object: cur, removed: false };
        next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, "Z");
        next.metadata.deletionGracePeriodSeconds = grace;
      }
      const mustWait = graceful || finalizersOf(rt, next).length > 0;
      if (finalizersOf(rt, next).length > 0) strategyFor(rt).prepareForDelete?.(next);
      if (opts.dryRun) return { object: cur, removed: !mustWait };
      try {
        if (!mustWait) {
          await this.store.delete(key, so.modRevision);
          await this.release(rt, cur, undefined);
          return { object: cur, removed: true };
        }
        if (!next.metadata.deletionTimestamp) {
          next.metadata.deletionTimestamp = nowTimestamp();
          next.metadata.deletionGracePeriodSeconds = 0;
        }
        if (deepEqual(next, cur)) return { object: cur, removed: false };
        const updated = this.decode(rt, await this.store.update(key, this.encode(next), so.modRevision));
        return { object: updated, removed: false };
      } catch (err) {
        if (storeCode(err) === "CONFLICT" && attempt < MAX_WRITE_RETRIES) continue;
        if (storeCode(err) === "NOT_FOUND") throw errNotFound(rt.plural, rt.group, name);
        throw err;
      }
    }
  }

  /**
   * Watches a type (optionally one namespace) from a resourceVersion; "0" or "" first
   * replays the current objects as ADDED. Selectors turn transitions in and out of the
   * selection into ADDED and DELETED, as the real watch cache does.
   */
  async watch(
    rt: ResourceType,
    ns: string | undefined,
    resourceVersion: string | undefined,
    q: { labelSelector?: LabelSelector; fieldSelector?: FieldRequirement[] },
    send: (type: WatchEventType, obj: KubeObject, revision: number) => void,
    onError: (err: ApiError) => void,
  ): Promise<{ cancel(): void }> {
    const matches = (o: KubeObject) =>
      (!q.labelSelector?.length || matchLabels(q.labelSelector, o.metadata.labels)) &&
      (!q.fieldSelector?.length || matchFields(q.fieldSelector, o));
    let from: number;
    if (!resourceVersion || resourceVersion === "0") {
      const page = await this.list(rt, ns, q);
      for (const o of page.items) send("ADDED", o, Number(page.resourceVersion));
      from = Number(page.resourceVersion);
    } else {
      from = Number(resourceVersion);
      if (!Number.isInteger(from) || from < 0) throw errBadRequest(`invalid resource version "${resourceVersion}"`);
    }
    const selects = Boolean(q.labelSelector?.length || q.fieldSelector?.length);
    const handle = this.store.watch(
      storagePrefix(rt, ns),
      from,
      (e) => {
        const obj = this.decodeShared(rt, e.object);
        if (e.type === "DELETE") {
          const last = e.prev ? this.decodeShared(rt, e.prev) : obj;
          if (matches(last)) send("DELETED", { ...last, metadata: { ...last.metadata, resourceVersion: String(e.object.modRevision) } }, e.object.modRevision);
          return;
        }
        const nowMatches = matches(obj);
        const sameIncarnation = e.prev !== undefined && e.prev.createRevision === e.object.createRevision;
        // Without selectors every version matches: the previous one need not be decoded.
        const prevMatches = sameIncarnation && (!selects || matches(this.decodeShared(rt, e.prev!)));
        if (nowMatches) send(prevMatches ? "MODIFIED" : "ADDED", obj, e.object.modRevision);
        else if (prevMatches) send("DELETED", obj, e.object.modRevision);
      },
      (err) => {
        if (err.code === "GONE") onError(errGone(`too old resource version: ${from} (${err.message})`));
        else onError(new ApiError(err.code, err.httpStatus, "InternalError", err.message));
      },
    );
    return handle;
  }

  async count(rt: ResourceType, ns: string | undefined): Promise<number> {
    return this.store.count(storagePrefix(rt, ns));
  }
}

/** The finalizers that hold an object back from removal (namespaces also keep spec.finalizers). */
export function finalizersOf(rt: ResourceType, o: KubeObject): string[] {
  return [...(o.metadata.finalizers ?? []), ...(strategyFor(rt).extraFinalizers?.(o) ?? [])];
}

function randomSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/** apiVersion, kind, metadata first, as the real server serialises. */
function reorder(o: KubeObject): KubeObject {
  const { apiVersion, kind, metadata, ...rest } = o;
  return { apiVersion, kind, metadata, ...rest };
}
