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
// them out. A write made through this Store pumps right after its transaction commits, so
// local watchers hear of it at once; a timer pumps too, for writes by other processes that
// share the file.
//
// Durability: WAL journal with synchronous=FULL, so every commit fsyncs the WAL before the
// write is acknowledged. synchronous=NORMAL with WAL would also survive kill -9 (the WAL is in
// the page cache) but may lose the last commits on power loss or a kernel crash, and the API
// server tells clients a write happened once this returns. To keep that affordable, writes
// queued in the same turn of the event loop share one transaction and one fsync (group
// commit, as etcd batches its raft log), each still with its own revision.
import Database from "better-sqlite3";
import { GantryError, invalidArgument, notFound, conflict } from "../../common/errors.ts";
import { checkKey, checkValue, prefixEndString } from "./_keys.ts";
import { WatchDelivery } from "./_delivery.ts";
import type { ListOptions, ListResult, Store, StoredObject, WatchEvent, WatchHandle } from "./types.ts";

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

type BuildRow = (current: LogRow | undefined) => Omit<LogRow, "revision" | "key">;

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

  constructor(private readonly path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
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
        ) => `SELECT COUNT(*) AS n FROM (SELECT MAX(revision) AS revision FROM log WHERE ${where} GROUP BY key) m
         JOIN log l ON l.revision = m.revision WHERE l.deleted = 0`,
      ),
      rowsAfter: db.prepare<[number, number], LogRow>(
        `SELECT * FROM log WHERE revision > ? ORDER BY revision LIMIT ?`,
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
    this.lastDispatched = this.revisionNow();
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
    this.open();
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
   * loop (up to its check phase), in one transaction and one fsync (group commit). Each write still gets its own
   * revision, sees the writes queued before it, and fails alone when its check fails. The
   * promise settles only after the commit is durable.
   */
  private append(key: string, build: BuildRow): Promise<LogRow> {
    checkKey(key);
    this.open();
    return new Promise((resolve, reject) => {
      this.pending.push({ key, build, resolve, reject });
      // setImmediate, not a microtask: the commit waits for every request whose bytes arrived
      // in this turn of the event loop (each is its own I/O callback), so all of them share
      // it. While one commit's fsync blocks the loop, the next batch gathers in the kernel.
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const outcomes: (LogRow | GantryError)[] = [];
    try {
      // IMMEDIATE takes the write lock before the reads, so each check and its insert are
      // atomic across processes too.
      this.sql(`write ${batch.length === 1 ? batch[0]!.key : `${batch.length} keys`}`, () =>
        this.db
          .transaction(() => {
            for (const w of batch) {
              try {
                const row = { revision: this.revisionNow() + 1, key: w.key, ...w.build(this.live(w.key)) };
                this.stmt.insert.run(row);
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
      for (const w of batch) w.reject(err);
      return;
    }
    try {
      this.pump();
    } catch {
      // Committed all the same; the poll timer fans the rows out on its next tick.
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof GantryError) w.reject(outcome);
      else w.resolve(outcome);
    });
  }

  async currentRevision(): Promise<number> {
    return this.sql("read the revision", () => this.revisionNow());
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const row = this.sql(`get ${key}`, () => this.live(key));
    return row && toObject(row);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0)
      throw invalidArgument(`list limit must be a non-negative integer, got ${limit}`);
    // One read transaction: the revision and the rows come from the same snapshot.
    const read = () =>
      this.db.transaction((): ListResult => {
        const current = this.revisionNow();
        const rev = opts.atRevision ?? current;
        this.checkReadable(rev, current);
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
    const row = await this.append(key, (current) => {
      if (current) throw new GantryError("ALREADY_EXISTS", `key ${key} already exists`, { path: key });
      return { deleted: 0, create_revision: this.revisionNow() + 1, prev_revision: 0, value };
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
    const q = pick(this.stmt.count, rangeOf(prefix));
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
      this.lastDispatched = this.revisionNow();
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
      this.lastDispatched = this.revisionNow();
      return;
    }
    for (;;) {
      const rows = this.stmt.rowsAfter.all(this.lastDispatched, PUMP_BATCH);
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
    this.sql(`compact at ${beforeRevision}`, () =>
      this.db
        .transaction(() => {
          const current = this.revisionNow();
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
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commitPending(); // writes already queued are committed, not dropped
    this.closed = true;
    this.stopPolling();
    for (const w of this.watchers) w.delivery.cancelled = true;
    this.watchers.clear();
    this.db.close();
  }
}

export async function openSqliteStore(path: string): Promise<Store> {
  try {
    return new SqliteStore(path);
  } catch (err) {
    if (err instanceof GantryError) throw err;
    throw new GantryError("INVALID_ARGUMENT", `cannot open the store at ${path}: ${(err as Error).message}`, {
      path,
      hint: "check that the directory exists and is writable",
      cause: err,
    });
  }
}
