// The SQLite store acknowledges writes after an fsync of its WAL that runs off the event loop
// (src/cluster/store/sqlite.ts's header). These tests hold that fsync (an injected one that
// waits for the test to release it, then runs the real fsync) to see what is and is not
// visible meanwhile, and make it fail. Crash safety (kill -9 after acknowledged writes) is
// durability.test.ts.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { fsync, mkdtempSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryError } from "../../src/common/errors.ts";
import { openSqliteStore, type FsyncFn } from "../../src/cluster/store/sqlite.ts";
import { record } from "./_contract.ts";

/** Lets the event loop run a few turns (commits happen in setImmediate). */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A promise's state without awaiting it. */
function track<T>(p: Promise<T>) {
  const t: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (v) => Object.assign(t, { settled: true, value: v }),
    (e: unknown) => Object.assign(t, { settled: true, error: e }),
  );
  return t;
}

/**
 * An fsync that holds every call on the WAL until released (then runs the real one); other
 * fds pass. passAll() releases what is held and lets later calls through (before close()).
 */
function heldFsync() {
  const held: { fd: number; release: (err?: NodeJS.ErrnoException) => void }[] = [];
  const others: string[] = [];
  let passing = false;
  const fn: FsyncFn = (fd, done) => {
    const target = readlinkSync(`/proc/self/fd/${fd}`);
    if (passing || !target.endsWith("-wal")) {
      others.push(target);
      fsync(fd, done);
      return;
    }
    let released = false;
    held.push({
      fd,
      release: (err) => {
        if (released) return;
        released = true;
        if (err) done(err);
        else fsync(fd, done);
      },
    });
  };
  const passAll = () => {
    passing = true;
    for (const h of held) h.release();
  };
  return { fn, held, others, passAll };
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

describe("SQLite store: acknowledgement after the WAL's fsync", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-fsync-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("acknowledges, shows and fans out a write only once an fsync begun after its commit completes", async () => {
    const path = join(dir, "held.db");
    const sync = heldFsync();
    const store = await openSqliteStore(path, { fsync: sync.fn });
    try {
      const r0 = await store.currentRevision();
      const w = record(store, "/registry/", r0);
      const a = track(store.create("/registry/a", '{"n":1}'));
      await until(() => sync.held.length === 1, "the first fsync");
      // The fsync runs on the WAL file itself, and the directory holding it was synced once.
      assert.equal(readlinkSync(`/proc/self/fd/${sync.held[0]!.fd}`), realpathSync(path + "-wal"));
      await turns();
      assert.equal(a.settled, false, "acknowledged before its fsync completed");
      assert.equal(w.events.length, 0, "a watcher saw an unsynced write");
      assert.equal(await store.get("/registry/a"), undefined, "a read saw an unsynced write");
      assert.equal((await store.list("/registry/")).items.length, 0);
      assert.equal(await store.currentRevision(), r0);

      // A write committed while that fsync runs waits for the next one: one fsync at a time.
      const b = track(store.create("/registry/b", '{"n":2}'));
      await turns();
      assert.equal(sync.held.length, 1, "a second fsync began while one was in flight");
      sync.held[0]!.release();
      await until(() => a.settled, "a's acknowledgement");
      assert.equal((a.value as { modRevision: number }).modRevision, r0 + 1);
      assert.equal(b.settled, false, "b was acknowledged by an fsync that began before it committed");
      assert.equal((await store.get("/registry/a"))?.value, '{"n":1}');
      assert.equal(await store.get("/registry/b"), undefined);
      await w.until(() => w.events.length === 1, "a's event");
      await until(() => sync.held.length === 2, "the second fsync");
      sync.held[1]!.release();
      await until(() => b.settled, "b's acknowledgement");
      assert.equal((b.value as { modRevision: number }).modRevision, r0 + 2);
      await w.until(() => w.events.length === 2, "b's event");
      assert.deepEqual(
        w.events.map((e) => [e.object.key, e.object.modRevision]),
        [
          ["/registry/a", r0 + 1],
          ["/registry/b", r0 + 2],
        ],
      );
      assert.deepEqual(sync.others, [realpathSync(dir)]);
      w.cancel();
    } finally {
      sync.passAll();
      await store.close();
    }
  });

  it("answers a refused write (ALREADY_EXISTS, CONFLICT) only after the write it lost to is durable", async () => {
    const sync = heldFsync();
    const store = await openSqliteStore(join(dir, "refusal.db"), { fsync: sync.fn });
    try {
      const first = track(store.create("/registry/k", '{"v":1}'));
      await until(() => sync.held.length === 1, "the first fsync");
      const dup = track(store.create("/registry/k", '{"v":"dup"}'));
      await turns();
      assert.equal(dup.settled, false, "refused on the strength of an unsynced write");
      sync.held[0]!.release();
      await until(() => sync.held.length === 2, "the second fsync");
      assert.equal(dup.settled, false);
      sync.held[1]!.release();
      await until(() => dup.settled, "the refusal");
      assert.equal((dup.error as GantryError).code, "ALREADY_EXISTS");
      assert.ok(first.settled);
      assert.equal((await store.get("/registry/k"))?.value, '{"v":1}');
    } finally {
      sync.passAll();
      await store.close();
    }
  });

  it("fails the writes waiting for a failed fsync and every later one, acknowledging none", async () => {
    const sync = heldFsync();
    const store = await openSqliteStore(join(dir, "eio.db"), { fsync: sync.fn });
    try {
      const w = record(store, "/registry/", await store.currentRevision());
      const a = track(store.create("/registry/a", "{}"));
      await until(() => sync.held.length === 1, "the first fsync");
      const b = track(store.create("/registry/b", "{}")); // committed while the failing fsync runs
      await turns();
      sync.held[0]!.release(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
      await until(() => a.settled && b.settled, "both writes to fail");
      for (const t of [a, b]) {
        assert.ok(t.error instanceof GantryError, String(t.error));
        assert.equal(t.error.code, "SYSCALL_FAILED");
        assert.equal(t.error.details.errno, "EIO");
        assert.match(t.error.message, /fsync of .*eio\.db-wal failed/);
      }
      await assert.rejects(store.create("/registry/c", "{}"), { code: "SYSCALL_FAILED" });
      assert.equal(sync.held.length, 1, "fsynced again after a failed fsync");
      // Reads go on at what was synced: neither write shows, no event went out.
      assert.equal(await store.get("/registry/a"), undefined);
      assert.equal(await store.get("/registry/b"), undefined);
      await turns();
      assert.equal(w.events.length, 0);
      w.cancel();
    } finally {
      sync.passAll();
      await store.close();
    }
  });

  it("gives concurrent writes one revision each, in call order, acknowledged and watched in order", async () => {
    let walSyncs = 0;
    const counting: FsyncFn = (fd, done) => {
      if (readlinkSync(`/proc/self/fd/${fd}`).endsWith("-wal")) walSyncs++;
      fsync(fd, done);
    };
    const store = await openSqliteStore(join(dir, "many.db"), { fsync: counting });
    try {
      const r0 = await store.currentRevision();
      const w = record(store, "/registry/", r0);
      const acked: number[] = [];
      const all: Promise<unknown>[] = [];
      const GROUPS = 4;
      const PER_GROUP = 100;
      for (let g = 0; g < GROUPS; g++) {
        for (let i = 0; i < PER_GROUP; i++) {
          const n = g * PER_GROUP + i;
          all.push(store.create(`/registry/m/${String(n).padStart(4, "0")}`, `{"n":${n}}`).then((o) => acked.push(o.modRevision)));
        }
        await new Promise((r) => setImmediate(r)); // the next hundred are another group
      }
      await Promise.all(all);
      const expected = Array.from({ length: GROUPS * PER_GROUP }, (_, i) => r0 + 1 + i);
      assert.deepEqual(acked, expected);
      await w.until(() => w.events.length === expected.length, "every event");
      assert.deepEqual(
        w.events.map((e) => e.object.modRevision),
        expected,
      );
      assert.ok(walSyncs >= 1 && walSyncs <= GROUPS, `${walSyncs} fsyncs for ${GROUPS} groups`);
      w.cancel();
    } finally {
      await store.close();
    }
  });

  it("shows a read the rows another connection committed and acknowledged", async () => {
    const path = join(dir, "two.db");
    const reader = await openSqliteStore(path);
    const writer = await openSqliteStore(path);
    try {
      await reader.currentRevision();
      for (let i = 0; i < 3; i++) {
        const o = await writer.create(`/registry/x${i}`, `{"i":${i}}`);
        // At once, without the reader's poll: its read must not be older than this acknowledgement.
        assert.equal((await reader.get(`/registry/x${i}`))?.modRevision, o.modRevision);
        assert.equal(await reader.currentRevision(), o.modRevision);
      }
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it("close waits for the fsync in flight and acknowledges what was queued", async () => {
    const path = join(dir, "close.db");
    const sync = heldFsync();
    const store = await openSqliteStore(path, { fsync: sync.fn });
    const a = track(store.create("/registry/a", "{}"));
    await until(() => sync.held.length === 1, "the first fsync");
    const b = track(store.create("/registry/b", "{}"));
    const closed = track(store.close());
    await turns();
    assert.equal(closed.settled, false, "closed with an fsync in flight");
    await assert.rejects(store.get("/registry/a"), /is closed/);
    sync.held[0]!.release();
    await until(() => sync.held.length === 2, "the fsync covering b");
    sync.held[1]!.release();
    await until(() => closed.settled, "close");
    assert.ok(a.value && b.value, `a ${String(a.error)}, b ${String(b.error)}`);
    const reopened = await openSqliteStore(path);
    try {
      assert.ok(await reopened.get("/registry/a"));
      assert.ok(await reopened.get("/registry/b"));
    } finally {
      await reopened.close();
    }
  });
});
