import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelAtLeast } from "./kernel-release.ts";

test("kernelAtLeast reads uname -r's major.minor", () => {
  assert.equal(kernelAtLeast("6.18.44-fc-v1272", 5, 10), true);
  assert.equal(kernelAtLeast("5.10.0-28-amd64", 5, 10), true);
  assert.equal(kernelAtLeast("5.4.0-150-generic", 5, 10), false, "5.4 is older than 5.10 (not a string comparison)");
  assert.equal(kernelAtLeast("4.18.0-513.el8.x86_64", 5, 10), false);
  assert.equal(kernelAtLeast("garbage", 5, 10), false);
});
