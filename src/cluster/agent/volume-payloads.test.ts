import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPayloadPath, PayloadPathError, writePayload, type Payload } from "./atomic-writer.ts";
import type { Pod } from "./pod-types.ts";
import { downwardPayload, keyedPayload, projectedPayload, VolumeSetUpError } from "./volume-payloads.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (p: Payload) => Object.fromEntries([...p].map(([k, v]) => [k, `${v.data.toString()}:${v.mode.toString(8)}`]));
const pod: Pod = { metadata: { name: "p", namespace: "ns", uid: "u1", labels: { b: "2", a: 'say "hi"' } }, spec: { containers: [{ name: "c", image: "x", resources: { requests: { cpu: "250m" } } }] } };
const ctx = { pod, hostIP: "10.0.0.1", podIP: "", allocatable: { cpu: "4", memory: "8Gi", "ephemeral-storage": "1Ti" } };

test("configMap and secret payloads: every key, or items with their path and mode; binaryData; missing objects and keys", () => {
  const cm = { data: { a: "1", b: "2" }, binaryData: { bin: b64("\u0001") } };
  assert.deepEqual(text(keyedPayload("configmap", { name: "c" }, cm, 0o644)), { a: "1:644", b: "2:644", bin: "\u0001:644" });
  assert.deepEqual(text(keyedPayload("configmap", { name: "c", items: [{ key: "b", path: "x/y", mode: 0o600 }] }, cm, 0o644)), { "x/y": "2:600" });
  assert.deepEqual(text(keyedPayload("secret", { name: "s" }, { data: { pw: b64("hunter2") } }, 0o400)), { pw: "hunter2:400" });
  assert.throws(() => keyedPayload("configmap", { name: "gone" }, undefined, 0o644), new VolumeSetUpError('configmap "gone" not found'));
  assert.deepEqual(text(keyedPayload("secret", { name: "gone", optional: true }, undefined, 0o644)), {});
  assert.throws(() => keyedPayload("configmap", { name: "c", items: [{ key: "zz", path: "z" }] }, cm, 0o644), /non-existent config key: zz/);
  assert.deepEqual(text(keyedPayload("configmap", { name: "c", optional: true, items: [{ key: "zz", path: "z" }] }, cm, 0o644)), {});
});

test("downwardAPI: label maps as sorted key=\"value\" lines, fields, container resources; projected merges sources and writes fetched tokens", () => {
  const p = downwardPayload([{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }, { path: "uid", fieldRef: { fieldPath: "metadata.uid" } }, { path: "cpu", resourceFieldRef: { containerName: "c", resource: "requests.cpu", divisor: "1m" }, mode: 0o400 }], ctx, 0o644);
  assert.deepEqual(text(p), { labels: 'a="say \\"hi\\""\nb="2":644', uid: "u1:644", cpu: "250:400" });
  assert.throws(() => downwardPayload([{ path: "x", resourceFieldRef: { containerName: "nope", resource: "limits.cpu" } }], ctx, 0o644), VolumeSetUpError);
  const objects = { configMap: (n: string) => (n === "c" ? { data: { k: "cm" } } : undefined), secret: () => ({ data: { k: b64("sec") } }) };
  assert.deepEqual(text(projectedPayload([{ configMap: { name: "c" } }, { secret: { name: "s" } }], objects, ctx, 0o644)), { k: "sec:644" }, "a later source wins");
  assert.throws(() => projectedPayload([{ serviceAccountToken: { path: "token" } }], objects, ctx, 0o644), /no token was fetched/);
  const withToken = { ...objects, serviceAccountToken: (p: string) => (p === "token" ? "jwt" : undefined) };
  assert.deepEqual(text(projectedPayload([{ serviceAccountToken: { path: "token" } }, { configMap: { name: "c" } }], withToken, ctx, 0o644)), { token: "jwt:644", k: "cm:644" });
});

test("the atomic writer: ..data swap, symlinked names, modes, no rewrite when unchanged, stale names and the old payload removed", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-aw-"));
  try {
    const p = (entries: Record<string, string>): Payload => new Map(Object.entries(entries).map(([k, v]) => [k, { data: Buffer.from(v), mode: 0o640 }]));
    assert.equal(writePayload(dir, p({ a: "1", "sub/b": "2" })), true);
    const first = readlinkSync(join(dir, "..data"));
    assert.equal(readlinkSync(join(dir, "a")), "..data/a");
    assert.equal(readFileSync(join(dir, "sub", "b"), "utf8"), "2");
    assert.equal(statSync(join(dir, "a")).mode & 0o777, 0o640);
    assert.equal(writePayload(dir, p({ a: "1", "sub/b": "2" })), false, "same payload, nothing written");
    assert.equal(writePayload(dir, p({ a: "changed" })), true);
    assert.notEqual(readlinkSync(join(dir, "..data")), first);
    assert.equal(readFileSync(join(dir, "a"), "utf8"), "changed");
    assert.deepEqual(readdirSync(dir).sort(), ["..data", readlinkSync(join(dir, "..data")), "a"].sort(), "sub and the first payload are gone");
    for (const bad of ["/abs", "x/../y", "..hidden", ""]) assert.throws(() => checkPayloadPath(bad), PayloadPathError, bad);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
