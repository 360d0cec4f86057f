// An in-memory Store with the same semantics as the real backends (one global revision,
// history for watches and reads at a revision, compaction, GONE for compacted revisions).
// Only for the API server's pure unit tests; the server itself runs on the SQLite store.
import { GantryError } from "../../common/errors.ts";
import type { ListOptions, ListResult, Store, StoredObject, WatchEvent, WatchHandle } from "../store/types.ts";

interface LogEntry {
  event: WatchEvent;
}

export function openMemoryStore(): Store {
  let revision = 0;
  let compacted = 0;
  const live = new Map<string, StoredObject>();
  const log: LogEntry[] = [];
  const watchers = new Set<{ prefix: string; onEvent: (e: WatchEvent) => void }>();

  const publish = (event: WatchEvent) => {
    log.push({ event });
    for (const w of watchers) if (event.object.key.startsWith(w.prefix)) w.onEvent(event);
  };

  const valueAt = (key: string, rev: number): StoredObject | undefined => {
    let found: StoredObject | undefined;
    for (const { event } of log) {
      if (event.object.modRevision > rev) break;
      if (event.object.key !== key) continue;
      found = event.type === "PUT" ? event.object : undefined;
    }
    return found;
  };

  return {
    async currentRevision() {
      return revision;
    },
    async get(key) {
      return live.get(key);
    },
    async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
      const at = opts.atRevision ?? revision;
      if (opts.atRevision !== undefined && opts.atRevision < compacted) {
        throw new GantryError("GONE", `revision ${opts.atRevision} has been compacted (oldest is ${compacted})`);
      }
      let keys: string[];
      if (at === revision) keys = [...live.keys()].filter((k) => k.startsWith(prefix));
      else keys = [...new Set(log.map((e) => e.event.object.key))].filter((k) => k.startsWith(prefix) && valueAt(k, at));
      keys.sort();
      if (opts.startAfterKey !== undefined) keys = keys.filter((k) => k > opts.startAfterKey!);
      const limit = opts.limit && opts.limit > 0 ? opts.limit : keys.length;
      const page = keys.slice(0, limit);
      return {
        items: page.map((k) => (at === revision ? live.get(k)! : valueAt(k, at)!)),
        revision: at,
        more: keys.length > page.length,
      };
    },
    async create(key, value) {
      if (live.has(key)) throw new GantryError("ALREADY_EXISTS", `key ${key} already exists`);
      revision++;
      const obj = { key, value, createRevision: revision, modRevision: revision };
      live.set(key, obj);
      publish({ type: "PUT", object: obj });
      return obj;
    },
    async update(key, value, expected) {
      const prev = live.get(key);
      if (!prev) throw new GantryError("NOT_FOUND", `key ${key} not found`);
      if (expected !== undefined && expected !== prev.modRevision) throw new GantryError("CONFLICT", `key ${key} was modified`);
      revision++;
      const obj = { key, value, createRevision: prev.createRevision, modRevision: revision };
      live.set(key, obj);
      publish({ type: "PUT", object: obj, prev });
      return obj;
    },
    async delete(key, expected) {
      const prev = live.get(key);
      if (!prev) throw new GantryError("NOT_FOUND", `key ${key} not found`);
      if (expected !== undefined && expected !== prev.modRevision) throw new GantryError("CONFLICT", `key ${key} was modified`);
      revision++;
      live.delete(key);
      publish({ type: "DELETE", object: { ...prev, modRevision: revision }, prev });
      return prev;
    },
    async count(prefix) {
      return [...live.keys()].filter((k) => k.startsWith(prefix)).length;
    },
    watch(prefix, fromRevision, onEvent, onError): WatchHandle {
      if (fromRevision < compacted) {
        queueMicrotask(() => onError(new GantryError("GONE", `revision ${fromRevision} has been compacted`)));
        return { cancel() {} };
      }
      const backlog = log.filter((e) => e.event.object.modRevision > fromRevision && e.event.object.key.startsWith(prefix));
      const pending: WatchEvent[] = [];
      let replaying = true;
      const w = {
        prefix,
        onEvent: (e: WatchEvent) => (replaying ? pending.push(e) : onEvent(e)),
      };
      watchers.add(w);
      queueMicrotask(() => {
        for (const { event } of backlog) onEvent(event);
        for (const e of pending) onEvent(e);
        replaying = false;
      });
      return { cancel: () => watchers.delete(w) };
    },
    async compact(before) {
      compacted = Math.max(compacted, before);
      while (log.length && log[0]!.event.object.modRevision < before) log.shift();
    },
    async close() {
      watchers.clear();
    },
  };
}
