import { test } from "node:test";
import assert from "node:assert/strict";
import { fieldPaths, recordUpdate, serverSideApply, toFieldsV1 } from "./managed-fields.ts";
import type { KubeObject } from "./objects.ts";
import { ApiError } from "./status.ts";

const cm = (data: Record<string, string>): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data });

test("field sets are FieldsV1 with merge keys for keyed lists", () => {
  const f = toFieldsV1(fieldPaths({ metadata: { name: "x", labels: { a: "b" } }, spec: { containers: [{ name: "web", image: "i" }] } }, false));
  assert.deepEqual(f, {
    "f:metadata": { "f:labels": { "f:a": {} } },
    "f:spec": { "f:containers": { 'k:{"name":"web"}': { ".": {}, "f:name": {}, "f:image": {} } } },
  });
});

test("apply creates, owns, and removes fields it no longer applies", () => {
  const first = serverSideApply(undefined, cm({ a: "1", b: "2" }), "me", false, "v1", "configmaps");
  assert.deepEqual(first.data, { a: "1", b: "2" });
  assert.equal(first.metadata.managedFields![0]!.operation, "Apply");
  const second = serverSideApply(first, cm({ a: "1" }), "me", false, "v1", "configmaps");
  assert.deepEqual(second.data, { a: "1" });
});

test("apply conflicts with another manager's differing value unless forced; equal values are shared", () => {
  const applied = serverSideApply(undefined, cm({ a: "1" }), "me", false, "v1", "configmaps");
  const edited = { ...applied, data: { a: "2" } };
  recordUpdate(applied, edited, "editor", "v1");
  assert.throws(() => serverSideApply(edited, cm({ a: "3" }), "me", false, "v1", "configmaps"), (err: unknown) => err instanceof ApiError && err.status === 409 && /conflict with "editor"/.test(err.message));
  const shared = serverSideApply(edited, cm({ a: "2" }), "me", false, "v1", "configmaps");
  assert.equal(shared.metadata.managedFields!.length, 2);
  const forced = serverSideApply(edited, cm({ a: "3" }), "me", true, "v1", "configmaps");
  assert.deepEqual(forced.data, { a: "3" });
  assert.deepEqual(forced.metadata.managedFields!.map((m) => m.manager), ["me"]);
});
