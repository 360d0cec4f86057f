import { describe, before, after } from "node:test";
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
  storeContract(() => openStore({ kind: "etcd", endpoints: [etcd!.endpoint], prefix: `/gantry-test-${process.pid}-${++n}` }));
});
