import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { GantryError } from "../../src/common/errors.ts";
import { openStore } from "../../src/cluster/store/index.ts";
import { storeContract, record } from "./_contract.ts";

describe("SQLite store", () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-store-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  storeContract(() => openStore({ kind: "sqlite", path: join(dir, `store-${++n}.db`) }));

  // The API server's unit tests run on this: the same code, with the database in memory.
  describe("in memory (\":memory:\")", () => storeContract(() => openStore({ kind: "sqlite", path: ":memory:" })));

  it("feeds a watcher from writes made by another connection to the same file", async () => {
    const path = join(dir, "shared.db");
    const reader = await openStore({ kind: "sqlite", path });
    const writer = await openStore({ kind: "sqlite", path });
    try {
      const w = record(reader, "/registry/", await reader.currentRevision());
      for (let i = 0; i < 5; i++) await writer.create(`/registry/x${i}`, "{}");
      await w.until(() => w.events.length === 5, "5 events polled from the file");
      assert.deepEqual(
        w.events.map((e) => e.object.key),
        ["/registry/x0", "/registry/x1", "/registry/x2", "/registry/x3", "/registry/x4"],
      );
      w.cancel();
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it("tells a watcher GONE when another connection compacts history it has not read", async () => {
    const path = join(dir, "compacted-under-watch.db");
    const reader = await openStore({ kind: "sqlite", path });
    const writer = await openStore({ kind: "sqlite", path });
    try {
      const w = record(reader, "/registry/", await reader.currentRevision());
      // These awaits chain as microtasks, so the reader's poll timer cannot run in between.
      let o = await writer.create("/registry/k", '{"n":0}');
      for (let n = 1; n <= 5; n++) o = await writer.update("/registry/k", `{"n":${n}}`);
      await writer.compact(o.modRevision);
      await w.until(() => w.errors.length === 1, "GONE");
      assert.equal(w.errors[0]!.code, "GONE");
      assert.deepEqual(w.events, []);
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it("commits writes queued together in call order, each with its own revision, failing alone", async () => {
    const store = await openStore({ kind: "sqlite", path: join(dir, "group.db") });
    try {
      const r0 = await store.currentRevision();
      const results = await Promise.allSettled([
        store.create("/registry/g/k", '{"v":1}'),
        store.create("/registry/g/k", '{"v":"dup"}'),
        store.update("/registry/g/k", '{"v":2}', r0 + 1),
        store.update("/registry/g/k", '{"v":"stale"}', r0 + 1),
        store.delete("/registry/g/k"),
        store.create("/registry/g/k", '{"v":3}'),
      ]);
      const codes = results.map((r) =>
        r.status === "fulfilled" ? r.value.modRevision - r0 : (r.reason as GantryError).code,
      );
      assert.deepEqual(codes, [1, "ALREADY_EXISTS", 2, "CONFLICT", 3, 4]);
      const last = (await store.get("/registry/g/k"))!;
      assert.deepEqual([last.value, last.createRevision, last.modRevision], ['{"v":3}', r0 + 4, r0 + 4]);
      // Closing right after queueing commits the queued writes rather than dropping them.
      const queued = store.create("/registry/g/queued", "{}");
      await store.close();
      assert.equal((await queued).modRevision, r0 + 5);
    } finally {
      await store.close();
    }
    const reopened = await openStore({ kind: "sqlite", path: join(dir, "group.db") });
    try {
      assert.ok(await reopened.get("/registry/g/queued"));
    } finally {
      await reopened.close();
    }
  });

  it("names the path when the store cannot be opened", async () => {
    await assert.rejects(
      openStore({ kind: "sqlite", path: join(dir, "no-such-dir", "x.db") }),
      (err: unknown) => {
        assert.ok(err instanceof GantryError);
        assert.equal(err.code, "INVALID_ARGUMENT");
        assert.match(err.message, /no-such-dir/);
        return true;
      },
    );
  });

  it("refuses a database written by a newer schema", async () => {
    const path = join(dir, "future.db");
    const db = new Database(path);
    db.exec(
      "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO meta VALUES ('schema', 99)",
    );
    db.close();
    await assert.rejects(openStore({ kind: "sqlite", path }), /schema version 99/);
  });
});
