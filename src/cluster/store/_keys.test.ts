import { test } from "node:test";
import assert from "node:assert/strict";
import { checkKey, prefixEndBytes, prefixEndString } from "./_keys.ts";

test("prefixEndString bounds exactly the keys that start with the prefix", () => {
  assert.equal(prefixEndString("/registry/pods/"), "/registry/pods0");
  assert.equal(prefixEndString(""), undefined);
  assert.equal(prefixEndString("a\u{10FFFF}"), "b");
  assert.equal(prefixEndString("\u{10FFFF}"), undefined);
  assert.equal(prefixEndString("x\uD7FF"), "x\uE000");
  const end = prefixEndString("/a/")!;
  for (const k of ["/a/", "/a/b", "/a/\u{10FFFF}z", "/a/\uFFFF"])
    assert.ok(k >= "/a/" && Buffer.compare(Buffer.from(k), Buffer.from(end)) < 0, k);
  for (const k of ["/a0", "/b", "/a"])
    assert.ok(!(k >= "/a/" && Buffer.compare(Buffer.from(k), Buffer.from(end)) < 0), k);
});

test("prefixEndBytes increments the last byte below 0xff, as etcd's clients do", () => {
  assert.deepEqual(prefixEndBytes(Buffer.from("ab")), Buffer.from("ac"));
  assert.deepEqual(prefixEndBytes(Buffer.from([0x61, 0xff])), Buffer.from("b"));
  assert.deepEqual(prefixEndBytes(Buffer.alloc(0)), Buffer.from([0]));
});

test("checkKey refuses empty and oversize keys", () => {
  assert.throws(() => checkKey(""), /non-empty/);
  assert.throws(() => checkKey("k".repeat(5000)), /longer than/);
  checkKey("/registry/pods/default/nginx");
});
