// An informer: a list+watch cache of one kind (client-go's reflector + shared informer).
// It lists at a revision, watches from that revision, keeps every object frozen in an
// indexed cache and tells its handlers what changed. A watch that ends cleanly (the
// server's timeout) is resumed from the last revision seen (bookmarks move it on); a 410
// Gone means the history is compacted, so it lists again. A watch that breaks (the server
// died, a connection refused: the transport moves to another server of an HA cluster) is
// opened again from the same revision after a back-off, without a list — revisions are the
// store's, the same on every server, so nothing is missed and no server sees a relist storm
// (client-go's reflector retries a refused watch the same way). Other failures (a list that
// fails, a watch refused with a 4xx) list again after a back-off on the injected clock. Handlers are meant to only enqueue keys: the objects
// they get are the cache's own, frozen, and must be copied before change.
import { realClock, type Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { IndexedCache } from "./cache.ts";
import type { ResourceClient, Watch } from "./client.ts";
import { ApiStatusError, isGone } from "./errors.ts";
import { deepFreeze, objectKey, type KubeObject, type WatchEvent } from "./objects.ts";

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, cur: T): void;
  /** The object as last known (its final state when the watch saw the deletion). */
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  clock?: Clock;
  log?: (message: string) => void;
  /** Page size of the initial list. */
  pageSize?: number;
  /** Back-off between failed list/watch rounds: from this, doubling, to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long the server keeps one watch open before the informer resumes it (seconds). */
  watchTimeoutSeconds?: number;
  /** Only objects matching these (the node agent's pods: spec.nodeName=NODE). An object that
   * stops matching is seen as deleted. Such an informer is the caller's own, not the factory's. */
  fieldSelector?: string;
  labelSelector?: string;
  /**
   * Applied to every object before it is cached (client-go's SetTransform): the factory's
   * informers drop metadata.managedFields, which no loop reads and which can be as big as the
   * rest of the object (kube-scheduler and kube-controller-manager strip it the same way).
   */
  transform?: <T extends KubeObject>(obj: T) => T;
}

/** The factory's transform: an object without its managedFields (an update without them keeps the stored ones). */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

class Stopped extends Error {}

export class Informer<T extends KubeObject = KubeObject> {
  readonly cache = new IndexedCache<T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly clock: Clock;
  private readonly log: (message: string) => void;
  private readonly abort = new AbortController();
  private watch: Watch | undefined;
  private running: Promise<void> | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private revision = "";
  /** relist() was asked for: the next watch round lists first. */
  private relistWanted = false;
  /** How many times the informer listed (the first list included). */
  lists = 0;
  /** How many times a broken watch was opened again from its revision, without a list. */
  rewatches = 0;

