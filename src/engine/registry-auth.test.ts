// The credential headers as the docker CLI encodes them, and what the daemon makes of them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeRegistryAuth, decodeRegistryConfig, encodeRegistryAuth, encodeRegistryConfig } from "./registry-auth.ts";

test("X-Registry-Auth round-trips; the docker CLI's forms decode", () => {
  const creds = { username: "alice", password: "p@ss:word/+" };
  assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth(creds, "127.0.0.1:5000")), creds);
  // The docker CLI: base64url of the AuthConfig JSON; standard base64 and an `auth` field too.
  const docker = Buffer.from(JSON.stringify({ username: "bob", password: "x", serveraddress: "r" })).toString("base64url");
  assert.deepEqual(decodeRegistryAuth(docker), { username: "bob", password: "x" });
  const authField = Buffer.from(JSON.stringify({ auth: Buffer.from("carol:y:z").toString("base64") })).toString("base64");
  assert.deepEqual(decodeRegistryAuth(authField), { username: "carol", password: "y:z" });
  // No credentials: absent, empty, "{}" (what the docker CLI sends when it has none).
  assert.equal(decodeRegistryAuth(undefined), undefined);
  assert.equal(decodeRegistryAuth(""), undefined);
  assert.equal(decodeRegistryAuth(encodeRegistryAuth(undefined, "")), undefined);
  assert.equal(decodeRegistryAuth("e30="), undefined);
});

test("malformed credential headers are a 400 naming the header", () => {
  assert.throws(() => decodeRegistryAuth("not base64 json!"), (e: { code: string; message: string }) => e.code === "INVALID_ARGUMENT" && /X-Registry-Auth/.test(e.message));
  assert.throws(() => decodeRegistryConfig(Buffer.from("[1,").toString("base64")), /X-Registry-Config/);
});

test("X-Registry-Config maps registries, with Docker Hub's URL keys as docker.io", () => {
  const map = { "127.0.0.1:5000": { username: "a", password: "1" } };
  assert.deepEqual(decodeRegistryConfig(encodeRegistryConfig(map)), map);
  const docker = Buffer.from(
    JSON.stringify({ "https://index.docker.io/v1/": { username: "hub", password: "2" }, "https://registry.example:5000": { auth: Buffer.from("e:3").toString("base64") }, "empty.example": {} }),
  ).toString("base64url");
  assert.deepEqual(decodeRegistryConfig(docker), { "docker.io": { username: "hub", password: "2" }, "registry.example:5000": { username: "e", password: "3" } });
  assert.deepEqual(decodeRegistryConfig(undefined), {});
});
