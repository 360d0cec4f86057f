import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../../common/errors.ts";
import { healthSettings, mergeHealthConfig, validateHealthConfig } from "./config.ts";

const refused = (hc: unknown, message: string | RegExp) =>
  assert.throws(() => validateHealthConfig(hc), (e: unknown) => e instanceof GantryError && e.httpStatus === 400 && (typeof message === "string" ? e.message === message : message.test(e.message)));

test("validateHealthConfig refuses what dockerd refuses, with its messages", () => {
  refused({ Test: ["CMD-SHELL", "x"], Interval: -5 }, "Interval in Healthcheck cannot be less than 1ms");
  refused({ Test: ["CMD-SHELL", "x"], Interval: 999_999 }, "Interval in Healthcheck cannot be less than 1ms");
  refused({ Test: ["CMD-SHELL", "x"], Timeout: 5 }, "Timeout in Healthcheck cannot be less than 1ms");
  refused({ Test: ["CMD-SHELL", "x"], Retries: -1 }, "Retries in Healthcheck cannot be negative");
  refused({ Test: ["CMD-SHELL", "x"], StartPeriod: 1 }, "StartPeriod in Healthcheck cannot be less than 1ms");
  refused({ Test: ["CMD-SHELL", "x"], StartInterval: -1 }, "StartInterval in Healthcheck cannot be less than 1ms");
  refused({ Test: ["BOGUS", "x"] }, /unknown Healthcheck Test type "BOGUS"/);
  refused({ Test: ["CMD"] }, /has no command/);
  refused({ Test: "CMD true" }, /must be an array of strings/);
  refused({ Interval: 1.5 }, /must be an integer/);
});

test("validateHealthConfig lets dockerd's accepted forms through", () => {
  assert.equal(validateHealthConfig(undefined), undefined);
  assert.equal(validateHealthConfig(null), undefined);
  for (const hc of [{ Test: ["NONE"] }, { Test: ["CMD", "true"] }, { Test: ["CMD-SHELL", "exit 0"], Interval: 1e6 }, { Interval: 2e9 }]) {
    assert.deepEqual(validateHealthConfig(hc), hc);
  }
  // Stored as dockerd shows it: null, empty and zero fields left out (docker-py sends nulls).
  assert.deepEqual(validateHealthConfig({ Test: ["CMD", "x"], Interval: 0, StartPeriod: null, Retries: 0 }), { Test: ["CMD", "x"] });
  assert.deepEqual(validateHealthConfig({ Test: [] }), {});
});

test("mergeHealthConfig takes the image's Test and unset fields (daemon/commit.go)", () => {
  const image = { Test: ["CMD-SHELL", "img"], Interval: 5e9, Timeout: 2e9, Retries: 4 };
  assert.deepEqual(mergeHealthConfig(undefined, image), image);
  assert.deepEqual(mergeHealthConfig({ Interval: 1e9 }, image), { Test: ["CMD-SHELL", "img"], Interval: 1e9, Timeout: 2e9, Retries: 4 });
  assert.deepEqual(mergeHealthConfig({ Test: ["NONE"] }, image)?.Test, ["NONE"]);
  assert.deepEqual(mergeHealthConfig({ Test: ["CMD", "x"] }, undefined), { Test: ["CMD", "x"] });
  assert.equal(mergeHealthConfig(undefined, null), undefined);
});

test("healthSettings: the probe's argv and timings with dockerd's defaults; none for NONE", () => {
  assert.deepEqual(healthSettings({ Test: ["CMD-SHELL", "curl -f localhost"] }), {
    argv: ["/bin/sh", "-c", "curl -f localhost"],
    intervalMs: 30_000,
    timeoutMs: 30_000,
    startPeriodMs: 0,
    startIntervalMs: 5_000,
    retries: 3,
  });
  const s = healthSettings({ Test: ["CMD", "true", "x"], Interval: 1e9, Timeout: 5e8, StartPeriod: 1e10, StartInterval: 2e9, Retries: 2 });
  assert.deepEqual(s, { argv: ["true", "x"], intervalMs: 1000, timeoutMs: 500, startPeriodMs: 10_000, startIntervalMs: 2000, retries: 2 });
  assert.equal(healthSettings({ Test: ["NONE"] }), undefined);
  assert.equal(healthSettings({ Interval: 1e9 }), undefined);
  assert.equal(healthSettings(undefined), undefined);
});
