import { test } from "node:test";
import assert from "node:assert/strict";
import { describeNodeToken, generateNodeToken, NODE_TOKEN_TYPE, parseDuration, parseNodeToken, verifyNodeToken } from "./node-tokens.ts";

test("a token is <id>.<secret>; its Secret names the node and holds only the secret's SHA-256", () => {
  const { token, secret } = generateNodeToken("node-a", undefined);
  const parsed = parseNodeToken(token)!;
  assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{32}$/);
  assert.equal(secret.metadata.name, `node-token-${parsed.id}`);
  assert.equal(secret.metadata.namespace, "kube-system");
  assert.equal(secret.type, NODE_TOKEN_TYPE);
  const decoded = Object.values(secret.data as Record<string, string>).map((v) => Buffer.from(v, "base64").toString());
  assert.ok(!decoded.some((v) => v.includes(parsed.secret)), "the secret part is not stored");
  assert.ok(!JSON.stringify(secret).includes(parsed.secret));
  assert.equal(verifyNodeToken(secret, parsed.secret), "node-a");
  assert.equal(verifyNodeToken(secret, parsed.secret.replace(/.$/, (c) => (c === "a" ? "b" : "a"))), undefined);
  assert.deepEqual(describeNodeToken(secret), { id: parsed.id, node: "node-a", expires: undefined, created: undefined });
});

test("an expired token, a malformed one and a Secret of another type are refused", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const { token, secret } = generateNodeToken("n1", 1000, now);
  const { secret: part } = parseNodeToken(token)!;
  assert.equal(verifyNodeToken(secret, part, now + 999), "n1");
  assert.equal(verifyNodeToken(secret, part, now + 1000), undefined);
  assert.equal(verifyNodeToken({ ...secret, type: "Opaque" }, part, now), undefined);
  assert.equal(verifyNodeToken({ ...secret, metadata: { ...secret.metadata, name: "node-token-zzzzzz" } }, part, now), undefined);
  for (const bad of ["", "abc", "abcdef.short", "ABCDEF.0123456789abcdef0123456789abcdef", `${"a".repeat(64)}`]) assert.equal(parseNodeToken(bad), undefined, bad);
  assert.throws(() => generateNodeToken("Not_A_Node", undefined), /not a valid node name/);
});

test("--ttl takes Go-style durations", () => {
  assert.equal(parseDuration("1s"), 1000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("7d"), 7 * 86_400_000);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("soon"), /not a duration/);
  assert.throws(() => parseDuration("1h oops"), /not a duration/);
});
