import { test } from "node:test";
import assert from "node:assert/strict";
import { compareNatural, compareStrings } from "./compare.ts";

test("compareStrings sorts in code-unit order, ISO timestamps by time", () => {
  assert.deepEqual(["b", "a", "c", "a"].sort(compareStrings), ["a", "a", "b", "c"]);
  assert.deepEqual(["pod-b/x", "Pod-a/y", "pod-a/z"].sort(compareStrings), ["Pod-a/y", "pod-a/z", "pod-b/x"]);
  const times = ["2026-12-05T05:56:07.120Z", "2026-12-05T05:56:06.999Z", "2025-01-01T00:00:00Z"];
  assert.deepEqual([...times].sort(compareStrings), ["2025-01-01T00:00:00Z", "2026-12-05T05:56:06.999Z", "2026-12-05T05:56:07.120Z"]);
  assert.equal(compareStrings("x", "x"), 0);
});

test("compareNatural orders digit runs by value", () => {
  assert.deepEqual(["eth10", "eth2", "eth1", "eth0"].sort(compareNatural), ["eth0", "eth1", "eth2", "eth10"]);
  assert.deepEqual(["a10b2", "a10b10", "a9", "a"].sort(compareNatural), ["a", "a9", "a10b2", "a10b10"]);
  // equal values with different spellings still have one order
  assert.ok(compareNatural("eth01", "eth1") !== 0);
  assert.equal(compareNatural("", ""), 0);
});
