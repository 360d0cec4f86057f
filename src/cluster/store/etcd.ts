// The etcd v3 store, for a control plane that must survive a machine. etcd already has the
// semantics the Store interface names (one global revision, create/mod revisions per key,
// watch from a revision, compaction), so each operation is one etcd request:
//   create           txn: if create_revision(key) == 0 then put
//   update / delete  txn: if create_revision(key) > 0 [and mod_revision(key) == expected]
//                    then put / delete (with prev_kv); else read the key to say why it failed
//   list             range [max(prefix, after+"\0"), prefixEnd) at a revision, with limit
//   watch            one shared etcd watch fanned out (etcd-watch.ts), or for an old start
//                    revision its own watch from fromRevision + 1 with prev_kv
// All keys live under an optional namespace prefix so several stores can share one etcd.
import { Etcd3, isRecoverableError } from "etcd3";
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from "cockatiel";
import type { ICompare, IKeyValue, IRangeRequest, IWatchResponse, Watcher } from "etcd3";
import { GantryError, invalidArgument, notFound, conflict } from "../../common/errors.ts";
import { checkKey, checkValue, prefixEndBytes } from "./_keys.ts";
import { WatchDelivery } from "./_delivery.ts";
import { EtcdWatchHub } from "./etcd-watch.ts";
import type { ListOptions, ListResult, Store, StoredObject, WatchEvent, WatchHandle } from "./types.ts";

const COMPACTED = "required revision has been compacted";
const FUTURE = "required revision is a future revision";
/** Keys per range request when a list is larger than this. */
const LIST_CHUNK = 500;

/**
 * Failing over between the members of an etcd cluster. etcd3's defaults (3 immediate tries;
 * a member's circuit open for 5 s after 3 failures) lose requests when one member dies: the
 * survivors refuse requests for the moment they elect a new raft leader, their circuits open
 * too, and with every circuit open the request fails although a quorum is up again. So a
 * member is tried again after 1 s, and a request is retried with backoff (≈4.5 s in all, more
 * than an election) also when every circuit is open. etcd3 retried writes before too; each is
 * a conditional transaction, so an attempt that was applied but not answered makes the retry
 * fail its condition (an error to the caller), never apply a second, different change.
 */
const FAILOVER = {
  host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
  global: retry(handleWhen((err) => isRecoverableError(err) || isBrokenCircuitError(err)), {
    maxAttempts: 7,
    backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
  }),
};

