import { test } from "node:test";
import assert from "node:assert/strict";
import { BY_LABEL, BY_NODE_NAME, BY_OWNER_UID, BY_UID, IndexedCache } from "./cache.ts";
import type { KubeObject } from "./objects.ts";

const pod = (name: string, node: string, labels: Record<string, string> = {}, owners: string[] = []): KubeObject => ({
  metadata: { name, namespace: "ns", uid: `uid-${name}`, labels, ownerReferences: owners.map((uid) => ({ apiVersion: "v1", kind: "X", name: uid, uid })) },
  spec: { nodeName: node },
});
const names = (objs: KubeObject[]) => objs.map((o) => o.metadata.name).sort();

test("indexes follow puts, updates and removals, with one object or many under a value", () => {
  const cache = new IndexedCache();
  cache.put(pod("a", "n1", { app: "x" }, ["o"]));
  assert.deepEqual(names(cache.byIndex(BY_NODE_NAME, "n1")), ["a"], "one object");
  cache.put(pod("b", "n1", { app: "x" }, ["o", "o"]));
  cache.put(pod("c", "n2", { app: "y" }));
  assert.deepEqual(names(cache.byIndex(BY_NODE_NAME, "n1")), ["a", "b"], "two objects");
  assert.deepEqual(names(cache.byIndex(BY_OWNER_UID, "o")), ["a", "b"], "an owner named twice counts once");
  assert.deepEqual(names(cache.byIndex(BY_UID, "uid-c")), ["c"]);
  // b moves to n2: n1 is back to one object, n2 has two.
  cache.put(pod("b", "n2", { app: "x" }));
  assert.deepEqual(names(cache.byIndex(BY_NODE_NAME, "n1")), ["a"]);
  assert.deepEqual(names(cache.byIndex(BY_NODE_NAME, "n2")), ["b", "c"]);
  assert.deepEqual(names(cache.byIndex(BY_OWNER_UID, "o")), ["a"]);
  // the same object put again changes nothing
  cache.put(pod("a", "n1", { app: "x" }, ["o"]));
  assert.deepEqual(names(cache.byIndex(BY_LABEL, "app=x")), ["a", "b"]);
  cache.remove("ns/a");
  assert.deepEqual(cache.byIndex(BY_NODE_NAME, "n1"), []);
  assert.deepEqual(cache.byIndex(BY_OWNER_UID, "o"), []);
  assert.deepEqual(names(cache.byIndex(BY_LABEL, "app=x")), ["b"]);
  cache.remove("ns/b");
  cache.remove("ns/c");
  assert.deepEqual(cache.byIndex(BY_LABEL, "app=y"), []);
  assert.equal(cache.size, 0);
  assert.throws(() => cache.byIndex("nope", "v"), /no index named "nope"/);
});
