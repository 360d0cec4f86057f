// The embedded store: one SQLite file used as a log, as kine does for k3s.
//
// Every write appends a row to `log`; the row's id is the store revision, so revisions are
// one global, gap-free (until compaction), monotonically increasing counter. A key's current
// value is its row with the highest revision; a delete appends a marker row that carries the
// last value. Reading "as of revision R" is the same query bounded by revision <= R, which is
// what makes list pagination consistent and watches resumable. Compaction drops rows that no
// read at or after the compacted revision can see.
//
// Watchers are fed by one pump that reads rows after the last revision it dispatched and fans
// them out. It runs once each fsync completes (below), so local watchers hear of a write as its
// writer does; a timer pumps too, for writes by other processes that share the file.
//
// Durability, with the fsync off the event loop. Writes queued in one turn of the event loop
// share one transaction (group commit), each still with its own revision. The journal is WAL
// with synchronous=NORMAL: a commit appends its frames to the `-wal` file (write(2) into the
// page cache) and returns without an fsync, so the server goes on serving. A group is
// acknowledged (promises settled, then watchers fed) only once an fsync of the WAL that began
// after the group committed has completed: fs.fsync(walFd) on libuv's thread pool. At most one
// fsync is in flight; groups committed meanwhile wait for the next one, which covers them all
// (pipelined group commit, as etcd batches its raft log). What makes that as durable as
// synchronous=FULL (an fsync inside every COMMIT):
// - Linux's fsync flushes the inode's dirty pages whatever fd wrote them, so our read-only fd
//   covers the frames SQLite wrote through its own.
// - The WAL is created by the first write (not by the journal_mode pragma), so our fd is
//   opened at the first fsync, and the directory is fsynced then once for the new entry.
// - The WAL keeps its inode while any connection has the database open: a checkpoint rewinds
//   it (new frames overwrite from the start) or, wal_checkpoint(TRUNCATE), shortens it; SQLite
//   deletes it only when the last connection closes, and ours stays open until close() (seen
//   with stat across an automatic checkpoint, a TRUNCATE checkpoint and a second connection's
//   close). So the fd is the live WAL for the store's lifetime.
// - Checkpoints copy WAL frames into the database file. Under NORMAL, SQLite fsyncs the WAL
//   before each checkpoint and the database after it, and the WAL header when the WAL is
//   reused (sqlite.org/pragma.html#pragma_synchronous), so a checkpoint never makes unsynced
//   frames the only copy. Frames carry chained checksums: after a power loss, recovery keeps a
//   prefix of the commits, so a synced commit never survives without those before it.
// - kill -9 loses nothing committed (the page cache outlives the process); opening a store
//   fsyncs a WAL left behind before reading it (its last commits may never have been synced).
// - An fsync error fails every write waiting for it and every later one with SYSCALL_FAILED
//   (never acknowledged): after a failed fsync Linux may have dropped the dirty pages, so a
//   later successful fsync proves nothing (PostgreSQL reaches the same verdict and stops).
//   Reads go on at what was synced; restarting the server reopens the store.
//
// What readers see. Reads (get, list, count, currentRevision, a watch's history and its live
// events) are answered at `durable`, the highest revision an fsync that completed is known to
// cover, not at the newest commit. So no reader sees a write its writer has not been told of,
// nor one a power loss could still take back (etcd's readers never see an unsynced entry
// either: reads wait for the applied index, entries apply once committed). Read-your-writes
// holds: a write is acknowledged only after `durable` reached it. The write path's checks
// (does the key exist, is it at the expected revision) do read newer, unsynced rows, as they
// must to serialise writes; so their refusals (ALREADY_EXISTS, CONFLICT) wait for the same
// fsync as their group's successes: by then the row that caused the refusal is durable and
// readable, and a client that re-reads after a CONFLICT finds the version it lost to. Rows
// above `durable` that this store did not write were committed by another process on the file
// (a second server), which may already have acknowledged them: a read that finds such rows
// waits for an fsync of its own first (it flushes them whoever wrote them), so it is never
// older than an acknowledgement another client has seen. (`gantry server snapshot save` reads
// the file directly and may include commits a moment from their acknowledgement: a snapshot
// restored later holds them, as a write whose client saw a timeout may have happened.)
import { close, closeSync, existsSync, fsync, fsyncSync, open, openSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { GantryError, invalidArgument, notFound, conflict } from "../../common/errors.ts";
import { checkKey, checkValue, prefixEndString } from "./_keys.ts";
import { WatchDelivery } from "./_delivery.ts";
import type { ListOptions, ListResult, Store, StoredObject, WatchEvent, WatchHandle } from "./types.ts";

const openAsync = promisify(open);
const closeAsync = promisify(close);

/** How often the pump looks for rows written by other processes while anyone watches. */
const POLL_INTERVAL_MS = 100;
/** Rows read per pump step, so a long backlog is fanned out in bounded batches. */
const PUMP_BATCH = 1000;
const SCHEMA_VERSION = 1;

interface LogRow {
  revision: number;
  key: string;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log (
  revision INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: a revision is never reused, even after compaction
  key TEXT NOT NULL,
  deleted INTEGER NOT NULL,                   -- 1: deletion marker, value is the last value
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,             -- this key's previous row, 0 when this row created the key
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

// Keys under a prefix (and after a list's startAfterKey): [lo, hi), hi absent for the empty
// prefix. Statements come in two forms, with and without the upper bound, because SQLite
// plans an index range only for a bound that is always there.
interface KeyRange {
  lo: string;
  hi?: string;
}

function rangeOf(prefix: string, startAfterKey?: string): KeyRange {
  let lo = prefix;
  if (startAfterKey !== undefined) {
    const after = startAfterKey + "\u0000"; // the smallest key greater than startAfterKey
    if (Buffer.compare(Buffer.from(after), Buffer.from(prefix)) > 0) lo = after;
  }
  return { lo, hi: prefixEndString(prefix) };
}

type Params = Record<string, string | number>;

interface RangedStatement<R> {
  bounded: Database.Statement<[Params], R>;
  open: Database.Statement<[Params], R>;
}

function pick<R>(stmt: RangedStatement<R>, r: KeyRange, params: Params = {}) {
  return r.hi === undefined
    ? { stmt: stmt.open, params: { ...params, lo: r.lo } }
    : { stmt: stmt.bounded, params: { ...params, lo: r.lo, hi: r.hi } };
}

function toObject(row: LogRow): StoredObject {
  return { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.revision };
}

/** The row a write appends, given the key's current row and the revision the new row gets. */
type BuildRow = (current: LogRow | undefined, revision: number) => Omit<LogRow, "revision" | "key">;

/** fsync(2) with fs.fsync's signature: what the store calls on the WAL (tests hold or fail it). */
export type FsyncFn = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

export interface SqliteStoreOptions {
  /** Defaults to fs.fsync (libuv's thread pool). */
  fsync?: FsyncFn;
}

/** Something committed (a group of writes, or nothing: a reader's wait) waiting for an fsync that begins after it. */
interface SyncWaiter {
  /** Rows this store committed that the fsync will cover. */
  rows: number;
  done: (err: GantryError | undefined) => void;
}

interface PendingWrite {
  key: string;
  build: BuildRow;
  resolve: (row: LogRow) => void;
  reject: (err: unknown) => void;
}

interface SqliteWatcher {
  prefix: string;
  /** Only rows after this revision are delivered. */
  after: number;
  delivery: WatchDelivery;
}

class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly watchers = new Set<SqliteWatcher>();
  private pending: PendingWrite[] = [];
  private lastDispatched: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Every revision up to this one is in the WAL and an fsync covered it: what reads see. */
  private durable: number;
  /** Rows this store committed above `durable` (the rest there are other processes'). */
  private ownUnsynced = 0;
  /** Waiting for an fsync that has not begun yet. */
  private nextSync: SyncWaiter[] = [];
  /** The waiters of the fsync in flight (at most one). */
  private syncing: SyncWaiter[] | undefined;
  /** Set by a failed fsync: no write is taken after it. */
  private failed: GantryError | undefined;
  private readonly walPath: string;
  private walFd: number | undefined;
  private readonly fsync: FsyncFn;

  constructor(
    private readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    this.fsync = options.fsync ?? fsync;
    this.db = new Database(path);
    this.walPath = `${path}-wal`;
    // A WAL left by a process that died holds commits it may never have synced; they become
    // readable now, so sync them first (and the directory entry, as for a new WAL).
    if (!this.db.memory && existsSync(this.walPath)) {
      this.walFd = openSync(this.walPath, "r");
      fsyncSync(this.walFd);
      this.syncDirectorySync();
    }
    const mode = this.db.pragma("journal_mode = WAL", { simple: true }) as string;
    // Acknowledgements rest on the WAL being the journal (header): refuse to run on anything else.
    if (!this.db.memory && mode !== "wal") {
      this.db.close();
      throw new GantryError("INVALID_ARGUMENT", `store ${path} cannot use a write-ahead log (journal mode ${mode})`, {
        path,
        hint: "put the data directory on a local filesystem",
      });
    }
    // NORMAL: COMMIT does not fsync; acknowledgements wait for the WAL's fsync instead (header).
    this.db.pragma("synchronous = NORMAL");
    // Another process (a second server, a test's writer) may hold the write lock briefly.
    this.db.pragma("busy_timeout = 5000");
    // better-sqlite3 builds SQLite with a 16 MB page cache (SQLITE_DEFAULT_CACHE_SIZE=-16000);
    // SQLite's own default is 2 MB. Pages read again come from the kernel's page cache either
    // way, and a full cache is 14 MB of the server's RSS (issue 13's memory target).
    this.db.pragma("cache_size = -2000");
    this.db.exec(SCHEMA);
    const db = this.db;
    const ranged = <R>(sql: (where: string) => string): RangedStatement<R> => ({
      bounded: db.prepare<[Params], R>(sql("key >= @lo AND key < @hi")),
      open: db.prepare<[Params], R>(sql("key >= @lo")),
    });
    this.stmt = {
      sequence: db.prepare<[], { seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'log'`),
      metaGet: db.prepare<[string], { value: number }>(`SELECT value FROM meta WHERE name = ?`),
      metaSet: db.prepare(
        `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
      ),
      latest: db.prepare<[string], LogRow>(`SELECT * FROM log WHERE key = ? ORDER BY revision DESC LIMIT 1`),
      latestAt: db.prepare<[string, number], LogRow>(
        `SELECT * FROM log WHERE key = ? AND revision <= ? ORDER BY revision DESC LIMIT 1`,
      ),
      atRevision: db.prepare<[number], LogRow>(`SELECT * FROM log WHERE revision = ?`),
      insert: db.prepare(
        `INSERT INTO log (revision, key, deleted, create_revision, prev_revision, value)
         VALUES (@revision, @key, @deleted, @create_revision, @prev_revision, @value)`,
      ),
      // The subquery yields keys in index order, so ORDER BY m.key needs no sort and LIMIT
      // stops the scan early.
      list: ranged<LogRow>(
        (where) => `SELECT l.* FROM (
           SELECT key, MAX(revision) AS revision FROM log
           WHERE ${where} AND revision <= @rev GROUP BY key ORDER BY key
         ) m JOIN log l ON l.revision = m.revision
         WHERE l.deleted = 0 ORDER BY m.key LIMIT @limit`,
      ),
      count: ranged<{ n: number }>(
        (
          where,
        ) => `SELECT COUNT(*) AS n FROM (SELECT MAX(revision) AS revision FROM log WHERE ${where} AND revision <= @rev GROUP BY key) m
         JOIN log l ON l.revision = m.revision WHERE l.deleted = 0`,
      ),
      rowsAfter: db.prepare<[number, number, number], LogRow>(
        `SELECT * FROM log WHERE revision > ? AND revision <= ? ORDER BY revision LIMIT ?`,
      ),
      historyInRange: ranged<LogRow>(
        (where) =>
          `SELECT * FROM log WHERE ${where} AND revision > @from AND revision <= @to ORDER BY revision`,
      ),
      compactSuperseded: db.prepare(
        `DELETE FROM log WHERE revision < @c AND (deleted = 1 OR EXISTS (
           SELECT 1 FROM log n WHERE n.key = log.key AND n.revision > log.revision AND n.revision <= @c))`,
      ),
    };
    const version = this.stmt.metaGet.get("schema")?.value;
    if (version === undefined) this.stmt.metaSet.run("schema", SCHEMA_VERSION);
    else if (version !== SCHEMA_VERSION) {
      this.db.close();
      throw new GantryError(
        "INVALID_SPEC",
        `store ${path} has schema version ${version}, this Gantry reads ${SCHEMA_VERSION}`,
        {
          path,
        },
      );
    }
    // Whatever is in the file now was synced (above, or by SQLite's checkpoint at close).
    this.durable = this.revisionNow();
    this.lastDispatched = this.durable;
  }

  private revisionNow(): number {
    return this.stmt.sequence.get()?.seq ?? 0;
  }

  private compactedRevision(): number {
    return this.stmt.metaGet.get("compact")?.value ?? 0;
  }

  private open(): void {
    if (this.closed) throw new GantryError("INTERNAL", `store ${this.path} is closed`);
  }

  /** Runs a SQLite step, turning SQLite's errors into GantryErrors that name the store. */
  private sql<T>(op: string, step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (err instanceof GantryError) throw err;
      const code = (err as { code?: string }).code ?? "";
      const message = `${op} in store ${this.path}: ${(err as Error).message}`;
      if (code.startsWith("SQLITE_BUSY")) {
        throw new GantryError("TIMEOUT", message, {
          path: this.path,
          hint: "another process holds the store's write lock",
          cause: err,
        });
      }
      throw new GantryError("INTERNAL", message, { path: this.path, cause: err });
    }
  }

  private live(key: string): LogRow | undefined {
    const row = this.stmt.latest.get(key);
    return row && row.deleted === 0 ? row : undefined;
  }

  /**
   * Queues one write; it commits with every other write queued in the same turn of the event
   * loop (up to its check phase), in one transaction (group commit). Each write still gets its
   * own revision, sees the writes queued before it, and fails alone when its check fails. The
   * promise settles, either way, only once an fsync of the WAL covers the commit.
   */
  private append(key: string, build: BuildRow): Promise<LogRow> {
    checkKey(key);
    this.open();
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending.push({ key, build, resolve, reject });
      // setImmediate, not a microtask: the commit waits for every request whose bytes arrived
      // in this turn of the event loop (each is its own I/O callback), so all of them share it.
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.failed) {
      for (const w of batch) w.reject(this.failed);
      return;
    }
    const outcomes: (LogRow | GantryError)[] = [];
    try {
      // IMMEDIATE takes the write lock before the reads, so each check and its insert are
      // atomic across processes too.
      this.sql(`write ${batch.length === 1 ? batch[0]!.key : `${batch.length} keys`}`, () =>
        this.db
          .transaction(() => {
            // The write lock is held: no other process adds rows until COMMIT.
            let revision = this.revisionNow();
            for (const w of batch) {
              try {
                const row = { revision: revision + 1, key: w.key, ...w.build(this.live(w.key), revision + 1) };
                this.stmt.insert.run(row);
                revision++;
                outcomes.push(row);
              } catch (err) {
                if (!(err instanceof GantryError)) throw err; // rolls back the whole batch
                outcomes.push(err);
              }
            }
          })
          .immediate(),
      );
    } catch (err) {
      // Rolled back: nothing of the batch is in the WAL.
      for (const w of batch) w.reject(err);
      return;
    }
    const rows = outcomes.filter((o) => !(o instanceof GantryError)).length;
    this.afterSync(rows, (failure) =>
      batch.forEach((w, i) => {
        const outcome = failure ?? outcomes[i]!;
        if (outcome instanceof GantryError) w.reject(outcome);
        else w.resolve(outcome);
      }),
    );
  }

  /** Calls done once an fsync of the WAL that begins after this call has completed. */
  private afterSync(rows: number, done: SyncWaiter["done"]): void {
    const failed = this.failed;
    if (failed) {
      queueMicrotask(() => done(failed));
      return;
    }
    this.ownUnsynced += rows;
    this.nextSync.push({ rows, done });
    if (!this.syncing) this.startSync();
  }

  /** Resolves once everything committed before the call is durable (and readable). */
  private synced(): Promise<void> {
    return new Promise((resolve, reject) => this.afterSync(0, (err) => (err ? reject(err) : resolve())));
  }

  private startSync(): void {
    const waiters = this.nextSync;
    this.nextSync = [];
    this.syncing = waiters;
    let target: number;
    try {
      // Every commit up to this revision is in the WAL before the fsync begins.
      target = this.sql("read the revision", () => this.revisionNow());
    } catch (err) {
      // Which revisions an fsync would cover is unknown: as good as a failed fsync.
      queueMicrotask(() => this.finishSync(waiters, 0, err as GantryError));
      return;
    }
    this.syncWal().then(
      () => this.finishSync(waiters, target, undefined),
      (err: unknown) => this.finishSync(waiters, target, this.fsyncError(err)),
    );
  }

  private finishSync(waiters: SyncWaiter[], target: number, err: GantryError | undefined): void {
    this.syncing = undefined;
    for (const w of waiters) this.ownUnsynced -= w.rows;
    if (err) this.failed ??= err;
    else this.durable = Math.max(this.durable, target);
    for (const w of waiters) w.done(err);
    if (this.failed) {
      // Committed after the fsync began but never to be covered by one: fail them too.
      const later = this.nextSync;
      this.nextSync = [];
      for (const w of later) {
        this.ownUnsynced -= w.rows;
        w.done(this.failed);
      }
      return;
    }
    if (!this.closed) {
      try {
        this.pump();
      } catch {
        // The poll timer fans the rows out on its next tick.
      }
    }
    if (this.nextSync.length > 0) this.startSync();
  }

  /** fsync of the WAL; the first one opens it (it exists once anything was committed) and syncs its directory entry. */
  private async syncWal(): Promise<void> {
    if (this.db.memory) return;
    if (this.walFd === undefined) {
      // A plain fd, not a FileHandle: a FileHandle closes its fd when garbage collected.
      let fd: number;
      try {
        fd = await openAsync(this.walPath, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // nothing committed yet
        throw err;
      }
      this.walFd = fd;
      await this.fsyncAsync(fd);
      const dir = await openAsync(dirname(this.walPath), "r");
      try {
        await this.fsyncAsync(dir);
      } finally {
        await closeAsync(dir);
      }
      return;
    }
    await this.fsyncAsync(this.walFd);
  }

  private fsyncAsync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => this.fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  private syncDirectorySync(): void {
    const dir = openSync(dirname(this.walPath), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  private fsyncError(err: unknown): GantryError {
    const errno = (err as NodeJS.ErrnoException).code;
    return new GantryError(
      "SYSCALL_FAILED",
      `fsync of ${this.walPath} failed: ${(err as Error).message}; writes waiting for it were not made durable and the store takes no more writes`,
      {
        path: this.walPath,
        step: "fsync",
        ...(errno ? { errno } : {}),
        hint: "check the disk (dmesg), then restart the server to reopen the store",
        cause: err,
      },
    );
  }

  /**
   * The revision reads are answered at: `durable`, after an fsync when rows another process
   * committed lie above it (they may be acknowledged already; see the header).
   */
  private async readRevision(): Promise<number> {
    this.open();
    const now = this.sql("read the revision", () => this.revisionNow());
    // After a failed fsync no fsync is trusted: reads stay at what was synced before it.
    if (now > this.durable + this.ownUnsynced && !this.failed) await this.synced();
    return this.durable;
  }

  async currentRevision(): Promise<number> {
    return this.readRevision();
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const rev = await this.readRevision();
    const row = this.sql(`get ${key}`, () => this.stmt.latestAt.get(key, rev));
    return row && row.deleted === 0 ? toObject(row) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0)
      throw invalidArgument(`list limit must be a non-negative integer, got ${limit}`);
    const durable = await this.readRevision();
    // One read transaction: the compaction check and the rows come from the same snapshot.
    const read = () =>
      this.db.transaction((): ListResult => {
        const rev = opts.atRevision ?? durable;
        this.checkReadable(rev, durable);
        const q = pick(this.stmt.list, rangeOf(prefix, opts.startAfterKey), {
          rev,
          limit: limit > 0 ? limit + 1 : -1,
        });
        const rows = q.stmt.all(q.params);
        const more = limit > 0 && rows.length > limit;
        return { items: (more ? rows.slice(0, limit) : rows).map(toObject), revision: rev, more };
      })();
    return this.sql(`list ${prefix}`, read);
  }

  private checkReadable(rev: number, current: number): void {
    if (!Number.isInteger(rev) || rev < 0)
      throw invalidArgument(`revision must be a non-negative integer, got ${rev}`);
    if (rev > current) throw invalidArgument(`revision ${rev} is in the future (the store is at ${current})`);
    const compacted = this.compactedRevision();
    if (rev < compacted) {
      throw new GantryError("GONE", `revision ${rev} has been compacted (oldest readable is ${compacted})`, {
        hint: "list again without a revision",
      });
    }
  }

  async create(key: string, value: string): Promise<StoredObject> {
    checkValue(key, value);
    const row = await this.append(key, (current, revision) => {
      if (current) throw new GantryError("ALREADY_EXISTS", `key ${key} already exists`, { path: key });
      return { deleted: 0, create_revision: revision, prev_revision: 0, value };
    });
    return toObject(row);
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<StoredObject> {
    checkValue(key, value);
    const row = await this.append(key, (current) => {
      const found = this.expect(key, current, expectedModRevision);
      return { deleted: 0, create_revision: found.create_revision, prev_revision: found.revision, value };
    });
    return toObject(row);
  }

  async delete(key: string, expectedModRevision?: number): Promise<StoredObject> {
    const row = await this.append(key, (current) => {
      const found = this.expect(key, current, expectedModRevision);
      return {
        deleted: 1,
        create_revision: found.create_revision,
        prev_revision: found.revision,
        value: found.value,
      };
    });
    return toObject(row);
  }

  private expect(key: string, current: LogRow | undefined, expectedModRevision: number | undefined): LogRow {
    if (!current) throw notFound(`key ${key} does not exist`, { path: key });
    if (expectedModRevision !== undefined && current.revision !== expectedModRevision) {
      throw conflict(`key ${key} is at revision ${current.revision}, not ${expectedModRevision}`, {
        path: key,
      });
    }
    return current;
  }

  async count(prefix: string): Promise<number> {
    const rev = await this.readRevision();
    const q = pick(this.stmt.count, rangeOf(prefix), { rev });
    return this.sql(`count ${prefix}`, () => q.stmt.get(q.params)?.n ?? 0);
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: GantryError) => void,
  ): WatchHandle {
    const delivery = new WatchDelivery(onEvent, onError);
    const handle = { cancel: () => this.unwatch(w) };
    const w: SqliteWatcher = { prefix, after: fromRevision, delivery };
    try {
      this.open();
      if (!Number.isInteger(fromRevision) || fromRevision < 0) {
        throw invalidArgument(`watch revision must be a non-negative integer, got ${fromRevision}`);
      }
      this.db.transaction(() => {
        // Watching from F needs the rows after F; compaction at C keeps rows from C on.
        const compacted = this.compactedRevision();
        if (fromRevision + 1 < compacted) {
          throw new GantryError(
            "GONE",
            `revision ${fromRevision} has been compacted (watch from ${compacted - 1} or later)`,
            {
              hint: "list again and watch from the list's revision",
            },
          );
        }
        // Bring existing watchers up to date, then replay this watcher's history up to the
        // same point; from here on the pump feeds it. One snapshot, nothing falls in between.
        this.pumpInSnapshot();
        const q = pick(this.stmt.historyInRange, rangeOf(prefix), {
          from: fromRevision,
          to: this.lastDispatched,
        });
        for (const row of q.stmt.all(q.params)) {
          delivery.push(this.eventOf(row));
        }
        this.watchers.add(w);
      })();
      this.startPolling();
    } catch (err) {
      delivery.fail(
        err instanceof GantryError ? err : new GantryError("INTERNAL", String(err), { cause: err }),
      );
    }
    return handle;
  }

  private unwatch(w: SqliteWatcher): void {
    w.delivery.cancelled = true;
    this.watchers.delete(w);
    if (this.watchers.size === 0) this.stopPolling();
  }

  private eventOf(row: LogRow): WatchEvent {
    const prevRow = row.prev_revision ? this.stmt.atRevision.get(row.prev_revision) : undefined;
    const prev = prevRow && toObject(prevRow);
    const object = toObject(row);
    return row.deleted ? { type: "DELETE", object, prev } : { type: "PUT", object, prev };
  }

  /**
   * Fans out every row after lastDispatched to the watchers whose range holds its key. One
   * read transaction, so the compaction check and the rows come from the same snapshot.
   */
  private pump(): void {
    this.db.transaction(() => this.pumpInSnapshot())();
  }

  private pumpInSnapshot(): void {
    if (this.watchers.size === 0) {
      this.lastDispatched = this.durable;
      return;
    }
    // Another process may have compacted rows this pump never read: those watchers missed
    // events and must relist.
    if (this.compactedRevision() > this.lastDispatched + 1) {
      for (const w of this.watchers) {
        w.delivery.fail(
          new GantryError("GONE", `watch fell behind compaction at revision ${this.compactedRevision()}`),
        );
      }
      this.watchers.clear();
      this.stopPolling();
      this.lastDispatched = this.durable;
      return;
    }
    for (;;) {
      const rows = this.stmt.rowsAfter.all(this.lastDispatched, this.durable, PUMP_BATCH);
      for (const row of rows) {
        let event: WatchEvent | undefined;
        for (const w of this.watchers) {
          if (row.revision <= w.after || !row.key.startsWith(w.prefix)) continue;
          event ??= this.eventOf(row);
          w.delivery.push(event);
        }
        this.lastDispatched = row.revision;
      }
      if (rows.length < PUMP_BATCH) return;
    }
  }

  private startPolling(): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => {
      try {
        this.pump();
        // Rows above durable that are not this store's: another process's, fanned out after
        // an fsync of ours covers them (the next pump after it runs as it completes).
        if (!this.syncing && this.nextSync.length === 0 && this.revisionNow() > this.durable) this.afterSync(0, () => {});
      } catch {
        // A busy or briefly unreadable database: the next tick retries from lastDispatched.
      }
    }, POLL_INTERVAL_MS);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  async compact(beforeRevision: number): Promise<void> {
    const current = await this.readRevision();
    this.sql(`compact at ${beforeRevision}`, () =>
      this.db
        .transaction(() => {
          if (!Number.isInteger(beforeRevision) || beforeRevision < 0 || beforeRevision > current) {
            throw invalidArgument(
              `cannot compact at revision ${beforeRevision} (the store is at ${current})`,
            );
          }
          if (beforeRevision <= this.compactedRevision()) return;
          this.stmt.compactSuperseded.run({ c: beforeRevision });
          this.stmt.metaSet.run("compact", beforeRevision);
        })
        .immediate(),
    );
    await this.synced();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true; // no new reads or writes
    this.stopPolling();
    this.commitPending(); // writes already queued are committed, not dropped
    // Their acknowledgements (or the fsync's error) come with the fsync in flight or the next.
    await this.synced().catch(() => {});
    for (const w of this.watchers) w.delivery.cancelled = true;
    this.watchers.clear();
    // The last connection's close checkpoints the WAL into the database (syncing both) and
    // deletes it.
    this.db.close();
    if (this.walFd !== undefined) closeSync(this.walFd);
  }
}

export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<Store> {
  try {
    return new SqliteStore(path, options);
  } catch (err) {
    if (err instanceof GantryError) throw err;
    throw new GantryError("INVALID_ARGUMENT", `cannot open the store at ${path}: ${(err as Error).message}`, {
      path,
      hint: "check that the directory exists and is writable",
      cause: err,
    });
  }
}
