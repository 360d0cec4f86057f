import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalJson, computeTemplateHash, safeEncode, templatesEqualIgnoringHash } from "./_pod-template-hash.ts";

const template = { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image: "nginx:1" }] } };

test("the hash uses Kubernetes' name alphabet and depends only on content, not key order", () => {
  const h = computeTemplateHash(template);
  assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  const reordered = { spec: { containers: [{ image: "nginx:1", name: "c" }] }, metadata: { labels: { app: "web" } } };
  assert.equal(computeTemplateHash(reordered), h);
  assert.notEqual(computeTemplateHash({ ...template, spec: { containers: [{ name: "c", image: "nginx:2" }] } }), h);
  assert.notEqual(computeTemplateHash(template, 1), h, "a collision count gives another name");
  assert.notEqual(computeTemplateHash(template, 1), computeTemplateHash(template, 2));
});

test("safeEncode maps digits as rand.SafeEncodeString does", () => {
  // '0'..'9' are bytes 48..57; 48 % 27 = 21 → '4', 54 % 27 = 0 → 'b'.
  assert.equal(safeEncode("0123456789"), "456789bcdf");
});

test("canonical JSON sorts keys at every depth, keeps array order and leaves empty fields out", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null, e: {}, f: [] }, z: "" }), '{"a":{"d":[2,1]},"b":1,"z":""}');
});

test("templates compare equal but for the pod-template-hash label", () => {
  const hashed = { ...template, metadata: { labels: { app: "web", "pod-template-hash": "abc" } } };
  assert.equal(templatesEqualIgnoringHash(template, hashed), true);
  assert.equal(templatesEqualIgnoringHash({ metadata: { labels: { "pod-template-hash": "x" } } }, {}), true);
  assert.equal(templatesEqualIgnoringHash(template, { ...hashed, metadata: { labels: { app: "api", "pod-template-hash": "abc" } } }), false);
});
