import { test } from "node:test";
import assert from "node:assert/strict";
import { StringInterner } from "./intern.ts";

test("interning leaves every value as it was, through objects and arrays, and holds each string once", () => {
  const strings = new StringInterner();
  const pod = () => ({ metadata: { name: "p", labels: { app: "web" } }, spec: { containers: [{ image: "nginx:1", args: ["a", "b", "a"] }], n: 3, ok: true, none: null } });
  assert.deepEqual(strings.internValues(pod()), pod());
  assert.equal(strings.size, 5, "p, web, nginx:1, a, b (keys are V8's business)");
  strings.internValues(pod());
  assert.equal(strings.size, 5, "seen again: nothing new");
  strings.intern("x".repeat(129));
  assert.equal(strings.size, 5, "long strings are left alone");
});

test("a frozen object is some cache's own: it is returned untouched", () => {
  const frozen = Object.freeze({ a: "x", nested: { b: "y" } });
  assert.equal(new StringInterner().internValues(frozen), frozen);
  assert.equal(new StringInterner().internValues("plain"), "plain");
});

test("the table is bounded: unique strings fall out after two generations, so churn does not grow it", () => {
  const strings = new StringInterner(4);
  for (let i = 0; i < 1000; i++) assert.equal(strings.intern(`uid-${i}`), `uid-${i}`);
  assert.ok(strings.size <= 8, `holds ${strings.size}`);
});
