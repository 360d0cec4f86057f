import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../../src/cluster/store/index.ts";
import { openEtcdStore } from "../../src/cluster/store/etcd.ts";
import { storeContract, record } from "./_contract.ts";
import { TestEtcd, etcdSkipReason } from "./_etcd.ts";

describe("etcd store", { skip: etcdSkipReason() }, () => {
  let etcd: TestEtcd | undefined;
  let n = 0;
  before(async () => {
    etcd = await TestEtcd.start();
  });
  after(async () => {
    await etcd?.stop();
  });

  // Each test gets its own key namespace on the one etcd.
  storeContract(() =>
    openStore({ kind: "etcd", endpoints: [etcd!.endpoint], prefix: `/gantry-test-${process.pid}-${++n}` }),
  );

  it("serves a watch from the shared ring while it holds the start revision, from etcd once it does not", async () => {
    const store = await openEtcdStore([etcd!.endpoint], "/ring", { watchRingEvents: 4 });
    try {
      const first = record(store, "/registry/", await store.currentRevision()); // starts the shared watch
      const revs: number[] = [];
      for (let i = 0; i < 20; i++) revs.push((await store.create(`/registry/r${i}`, "{}")).modRevision);
      await first.until(() => first.events.length === 20, "20 events on the first watch");
      // The ring now holds only the last few events: revs[2] is long gone from it, revs[17] is not.
      const old = record(store, "/registry/", revs[2]!);
      const recent = record(store, "/registry/", revs[17]!);
      await old.until(() => old.events.length === 17, "17 events replayed by etcd");
      await recent.until(() => recent.events.length === 2, "2 events replayed from the ring");
      revs.push((await store.create("/registry/live", "{}")).modRevision);
      await old.until(() => old.events.length === 18, "the live event on the old watch");
      await recent.until(() => recent.events.length === 3, "the live event on the recent watch");
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        old.events.map((e) => e.object.modRevision),
        revs.slice(3),
      );
      assert.deepEqual(
        recent.events.map((e) => e.object.modRevision),
        revs.slice(18),
      );
      for (const w of [first, old, recent]) w.cancel();
    } finally {
      await store.close();
    }
  });

  it("works without a key namespace, over the whole key space", async () => {
    const store = await openStore({ kind: "etcd", endpoints: [etcd!.endpoint] });
    try {
      const before = await store.count("");
      const o = await store.create("/registry/whole/a", "{}");
      assert.equal(await store.currentRevision(), o.modRevision);
      assert.equal(await store.count(""), before + 1);
      assert.ok((await store.list("")).items.some((x) => x.key === "/registry/whole/a"));
    } finally {
      await store.close();
    }
  });

  it("lists more objects than fit in one gRPC message", async () => {
    const store = await openStore({ kind: "etcd", endpoints: [etcd!.endpoint], prefix: "/big" });
    try {
      const value = JSON.stringify({ pad: "x".repeat(16 * 1024) });
      for (let i = 0; i < 600; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            store.create(`/registry/big/${String(i + j).padStart(4, "0")}`, value),
          ),
        );
      }
      const all = await store.list("/registry/big/"); // about 10 MB, over gRPC's 4 MiB message limit: many range requests at one revision
      assert.equal(all.items.length, 600);
      assert.equal(all.items[599]!.key, "/registry/big/0599");
      const page = await store.list("/registry/big/", { limit: 450, startAfterKey: "/registry/big/0099" });
      assert.equal(page.items.length, 450);
      assert.equal(page.items[0]!.key, "/registry/big/0100");
      assert.equal(page.more, true);
      assert.equal(
        (await store.list("/registry/big/", { limit: 500, startAfterKey: "/registry/big/0099" })).more,
        false,
      );
    } finally {
      await store.close();
    }
  });
});
