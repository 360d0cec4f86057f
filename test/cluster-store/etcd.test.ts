import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../../src/cluster/store/types.ts";
import { storeContract } from "./_contract.ts";
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
