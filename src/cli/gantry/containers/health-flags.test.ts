import { test } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { GantryError } from "../../../common/errors.ts";
import { addCreateOptions, createBody, type CreateFlags } from "./create-body.ts";

/** Config.Healthcheck of `run ARGV busybox`, through commander as `gantry run` parses it. */
function healthcheckFor(argv: string[]) {
  let o: CreateFlags | undefined;
  const program = new Command().exitOverride();
  addCreateOptions(program.command("run"))
    .argument("<image>")
    .action((_image: string, flags: CreateFlags) => {
      o = flags;
    });
  program.parse(["run", ...argv, "busybox"], { from: "user" });
  return createBody("busybox", [], o!).Healthcheck;
}

test("--health-* flags become Config.Healthcheck as the docker CLI sends it", () => {
  assert.equal(healthcheckFor([]), undefined, "no flag, nothing sent: the image's check applies");
  assert.deepEqual(healthcheckFor(["--health-cmd", "curl -f localhost || exit 1", "--health-interval", "5s", "--health-timeout", "1m30s", "--health-start-period", "2s", "--health-start-interval", "500ms", "--health-retries", "4"]), {
    Test: ["CMD-SHELL", "curl -f localhost || exit 1"],
    Interval: 5e9,
    Timeout: 90e9,
    StartPeriod: 2e9,
    StartInterval: 5e8,
    Retries: 4,
  });
  assert.deepEqual(healthcheckFor(["--health-retries", "7"]), { Retries: 7 }, "one field alone: the rest comes from the image");
  assert.deepEqual(healthcheckFor(["--no-healthcheck"]), { Test: ["NONE"] });
});

test("bad health flags fail with the docker CLI's messages", () => {
  const refused = (argv: string[], message: string) =>
    assert.throws(() => healthcheckFor(argv), (e: unknown) => e instanceof GantryError && e.message === message, argv.join(" "));
  refused(["--health-interval", "-1s"], "--health-interval cannot be negative");
  refused(["--health-timeout", "-5ms"], "--health-timeout cannot be negative");
  refused(["--health-retries", "-1"], "--health-retries cannot be negative");
  refused(["--health-start-period", "10"], 'invalid argument "10" for "--health-start-period" flag: time: invalid duration "10"');
  refused(["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options");
});
