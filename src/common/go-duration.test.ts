import { test } from "node:test";
import assert from "node:assert/strict";
import { formatGoDuration, parseGoDuration } from "./go-duration.ts";

test("parseGoDuration reads Go's duration text in nanoseconds", () => {
  assert.equal(parseGoDuration("30s"), 30e9);
  assert.equal(parseGoDuration("1m30s"), 90e9);
  assert.equal(parseGoDuration("1.5h"), 5400e9);
  assert.equal(parseGoDuration("500ms"), 500e6);
  assert.equal(parseGoDuration("10us"), 10e3);
  assert.equal(parseGoDuration("10µs"), 10e3);
  assert.equal(parseGoDuration("10μs"), 10e3);
  assert.equal(parseGoDuration("-1s"), -1e9);
  assert.equal(parseGoDuration("0"), 0);
  for (const bad of ["", "5", "1x", "s", "1s2", "--1s"]) assert.equal(parseGoDuration(bad), undefined, bad);
});

test("formatGoDuration writes Duration.String()", () => {
  assert.equal(formatGoDuration(1000), "1s");
  assert.equal(formatGoDuration(500), "500ms");
  assert.equal(formatGoDuration(90_000), "1m30s");
  assert.equal(formatGoDuration(1500), "1.5s");
  assert.equal(formatGoDuration(7_200_000), "2h0m0s");
});
