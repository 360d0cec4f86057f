// The cluster store's contract, shared by the SQLite and etcd backends and relied on by the
// API server (src/cluster/api). Semantics follow etcd and kine: one global revision that
// every write increments; an object's modRevision is its Kubernetes resourceVersion.
import type { GantryError } from "../../common/errors.ts";

export interface StoredObject {
  key: string;
  /** JSON text, stored and returned byte for byte. */
  value: string;
  /** Revision of the write that created this incarnation of the key. */
  createRevision: number;
  /** Revision of the latest write to the key (for a DELETE event: the deletion's revision). */
  modRevision: number;
}

export type WatchEvent =
  | { type: "PUT"; object: StoredObject; prev?: StoredObject }
  | {
      type: "DELETE";
      object: StoredObject /* last value, modRevision = deletion revision */;
      prev?: StoredObject;
    };

export interface ListResult {
  items: StoredObject[];
  /** Store revision the list is consistent at; pass it back as atRevision for the next page. */
  revision: number;
  /** True when more keys under the prefix follow the last item returned. */
  more: boolean;
}

export interface ListOptions {
  /** At most this many items (0 or absent: no limit). */
  limit?: number;
  /** Only keys strictly greater than this one (the last key of the previous page). */
  startAfterKey?: string;
  /** Read as of this revision; GONE if it is older than the compacted revision. */
  atRevision?: number;
}

export interface WatchHandle {
  cancel(): void;
}

export interface Store {
  currentRevision(): Promise<number>;
  get(key: string): Promise<StoredObject | undefined>;
  /** Keys under prefix in byte order, consistent at one revision. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** GantryError ALREADY_EXISTS if present. Values over 1.5 MB are INVALID_ARGUMENT (etcd's limit). */
  create(key: string, value: string): Promise<StoredObject>;
  /** NOT_FOUND if absent; CONFLICT if expectedModRevision is given and differs. */
  update(key: string, value: string, expectedModRevision?: number): Promise<StoredObject>;
  /**
   * Returns the deleted object: its last value, with modRevision = the deletion's revision (as
   * the DELETE watch event has it); NOT_FOUND / CONFLICT as update.
   */
  delete(key: string, expectedModRevision?: number): Promise<StoredObject>;
  count(prefix: string): Promise<number>;
  /**
   * Delivers every event under prefix with modRevision > fromRevision, in revision order,
   * exactly once, then live events. If fromRevision is older than the compacted revision
   * allows (compact(C) keeps revision C, so fromRevision >= C - 1 is fine, as in etcd and
   * Kubernetes), onError is called with code "GONE" and the watch ends. onError is also
   * called (and the watch ends) when the backend loses the stream for good; the caller then
   * relists. Callbacks run asynchronously, never inside watch() or a write; event objects
   * may be shared between watchers, so treat them as read-only. If onEvent throws, the
   * watch ends with onError(INTERNAL).
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: GantryError) => void,
  ): WatchHandle;
  /**
   * Forgets history before this revision (reads at it and later still work; earlier ones are
   * GONE); current values are kept. Compacting at or below an earlier compaction does nothing.
   */
  compact(beforeRevision: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * sqlite with path ":memory:" is a private in-memory database (same code, no file, gone on
 * close): what the API server's unit tests use.
 */
export type StoreSpec =
  { kind: "sqlite"; path: string } | { kind: "etcd"; endpoints: string[]; prefix?: string };
