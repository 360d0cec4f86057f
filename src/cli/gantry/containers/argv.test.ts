import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../../../common/errors.ts";
import { int, parseBytes, parseFilters, sinceParam } from "./argv.ts";

test("sizes are Docker's 1024-based units; -1 is unlimited; junk is refused naming the flag", () => {
  assert.equal(parseBytes("64m", "--memory"), 64 * 1024 * 1024);
  assert.equal(parseBytes("1g", "--memory"), 1024 ** 3);
  assert.equal(parseBytes("512", "--memory"), 512);
  assert.equal(parseBytes("2kb", "--memory"), 2048);
  assert.equal(parseBytes("-1", "--memory-swap"), -1);
  assert.throws(() => parseBytes("lots", "--memory"), (e: unknown) => e instanceof GantryError && e.code === "INVALID_ARGUMENT" && /--memory/.test(e.message));
});

test("integers: absent stays absent, a fraction or a word is refused", () => {
  assert.equal(int(undefined, "--cpu-shares"), undefined);
  assert.equal(int("-1", "--pids-limit"), -1);
  assert.throws(() => int("1.5", "--cpu-shares"), /invalid argument "1.5" for "--cpu-shares"/);
  assert.throws(() => int("ten", "--stop-timeout"), /not an integer/);
});

test("--filter k=v repeats into one key's values; the value may contain '='", () => {
  assert.deepEqual(parseFilters(["name=a", "name=b", "label=x=y"]), { name: ["a", "b"], label: ["x=y"] });
  assert.deepEqual(parseFilters([]), {});
  assert.throws(() => parseFilters(["name"]), /bad format of filter/);
});

test("--since: a duration counts back from now, a date becomes unix seconds, a unix time passes", () => {
  const now = Date.parse("2024-01-01T00:10:00Z");
  assert.equal(sinceParam("10m", now), String(now / 1000 - 600));
  assert.equal(sinceParam("30s", now), String(now / 1000 - 30));
  assert.equal(sinceParam("2024-01-01T00:00:00Z", now), String(Date.parse("2024-01-01T00:00:00Z") / 1000));
  assert.equal(sinceParam("1700000000.5", now), "1700000000.5");
});
