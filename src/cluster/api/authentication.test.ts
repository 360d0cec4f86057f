import { test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../store/index.ts";
import { ADMIN_USER, Authenticator } from "./authentication.ts";
import { generateNodeToken } from "./node-tokens.ts";
import { ObjectRegistry } from "./registry.ts";
import { resourceTypes } from "./resources.ts";

const secrets = resourceTypes.find((r) => r.kind === "Secret")!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(cacheMs: number) {
  const registry = new ObjectRegistry(await openStore({ kind: "sqlite", path: ":memory:" }));
  await registry.create(resourceTypes.find((r) => r.kind === "Namespace")!, undefined, { metadata: { name: "kube-system" } });
  return { registry, auth: new Authenticator("a".repeat(64), registry, cacheMs) };
}

test("the admin token and a node token name their users; anything else is nobody", async () => {
  const { registry, auth } = await setup(50);
  const { token, secret } = generateNodeToken("n1", undefined);
  await registry.create(secrets, "kube-system", secret);
  assert.deepEqual(await auth.authenticate(`Bearer ${"a".repeat(64)}`), ADMIN_USER);
  const user = await auth.authenticate(`Bearer ${token}`);
  assert.equal(user?.username, "system:node:n1");
  assert.deepEqual(user?.groups, ["system:nodes", "system:authenticated"]);
  for (const bad of [undefined, "", "Bearer", `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(0, 7)}${"0".repeat(32)}`, `Bearer ${"b".repeat(64)}`]) {
    assert.equal(await auth.authenticate(bad), undefined, String(bad));
  }
});

test("a deleted token stops within the cache time, and the watches it opened are ended", async () => {
  const { registry, auth } = await setup(50);
  const { token, secret } = generateNodeToken("n1", undefined);
  await registry.create(secrets, "kube-system", secret);
  const user = (await auth.authenticate(`Bearer ${token}`))!;
  let stopped = 0;
  const unbind = auth.bindToCredential(user, () => stopped++);
  await sleep(120);
  assert.equal(stopped, 0, "a live token keeps its watches");
  await registry.delete(secrets, "kube-system", secret.metadata.name!);
  await sleep(150);
  assert.equal(await auth.authenticate(`Bearer ${token}`), undefined);
  assert.ok(stopped >= 1, "the watch was ended");
  unbind();
  auth.close();
});

test("an expired token is refused and ends its watches", async () => {
  const { registry, auth } = await setup(50);
  const { token, secret } = generateNodeToken("n1", 300);
  await registry.create(secrets, "kube-system", secret);
  const user = (await auth.authenticate(`Bearer ${token}`))!;
  let stopped = 0;
  const unbind = auth.bindToCredential(user, () => stopped++);
  await sleep(450);
  assert.equal(await auth.authenticate(`Bearer ${token}`), undefined);
  assert.ok(stopped >= 1);
  unbind();
});
