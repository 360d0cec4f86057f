// The one behaviour contract every Store backend must meet. A backend's test file calls
// storeContract inside its own describe() with a factory that opens a fresh, empty store
// (a new SQLite file, or a new key namespace on a shared etcd).
import { it, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { GantryError, type ErrorCode } from "../../src/common/errors.ts";
import type { Store, StoredObject, WatchEvent } from "../../src/cluster/store/types.ts";

export type OpenStore = () => Promise<Store>;

export function isCode(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof GantryError, `expected a GantryError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A watch that records what it receives, with a way to wait for a number of events. */
export function record(store: Store, prefix: string, from: number) {
  const events: WatchEvent[] = [];
  const errors: GantryError[] = [];
  const handle = store.watch(
    prefix,
    from,
    (e) => events.push(e),
    (e) => errors.push(e),
  );
  return {
    events,
    errors,
    cancel: () => handle.cancel(),
    async until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) {
          throw new Error(
            `timed out waiting for ${what}; have ${events.length} events, errors: ${errors.map((e) => e.message)}`,
          );
        }
        await sleep(10);
      }
    },
  };
}

const summary = (e: WatchEvent) => `${e.type} ${e.object.key}@${e.object.modRevision}`;

export function storeContract(open: OpenStore): void {
  let store: Store;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  it("creates, reads, updates and deletes with one increasing revision", async () => {
    const value = JSON.stringify({ kind: "Pod", metadata: { name: "nginx" }, note: 'ñ 🚀 "quoted"' });
    const r0 = await store.currentRevision();
    const created = await store.create("/registry/pods/default/nginx", value);
    assert.equal(created.key, "/registry/pods/default/nginx");
    assert.equal(created.value, value);
    assert.ok(created.modRevision > r0);
    assert.equal(created.createRevision, created.modRevision);
    assert.equal(await store.currentRevision(), created.modRevision);
    assert.deepEqual(await store.get("/registry/pods/default/nginx"), created);

    const updated = await store.update("/registry/pods/default/nginx", '{"v":2}', created.modRevision);
    assert.equal(updated.modRevision, created.modRevision + 1);
    assert.equal(updated.createRevision, created.createRevision);
    assert.deepEqual(await store.get("/registry/pods/default/nginx"), updated);

    const unconditional = await store.update("/registry/pods/default/nginx", '{"v":3}');
    assert.equal(unconditional.modRevision, updated.modRevision + 1);

    const deleted = await store.delete("/registry/pods/default/nginx", unconditional.modRevision);
    assert.equal(deleted.value, '{"v":3}');
    assert.equal(deleted.createRevision, created.createRevision);
    assert.equal(deleted.modRevision, unconditional.modRevision + 1);
    assert.equal(await store.get("/registry/pods/default/nginx"), undefined);
    assert.equal(await store.currentRevision(), deleted.modRevision);

    // A key can be created again; it is a new incarnation with a new createRevision.
    const again = await store.create("/registry/pods/default/nginx", '{"v":4}');
    assert.equal(again.createRevision, deleted.modRevision + 1);
  });

  it("refuses a duplicate create, a missing key and a stale revision, and changes nothing", async () => {
    const a = await store.create("/registry/configmaps/ns/a", '{"a":1}');
    const rev = await store.currentRevision();
    await assert.rejects(store.create("/registry/configmaps/ns/a", '{"a":2}'), isCode("ALREADY_EXISTS"));
    await assert.rejects(store.update("/registry/configmaps/ns/missing", "{}"), isCode("NOT_FOUND"));
    await assert.rejects(store.update("/registry/configmaps/ns/missing", "{}", 1), isCode("NOT_FOUND"));
    await assert.rejects(store.delete("/registry/configmaps/ns/missing"), isCode("NOT_FOUND"));
    await assert.rejects(
      store.update("/registry/configmaps/ns/a", "{}", a.modRevision - 1),
      isCode("CONFLICT"),
    );
    await assert.rejects(store.delete("/registry/configmaps/ns/a", a.modRevision + 7), isCode("CONFLICT"));
    await assert.rejects(store.create("", "{}"), isCode("INVALID_ARGUMENT"));
    assert.equal(await store.currentRevision(), rev);
    assert.deepEqual(await store.get("/registry/configmaps/ns/a"), a);
    const deleted = await store.delete("/registry/configmaps/ns/a");
    await assert.rejects(store.update("/registry/configmaps/ns/a", "{}", a.modRevision), isCode("NOT_FOUND"));
    await assert.rejects(store.delete("/registry/configmaps/ns/a"), isCode("NOT_FOUND"));
    assert.equal(await store.currentRevision(), deleted.modRevision);
  });

  it("stores a value up to 1.5 MB and refuses a larger one", async () => {
    const big = JSON.stringify({ data: "b".repeat(1_400_000) });
    const o = await store.create("/registry/secrets/ns/big", big);
    assert.equal((await store.get("/registry/secrets/ns/big"))?.value.length, big.length);
    const huge = JSON.stringify({ data: "h".repeat(1_600_000) });
    await assert.rejects(store.create("/registry/secrets/ns/huge", huge), isCode("INVALID_ARGUMENT"));
    await assert.rejects(store.update("/registry/secrets/ns/big", huge), isCode("INVALID_ARGUMENT"));
    assert.equal(await store.currentRevision(), o.modRevision);
    assert.equal(await store.get("/registry/secrets/ns/huge"), undefined);
  });

  it("lists exactly the keys under a prefix, in key order, and counts them", async () => {
    for (const k of [
      "/registry/pods/b/y",
      "/registry/pods/a/x",
      "/registry/pods/a/z",
      "/registry/podsecurity/p",
      "/registry/pod",
      "/registry/services/a/s",
    ]) {
      await store.create(k, JSON.stringify({ k }));
    }
    await store.delete("/registry/pods/a/z");
    const pods = await store.list("/registry/pods/");
    assert.deepEqual(
      pods.items.map((o) => o.key),
      ["/registry/pods/a/x", "/registry/pods/b/y"],
    );
    assert.equal(pods.more, false);
    assert.equal(pods.revision, await store.currentRevision());
    assert.equal(pods.items[0]!.value, JSON.stringify({ k: "/registry/pods/a/x" }));
    assert.equal(await store.count("/registry/pods/"), 2);
    assert.equal(await store.count("/registry/pods/a/"), 1);
    assert.equal(await store.count("/registry/"), 5);
    assert.equal(await store.count("/registry/nothing/"), 0);
    // The empty prefix is every key in the store.
    assert.equal(await store.count(""), 5);
    const firstTwo = await store.list("", { limit: 2 });
    assert.deepEqual(
      firstTwo.items.map((o) => o.key),
      ["/registry/pod", "/registry/pods/a/x"],
    );
    assert.equal(firstTwo.more, true);
    const rest = await store.list("", { startAfterKey: "/registry/pods/a/x" });
    assert.deepEqual(
      rest.items.map((o) => o.key),
      ["/registry/pods/b/y", "/registry/podsecurity/p", "/registry/services/a/s"],
    );
    assert.deepEqual((await store.list("/registry/nothing/")).items, []);
  });

  it("pages a list with limit and startAfterKey, consistent at the first page's revision", async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `/registry/pods/ns/p${String(i).padStart(2, "0")}`);
    for (const k of keys) await store.create(k, JSON.stringify({ k, v: 1 }));
    await store.create("/registry/pods/other", "{}"); // sorts after ns/, part of a wider prefix only

    const first = await store.list("/registry/pods/ns/", { limit: 10 });
    assert.deepEqual(
      first.items.map((o) => o.key),
      keys.slice(0, 10),
    );
    assert.equal(first.more, true);

    // Writes between pages must not show in later pages read at the first page's revision.
    await store.delete(keys[15]!);
    await store.update(keys[20]!, JSON.stringify({ k: keys[20], v: 2 }));
    await store.create("/registry/pods/ns/p12a", "{}");
    await store.create("/registry/pods/ns/p99", "{}");

    const pages: StoredObject[][] = [first.items];
    let page = first;
    while (page.more) {
      page = await store.list("/registry/pods/ns/", {
        limit: 10,
        startAfterKey: page.items.at(-1)!.key,
        atRevision: first.revision,
      });
      assert.equal(page.revision, first.revision);
      pages.push(page.items);
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [10, 10, 5],
    );
    const all = pages.flat();
    assert.deepEqual(
      all.map((o) => o.key),
      keys,
    );
    assert.equal(all[20]!.value, JSON.stringify({ k: keys[20], v: 1 }));

    // The same list now sees the writes.
    const now = await store.list("/registry/pods/ns/");
    assert.equal(now.items.length, 26);
    assert.ok(!now.items.some((o) => o.key === keys[15]));
    assert.ok(now.revision > first.revision);
    // A limit equal to the number of keys leaves nothing more.
    assert.equal((await store.list("/registry/pods/ns/", { limit: 26 })).more, false);
    // A startAfterKey before the prefix starts at the prefix.
    assert.equal((await store.list("/registry/pods/ns/", { startAfterKey: "/a" })).items.length, 26);
    await assert.rejects(
      store.list("/registry/pods/ns/", { atRevision: now.revision + 1000 }),
      isCode("INVALID_ARGUMENT"),
    );
  });

  it("watch from an old revision delivers exactly the missed events in order, then live ones", async () => {
    const a = await store.create("/registry/pods/w/a", '{"a":1}');
    const b = await store.create("/registry/pods/w/b", '{"b":1}');
    const c = await store.create("/registry/pods/w/c", '{"c":1}');
    await store.create("/registry/services/w/s", "{}"); // outside the watched prefix

    const w = record(store, "/registry/pods/", b.modRevision);
    const a2 = await store.update("/registry/pods/w/a", '{"a":2}', a.modRevision);
    const bDeleted = await store.delete("/registry/pods/w/b");
    await store.update("/registry/services/w/s", '{"s":2}');
    const d = await store.create("/registry/pods/w/d", '{"d":1}');
    await w.until(() => w.events.length >= 4, "4 events");
    await sleep(150); // nothing more may arrive
    w.cancel();
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.events.map(summary), [
      `PUT /registry/pods/w/c@${c.modRevision}`,
      `PUT /registry/pods/w/a@${a2.modRevision}`,
      `DELETE /registry/pods/w/b@${bDeleted.modRevision}`,
      `PUT /registry/pods/w/d@${d.modRevision}`,
    ]);
    const [ec, ea, eb, ed] = w.events;
    assert.deepEqual(ec!.object, c);
    assert.deepEqual(ea!.object, a2);
    assert.equal(ea!.prev?.value, '{"a":1}');
    assert.equal(ea!.prev?.modRevision, a.modRevision);
    assert.deepEqual(eb!.object, bDeleted);
    assert.equal(eb!.object.value, '{"b":1}');
    assert.equal(eb!.prev?.modRevision, b.modRevision);
    assert.deepEqual(ed!.object, d);
    assert.equal(ed!.prev, undefined);
  });

  it("a second watch from a revision the first has already passed replays from there", async () => {
    const r0 = await store.currentRevision();
    const first = record(store, "/registry/nodes/", r0);
    const writes: StoredObject[] = [];
    for (let i = 0; i < 5; i++) writes.push(await store.create(`/registry/nodes/n${i}`, `{"i":${i}}`));
    await first.until(() => first.events.length === 5, "5 events on the first watch");
    const second = record(store, "/registry/nodes/n", writes[1]!.modRevision);
    await second.until(() => second.events.length === 3, "the 3 missed events");
    writes.push(await store.update("/registry/nodes/n0", '{"i":"x"}'));
    await first.until(() => first.events.length === 6, "the live event on the first watch");
    await second.until(() => second.events.length === 4, "the live event on the second watch");
    await sleep(100);
    assert.deepEqual(
      first.events.map((e) => e.object.modRevision),
      writes.map((o) => o.modRevision),
    );
    assert.deepEqual(
      second.events.map((e) => e.object.modRevision),
      writes.slice(2).map((o) => o.modRevision),
    );
    first.cancel();
    second.cancel();
  });

  it("watchers on the same prefix see the same stream, and a cancelled one sees no more", async () => {
    const from = await store.currentRevision();
    const w1 = record(store, "/registry/leases/", from);
    const w2 = record(store, "/registry/leases/", from);
    const w3 = record(store, "/registry/leases/n1", from);
    for (let i = 0; i < 20; i++) await store.create(`/registry/leases/n${i}`, `{"i":${i}}`);
    await w1.until(() => w1.events.length === 20, "20 events on w1");
    await w2.until(() => w2.events.length === 20, "20 events on w2");
    w2.cancel();
    await store.update("/registry/leases/n1", "{}");
    await w1.until(() => w1.events.length === 21, "21 events on w1");
    await w3.until(() => w3.events.length === 12, "n1, n10..n19 and the update on w3");
    await sleep(100);
    assert.equal(w2.events.length, 20);
    assert.deepEqual(w1.events.slice(0, 20).map(summary), w2.events.map(summary));
    w1.cancel();
    w3.cancel();
  });

  it("ends only the watch whose handler throws", async () => {
    const from = await store.currentRevision();
    const errors: GantryError[] = [];
    const h = store.watch(
      "/registry/events/",
      from,
      () => {
        throw new Error("handler bug");
      },
      (e) => errors.push(e),
    );
    const healthy = record(store, "/registry/events/", from);
    await store.create("/registry/events/e1", "{}");
    await store.create("/registry/events/e2", "{}");
    await healthy.until(() => healthy.events.length === 2 && errors.length === 1, "2 events and 1 error");
    assert.equal(errors[0]!.code, "INTERNAL");
    assert.match(errors[0]!.message, /handler bug/);
    h.cancel();
    healthy.cancel();
  });

  it("answers GONE for a watch or list older than the compacted revision", async () => {
    const first = await store.create("/registry/jobs/n/j1", "{}");
    await store.update("/registry/jobs/n/j1", '{"v":2}');
    await store.create("/registry/jobs/n/j2", "{}");
    await store.delete("/registry/jobs/n/j2");
    const last = await store.create("/registry/jobs/n/j3", "{}");
    await store.compact(last.modRevision);
    await store.compact(last.modRevision); // again: nothing to do, not an error

    const gone = record(store, "/registry/jobs/", first.modRevision);
    await gone.until(() => gone.errors.length === 1, "a GONE error");
    assert.equal(gone.errors[0]!.code, "GONE");
    assert.equal(gone.errors[0]!.httpStatus, 410);
    assert.deepEqual(gone.events, []);
    await assert.rejects(store.list("/registry/jobs/", { atRevision: first.modRevision }), isCode("GONE"));
    await assert.rejects(store.compact(last.modRevision + 1000), isCode("INVALID_ARGUMENT"));

    // Current state survives compaction, and a watch from the compacted revision works.
    assert.deepEqual(
      (await store.list("/registry/jobs/")).items.map((o) => [o.key, o.value]),
      [
        ["/registry/jobs/n/j1", '{"v":2}'],
        ["/registry/jobs/n/j3", "{}"],
      ],
    );
    assert.equal((await store.get("/registry/jobs/n/j1"))?.createRevision, first.modRevision);
    assert.equal((await store.list("/registry/jobs/", { atRevision: last.modRevision })).items.length, 2);
    const live = record(store, "/registry/jobs/", last.modRevision);
    const j4 = await store.create("/registry/jobs/n/j4", "{}");
    await live.until(() => live.events.length === 1, "the live event");
    assert.equal(live.events[0]!.object.modRevision, j4.modRevision);
    live.cancel();
  });

  it("serialises concurrent writers: one create wins, optimistic updates lose nothing", async () => {
    const racers = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.create("/registry/race/x", `{"i":${i}}`)),
    );
    assert.equal(racers.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of racers) if (r.status === "rejected") isCode("ALREADY_EXISTS")(r.reason);

    const counter = await store.create("/registry/race/counter", '{"n":0}');
    const w = record(store, "/registry/race/counter", counter.modRevision);
    const increment = async () => {
      for (;;) {
        const cur = (await store.get("/registry/race/counter"))!;
        const n = (JSON.parse(cur.value) as { n: number }).n;
        try {
          return await store.update(cur.key, JSON.stringify({ n: n + 1 }), cur.modRevision);
        } catch (err) {
          if (!(err instanceof GantryError && err.code === "CONFLICT")) throw err;
        }
      }
    };
    const workers = Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 8; i++) await increment();
    });
    const parallelCreates = Array.from({ length: 50 }, (_, i) => store.create(`/registry/race/k${i}`, "{}"));
    const created = await Promise.all([...workers, ...parallelCreates]).then(
      (r) => r.filter((x) => x) as StoredObject[],
    );
    assert.equal(JSON.parse((await store.get("/registry/race/counter"))!.value).n, 64);
    assert.equal(
      new Set(created.map((o) => o.modRevision)).size,
      created.length,
      "every write has its own revision",
    );
    assert.equal(await store.count("/registry/race/k"), 50);
    await w.until(() => w.events.length === 64, "64 counter events");
    assert.deepEqual(
      w.events.map((e) => JSON.parse(e.object.value).n),
      Array.from({ length: 64 }, (_, i) => i + 1),
    );
    w.cancel();
  });
}