class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly watches = new Set<() => void>();
  private hub: EtcdWatchHub | undefined;

  constructor(
    private readonly endpoints: string[],
    private readonly namespace: string,
    private readonly tuning: EtcdTuning,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 5000,
      // etcd values may be up to 1.5 MiB each, so a 500-key chunk can pass gRPC's 4 MiB default.
      grpcOptions: { "grpc.max_receive_message_length": -1 },
      faultHandling: FAILOVER,
    });
  }

  private full(key: string): Buffer {
    return Buffer.from(this.namespace + key);
  }

  /** Where a range over prefix starts: etcd refuses an empty key, and "\0" is the first one. */
  private rangeStart(prefix: string): Buffer {
    const start = this.full(prefix);
    return start.length > 0 ? start : Buffer.from([0]);
  }

  private toObject(kv: IKeyValue): StoredObject {
    return {
      key: kv.key.toString().slice(this.namespace.length),
      value: kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  /** Turns an etcd or transport error into a GantryError naming the operation. */
  private fail(op: string, err: unknown): GantryError {
    if (err instanceof GantryError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes(COMPACTED)) {
      return new GantryError("GONE", `${op}: the revision has been compacted`, {
        hint: "list again without a revision",
        cause: err,
      });
    }
    if (message.includes(FUTURE))
      return invalidArgument(`${op}: the revision is in the future`, { cause: err });
    const name = err instanceof Error ? err.constructor.name : "";
    if (/Unavailable|DeadlineExceeded|Timeout|Cancelled/.test(name) || /UNAVAILABLE|DEADLINE/.test(message)) {
      return new GantryError(
        "TIMEOUT",
        `${op}: etcd at ${this.endpoints.join(",")} did not answer: ${message}`,
        {
          hint: "check that etcd is running and reachable",
          cause: err,
        },
      );
    }
    return new GantryError("INTERNAL", `${op}: etcd failed: ${message}`, { cause: err });
  }

  private async range(op: string, req: IRangeRequest) {
    try {
      return await this.client.kv.range(req);
    } catch (err) {
      throw this.fail(op, err);
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.range("read the store revision", { key: Buffer.from([0]), count_only: true });
    return Number(res.header.revision);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    checkKey(key);
    const res = await this.range(`get ${key}`, { key: this.full(key) });
    const kv = res.kvs[0];
    return kv && this.toObject(kv);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0)
      throw invalidArgument(`list limit must be a non-negative integer, got ${limit}`);
    if (opts.atRevision !== undefined && (!Number.isInteger(opts.atRevision) || opts.atRevision < 0)) {
      throw invalidArgument(`revision must be a non-negative integer, got ${opts.atRevision}`);
    }
    const start = this.rangeStart(prefix);
    const end = prefixEndBytes(this.full(prefix));
    let from = start;
    if (opts.startAfterKey !== undefined) {
      const after = Buffer.concat([this.full(opts.startAfterKey), Buffer.from([0])]);
      if (Buffer.compare(after, start) > 0) from = after;
    }
    // Read in chunks at one revision: a single range answer must fit in one gRPC message,
    // and an unpaged list of thousands of objects would not.
    let revision = opts.atRevision ?? 0; // 0: the newest, which the first answer's header names
    const items: StoredObject[] = [];
    for (;;) {
      const want = limit > 0 ? Math.min(limit - items.length, LIST_CHUNK) : LIST_CHUNK;
      const res = await this.range(`list ${prefix}`, { key: from, range_end: end, limit: want, revision });
      if (revision === 0) revision = Number(res.header.revision);
      for (const kv of res.kvs) items.push(this.toObject(kv));
      const last = res.kvs.at(-1);
      if (!res.more || !last) return { items, revision, more: false };
      if (limit > 0 && items.length >= limit) return { items, revision, more: true };
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  async create(key: string, value: string): Promise<StoredObject> {
    checkKey(key);
    checkValue(key, value);
    const k = this.full(key);
    let res;
    try {
      res = await this.client.kv.txn({
        compare: [{ key: k, target: "Create", result: "Equal", create_revision: 0 }],
        success: [{ request_put: { key: k, value: Buffer.from(value) } }],
      });
    } catch (err) {
      throw this.fail(`create ${key}`, err);
    }
    if (!res.succeeded) throw new GantryError("ALREADY_EXISTS", `key ${key} already exists`, { path: key });
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  /** Runs op on key if it exists (and is at expectedModRevision); explains a refusal. */
  private async guarded(
    key: string,
    verb: string,
    expectedModRevision: number | undefined,
    op: "put" | "delete",
    value = "",
  ) {
    checkKey(key);
    const k = this.full(key);
    const compare: ICompare[] = [{ key: k, target: "Create", result: "Greater", create_revision: 0 }];
    if (expectedModRevision !== undefined) {
      compare.push({ key: k, target: "Mod", result: "Equal", mod_revision: expectedModRevision });
    }
    const success =
      op === "put"
        ? [{ request_put: { key: k, value: Buffer.from(value), prev_kv: true } }]
        : [{ request_delete_range: { key: k, prev_kv: true } }];
    let res;
    try {
      res = await this.client.kv.txn({ compare, success, failure: [{ request_range: { key: k } }] });
    } catch (err) {
      throw this.fail(`${verb} ${key}`, err);
    }
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range.kvs[0];
      if (!current) throw notFound(`key ${key} does not exist`, { path: key });
      throw conflict(
        `key ${key} is at revision ${Number(current.mod_revision)}, not ${expectedModRevision}`,
        { path: key },
      );
    }
    const r = res.responses[0]!;
    const prev = op === "put" ? r.response_put.prev_kv : r.response_delete_range.prev_kvs[0];
    return { rev: Number(res.header.revision), prev };
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<StoredObject> {
    checkValue(key, value);
    const { rev, prev } = await this.guarded(key, "update", expectedModRevision, "put", value);
    return { key, value, createRevision: Number(prev?.create_revision ?? rev), modRevision: rev };
  }

  async delete(key: string, expectedModRevision?: number): Promise<StoredObject> {
    const { rev, prev } = await this.guarded(key, "delete", expectedModRevision, "delete");
    return {
      key,
      value: prev?.value.toString() ?? "",
      createRevision: Number(prev?.create_revision ?? 0),
      modRevision: rev,
    };
  }

  async count(prefix: string): Promise<number> {
    const res = await this.range(`count ${prefix}`, {
      key: this.rangeStart(prefix),
      range_end: prefixEndBytes(this.full(prefix)),
      count_only: true,
    });
    return Number(res.count);
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: GantryError) => void,
  ): WatchHandle {
    const delivery = new WatchDelivery(onEvent, onError);
    if (!Number.isInteger(fromRevision) || fromRevision < 0) {
      delivery.fail(invalidArgument(`watch revision must be a non-negative integer, got ${fromRevision}`));
      return { cancel: () => {} };
    }
    let detach: (() => void) | undefined;
    const stop = () => {
      delivery.cancelled = true;
      this.watches.delete(stop);
      detach?.();
    };
    this.watches.add(stop);
    this.startWatch(prefix, fromRevision, delivery).then(
      (d) => {
        if (delivery.cancelled) d();
        else detach = d;
      },
      (err: unknown) => {
        this.watches.delete(stop);
        delivery.fail(this.fail(`watch ${prefix} from revision ${fromRevision}`, err));
      },
    );
    return { cancel: stop };
  }

  /** Attaches to the shared watch when it can serve fromRevision, else opens a watch of its own. */
  private async startWatch(
    prefix: string,
    fromRevision: number,
    delivery: WatchDelivery,
  ): Promise<() => void> {
    // etcd's rule first: a start revision that has been compacted is GONE, even when the
    // shared watch still holds events from then, so both backends answer alike.
    await this.range(`watch ${prefix} from revision ${fromRevision}`, {
      key: this.rangeStart(prefix),
      count_only: true,
      revision: fromRevision + 1,
    }).catch((err: unknown) => {
      if (!(err instanceof GantryError && err.code === "INVALID_ARGUMENT")) throw err; // a future revision is fine
    });
    if (delivery.cancelled) return () => {};
    const hub = this.sharedWatch();
    await hub.ready;
    return hub.attach(prefix, fromRevision, delivery) ?? this.ownWatch(prefix, fromRevision, delivery);
  }

  private sharedWatch(): EtcdWatchHub {
    if (!this.hub) {
      const hub = new EtcdWatchHub(
        this.client,
        { start: this.rangeStart(""), end: prefixEndBytes(this.full("")) },
        (type, kv, prevKv) => this.eventOf(type, kv, prevKv),
        (err, last) => this.explainWatchFailure("", err, last),
        () => {
          if (this.hub === hub) this.hub = undefined;
        },
        this.tuning.watchRingEvents,
      );
      this.hub = hub;
    }
    return this.hub;
  }

  /** etcd cancels a watch whose start revision was compacted without saying why; ask. */
  private async explainWatchFailure(prefix: string, err: unknown, last: number): Promise<GantryError> {
    try {
      await this.client.kv.range({ key: this.rangeStart(prefix), count_only: true, revision: last + 1 });
      return this.fail(`watch ${prefix}`, err);
    } catch (probe) {
      return this.fail(`watch ${prefix} from revision ${last}`, probe);
    }
  }

  /** A watch of its own, for a start revision older than the shared watch holds. */
  private ownWatch(prefix: string, fromRevision: number, delivery: WatchDelivery): () => void {
    // The etcd client reconnects a broken stream by itself and resumes after the last
    // revision it saw; `last` drops anything it might hand us twice.
    let last = fromRevision;
    const watcher: Watcher = this.client
      .watch()
      .inRange({ start: this.rangeStart(prefix), end: prefixEndBytes(this.full(prefix)) })
      .startRevision(String(fromRevision + 1))
      .withPreviousKV()
      .watcher();
    watcher.on("data", (res: IWatchResponse) => {
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        if (rev <= last) continue;
        last = rev;
        delivery.push(this.eventOf(ev.type, ev.kv, ev.prev_kv ?? undefined));
      }
    });
    watcher.on("error", (err: unknown) => {
      void this.explainWatchFailure(prefix, err, last).then((e) => delivery.fail(e));
    });
    return () => {
      watcher.removeAllListeners();
      watcher.on("error", () => {});
      void watcher.cancel().catch(() => {});
    };
  }

  private eventOf(type: string, kv: IKeyValue, prevKv: IKeyValue | undefined): WatchEvent {
    const prev = prevKv && this.toObject(prevKv);
    if (type === "Put") return { type: "PUT", object: this.toObject(kv), prev };
    // etcd's delete event carries only the key and the deletion revision; the last value is
    // the previous key-value.
    return {
      type: "DELETE",
      object: {
        key: kv.key.toString().slice(this.namespace.length),
        value: prev?.value ?? "",
        createRevision: prev?.createRevision ?? 0,
        modRevision: Number(kv.mod_revision),
      },
      prev,
    };
  }

  async compact(beforeRevision: number): Promise<void> {
    if (!Number.isInteger(beforeRevision) || beforeRevision < 0) {
      throw invalidArgument(`cannot compact at revision ${beforeRevision}`);
    }
    try {
      await this.client.kv.compact({ revision: beforeRevision });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.includes(COMPACTED)) return; // already compacted at or past it
      if (message.includes(FUTURE))
        throw invalidArgument(`cannot compact at future revision ${beforeRevision}`);
      throw this.fail(`compact at ${beforeRevision}`, err);
    }
  }

  async close(): Promise<void> {
    for (const stop of [...this.watches]) stop();
    this.hub?.close();
    this.client.close();
  }
}

/** Knobs for tests and benchmarks; the defaults suit a control plane. */
export interface EtcdTuning {
  /** Events the shared watch keeps for watches that start in the past (default 10,000). */
  watchRingEvents?: number;
}

export async function openEtcdStore(
  endpoints: string[],
  prefix: string,
  tuning: EtcdTuning = {},
): Promise<Store> {
  if (endpoints.length === 0) throw invalidArgument("the etcd store needs at least one endpoint");
  return new EtcdStore(endpoints, prefix, tuning);
}
