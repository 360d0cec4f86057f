// bin/gantry-runtime's start-up path (native/launcher/gantry-runtime.c):
// what it does to save time must not change what the CLI does.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { RUNTIME_BIN, kernelTestSkipReason, makeBundle, tempRoot, uniqueId } from "../helpers/busybox-bundle.ts";

const skip = kernelTestSkipReason();

describe("the runtime CLI's launcher", { skip }, () => {
  const root = skip ? "" : tempRoot();
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("drops NODE_EXTRA_CA_CERTS (node parses it at every start), and runs containers as before", () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: "/nonexistent/gantry-test-ca.pem" };
    // The premise: node itself reads the variable at start (and warns that it cannot).
    const bare = spawnSync(process.execPath, ["-e", "0"], { env, encoding: "utf8" });
    assert.match(bare.stderr, /extra certs/i, "node reads NODE_EXTRA_CA_CERTS as it starts");
    const version = spawnSync(RUNTIME_BIN, ["--version"], { env, encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^gantry-runtime /);
    assert.doesNotMatch(version.stderr, /extra certs/i);

    const b = makeBundle(["sh", "-c", "exit 3"]);
    try {
      const r = spawnSync(RUNTIME_BIN, ["--root", root, "run", "--bundle", b.dir, uniqueId("ca")], { env, encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 3, r.stderr);
      assert.doesNotMatch(r.stderr, /extra certs/i);
    } finally {
      b.cleanup();
    }
  });
});