  constructor(
    readonly resource: ResourceClient<T>,
    private readonly opts: InformerOptions = {},
  ) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? (() => {});
  }

  /** Adds handlers; objects already cached are replayed to them as adds. */
  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    for (const obj of this.cache.list()) h.onAdd?.(obj);
  }

  /** Starts listing and watching (once; later calls do nothing). */
  start(): void {
    this.running ??= this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.log(`informer ${this.resource.ref.resource}: stopped: ${describeError(err)}`);
    });
  }

  async stop(): Promise<void> {
    this.abort.abort(new Stopped("stopped"));
    this.watch?.stop();
    await this.running;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /**
   * Lists again now (ending the current watch), so that every cached object goes through the
   * transform again: the factory calls it when a metadata-only informer must hold full
   * objects. Until that list is in, the informer counts as not synced.
   */
  relist(): void {
    if (!this.running || this.stopped) return;
    this.relistWanted = true;
    if (this.synced) this.synced = false;
    this.watch?.stop();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is in the cache (or the informer stopped). */
  whenSynced(): Promise<void> {
    if (this.synced || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The revision the cache reflects (the last list, event or bookmark). */
  get resourceVersion(): string {
    return this.revision;
  }

  private selectors(): { fieldSelector?: string; labelSelector?: string } {
    const { fieldSelector, labelSelector } = this.opts;
    return { ...(fieldSelector ? { fieldSelector } : {}), ...(labelSelector ? { labelSelector } : {}) };
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const initial = this.opts.initialBackoffMs ?? 800;
    let backoff = initial;
    while (!this.stopped) {
      try {
        await this.listAll();
        backoff = initial;
        const why = await this.watchUntilGone();
        if (why) this.log(`informer ${this.resource.ref.resource}: ${why}; listing again`);
        continue;
      } catch (err) {
        if (this.stopped) return;
        this.log(`informer ${this.resource.ref.resource}: ${describeError(err)}; listing again in ${backoff} ms`);
      }
      await this.clock.sleep(backoff, this.abort.signal).catch(() => {
        // Stopped while waiting: the loop condition ends it.
      });
      backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 30_000);
    }
  }

  /** Lists every object (in pages, all at the first page's revision) and makes the cache match. */
  private async listAll(): Promise<void> {
    this.relistWanted = false;
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.resource.list(undefined, { limit: this.opts.pageSize ?? 500, continue: cont, ...this.selectors() });
      items.push(...page.items);
      rv ||= page.metadata.resourceVersion ?? "";
      cont = page.metadata.continue;
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.lists++;
    this.replace(items, rv);
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** The cache becomes exactly `items`; handlers hear of every difference. */
  private replace(items: T[], rv: string): void {
    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(objectKey(obj));
      this.apply({ type: "MODIFIED", object: obj });
    }
    for (const key of this.cache.keys()) {
      if (!seen.has(key)) this.apply({ type: "DELETED", object: this.cache.get(key)! });
    }
    this.revision = rv;
  }

  /**
   * Watches from the cache's revision, resuming after clean ends and (after a back-off) after
   * broken ones; returns why a new list is needed (410 Gone, relist()), and throws when the
   * server refused the watch (4xx).
   */
  private async watchUntilGone(): Promise<string | undefined> {
    const initial = this.opts.initialBackoffMs ?? 800;
    let backoff = initial;
    while (!this.stopped) {
      if (this.relistWanted) return "a new list was asked for";
      const from = this.revision;
      const ended = await new Promise<Error | undefined>((resolve) => {
        this.resource
          .watch(undefined, { ...this.selectors(), resourceVersion: this.revision, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300) }, (ev) => this.apply(ev), resolve)
          .then((w) => {
            this.watch = w;
            if (this.stopped || this.relistWanted) w.stop();
          }, resolve);
      });
      this.watch = undefined;
      if (this.stopped) return undefined;
      if (this.relistWanted) return "a new list was asked for";
      if (isGone(ended)) return `watch from revision ${this.revision} is gone (${ended!.message})`;
      if (ended && !watchMayResume(ended)) throw ended;
      // A watch that moved the revision on made progress: its break starts the back-off afresh.
      if (this.revision !== from) backoff = initial;
      if (ended) {
        this.log(`informer ${this.resource.ref.resource}: watch broke (${describeError(ended)}); watching again from revision ${this.revision} in ${backoff} ms`);
        this.rewatches++;
        await this.clock.sleep(backoff, this.abort.signal).catch(() => {
          // Stopped while waiting: the loop condition ends it.
        });
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 30_000);
      }
    }
    return undefined;
  }

  private apply(ev: WatchEvent<T>): void {
    const rv = ev.object.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") {
      if (rv) this.revision = rv;
      return;
    }
    if (this.opts.transform) ev = { ...ev, object: this.opts.transform(ev.object) };
    const key = objectKey(ev.object);
    if (ev.type === "DELETED") {
      // A delete of an object never seen (created and deleted between lists) is still told.
      this.cache.remove(key);
      const last = deepFreeze(ev.object);
      for (const h of this.handlers) h.onDelete?.(last);
    } else {
      const old = this.cache.put(ev.object);
      const cur = this.cache.get(key)!;
      for (const h of this.handlers) {
        if (old) h.onUpdate?.(old, cur);
        else h.onAdd?.(cur);
      }
    }
    if (rv) this.revision = rv;
  }
}

/**
 * Whether a watch that ended with err may be opened again from the same revision: yes when
 * the connection broke or the server was unavailable (5xx, 429, a refused or reset
 * connection); no when the server refused the watch itself (4xx), which a list may explain.
 */
function watchMayResume(err: Error): boolean {
  if (err instanceof ApiStatusError) return err.status >= 500 || err.status === 429;
  return true;
}
