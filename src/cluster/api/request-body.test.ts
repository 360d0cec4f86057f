import { test } from "node:test";
import assert from "node:assert/strict";
import { duplicateFields } from "./request-body.ts";

test("duplicate fields are named by path in JSON and YAML bodies", () => {
  const json = '{"a":1, "b" : {"c":[{"x":1,"x":2},{"y":"a\\"b:","y":3}],"c":1},\n "a":{"q":"}"}}';
  assert.deepEqual(duplicateFields("application/json", Buffer.from(json)), ["b.c[0].x", "b.c[1].y", "b.c", "a"]);
  assert.deepEqual(duplicateFields("", Buffer.from('{"a":1,"b":2}')), []);
  assert.deepEqual(duplicateFields("application/yaml", Buffer.from("a: 1\nb: {c: 1, c: 2}\na: 2\n")), ["b.c", "a"]);
  assert.deepEqual(duplicateFields("application/vnd.kubernetes.protobuf", Buffer.from("k8s\0")), []);
});
