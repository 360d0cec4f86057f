import { test } from "node:test";
import assert from "node:assert/strict";
import { clone } from "./objects.ts";

test("clone copies a JSON value deeply: changing the copy leaves the original", () => {
  const original = JSON.parse('{"metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","args":["x"]}]},"n":null,"t":true}');
  const copy = clone(original);
  assert.deepEqual(copy, original);
  copy.metadata.labels.a = "changed";
  copy.spec.containers[0].args.push("y");
  copy.spec.containers.push({ name: "d" });
  assert.equal(original.metadata.labels.a, "b");
  assert.deepEqual(original.spec.containers, [{ name: "c", args: ["x"] }]);
  assert.notEqual(copy.spec, original.spec);
});

test("clone keeps a \"__proto__\" key as data (JSON.parse makes it an own key), and keys whose value is undefined", () => {
  const parsed = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
  const copy = clone({ ...parsed, u: undefined });
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.deepEqual(Object.keys(copy), ["__proto__", "a", "u"]);
  assert.deepEqual(JSON.stringify(copy), '{"__proto__":{"polluted":true},"a":1}');
  assert.equal((copy as { polluted?: boolean }).polluted, undefined);
  assert.ok(Object.hasOwn(copy, "u"));
});

test("clone hands what is not an array or a plain object to structuredClone", () => {
  const when = new Date(0);
  const copy = clone({ when, bytes: new Uint8Array([1, 2]) });
  assert.ok(copy.when instanceof Date);
  assert.notEqual(copy.when, when);
  assert.equal(copy.when.getTime(), 0);
  assert.deepEqual([...copy.bytes], [1, 2]);
});
