import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lookupCredentials, parseChallenge, removeCredentials, saveCredentials } from "./auth.ts";

let dir: string;
const saved = { auth: process.env.GANTRY_AUTH_FILE, docker: process.env.DOCKER_CONFIG };
before(() => {
  dir = mkdtempSync(join(tmpdir(), "gantry-auth-"));
  process.env.GANTRY_AUTH_FILE = join(dir, "gantry", "auth.json");
  process.env.DOCKER_CONFIG = join(dir, "docker");
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const [k, v] of [["GANTRY_AUTH_FILE", saved.auth], ["DOCKER_CONFIG", saved.docker]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

test("WWW-Authenticate challenges parse with quoted and bare values", () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: "bearer",
    params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
  });
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: "basic", params: { realm: "Registry Realm" } });
  assert.deepEqual(parseChallenge("Bearer realm=x, error=insufficient_scope"), { scheme: "bearer", params: { realm: "x", error: "insufficient_scope" } });
  assert.equal(parseChallenge(undefined), undefined);
});

test("credentials: gantry login's file (0600) first, then ~/.docker/config.json", () => {
  mkdirSync(join(dir, "docker"));
  writeFileSync(
    join(dir, "docker", "config.json"),
    JSON.stringify({ auths: { "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") }, "reg.example:5000": { auth: Buffer.from("d:x:y").toString("base64") } } }),
  );
  assert.deepEqual(lookupCredentials("docker.io"), { username: "hub", password: "pw" });
  assert.deepEqual(lookupCredentials("reg.example:5000"), { username: "d", password: "x:y" });
  saveCredentials("reg.example:5000", { username: "g", password: "p" });
  assert.equal(statSync(process.env.GANTRY_AUTH_FILE as string).mode & 0o777, 0o600);
  assert.deepEqual(lookupCredentials("reg.example:5000"), { username: "g", password: "p" });
  assert.equal(removeCredentials("reg.example:5000"), true);
  assert.deepEqual(lookupCredentials("reg.example:5000"), { username: "d", password: "x:y" });
  assert.equal(lookupCredentials("other.example"), undefined);
});

test("credentials from a Docker credential helper (credHelpers, then credsStore)", () => {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  // A helper speaking the real protocol: server URL on stdin, JSON on stdout, exit 1 on a miss.
  writeFileSync(
    join(bin, "docker-credential-gantrytest"),
    '#!/bin/sh\nread url\nif [ "$url" = "helped.example:5000" ]; then printf \'{"ServerURL":"%s","Username":"hu","Secret":"hs"}\' "$url"; else echo "credentials not found" >&2; exit 1; fi\n',
    { mode: 0o755 },
  );
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    writeFileSync(join(dir, "docker", "config.json"), JSON.stringify({ credHelpers: { "helped.example:5000": "gantrytest" } }));
    assert.deepEqual(lookupCredentials("helped.example:5000"), { username: "hu", password: "hs" });
    writeFileSync(join(dir, "docker", "config.json"), JSON.stringify({ credsStore: "gantrytest" }));
    assert.deepEqual(lookupCredentials("helped.example:5000"), { username: "hu", password: "hs" });
    assert.equal(lookupCredentials("missing.example"), undefined);
  } finally {
    process.env.PATH = oldPath;
  }
});
