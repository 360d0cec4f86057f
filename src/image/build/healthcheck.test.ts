import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../../common/errors.ts";
import { parseHealthcheck } from "./healthcheck.ts";

test("HEALTHCHECK forms become the image config's Healthcheck (durations in ns)", () => {
  assert.deepEqual(parseHealthcheck("CMD curl -f http://localhost/ || exit 1", "l1"), { Test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"] });
  assert.deepEqual(parseHealthcheck('CMD ["/bin/check", "-q"]', "l1"), { Test: ["CMD", "/bin/check", "-q"] });
  assert.deepEqual(parseHealthcheck("none", "l1"), { Test: ["NONE"] });
  assert.deepEqual(parseHealthcheck("--interval=5s --timeout=1m30s --start-period=2s --start-interval=500ms --retries=4 cmd true", "l1"), {
    Test: ["CMD-SHELL", "true"],
    Interval: 5e9,
    Timeout: 90e9,
    StartPeriod: 2e9,
    StartInterval: 5e8,
    Retries: 4,
  });
  assert.deepEqual(parseHealthcheck("--interval=0s --retries=0 CMD true", "l1"), { Test: ["CMD-SHELL", "true"] });
});

test("malformed HEALTHCHECKs fail with BuildKit's messages, naming the line", () => {
  const refused = (args: string, message: string) =>
    assert.throws(() => parseHealthcheck(args, "Dockerfile line 3"), (e: unknown) => e instanceof GantryError && e.message === `Dockerfile line 3: ${message}`);
  refused("", "HEALTHCHECK requires at least one argument");
  refused("NONE extra", "HEALTHCHECK NONE takes no arguments");
  refused("--interval=1s NONE", "HEALTHCHECK NONE takes no arguments");
  refused("RUN true", 'Unknown type "RUN" in HEALTHCHECK (try CMD)');
  refused("CMD", "Missing command after HEALTHCHECK CMD");
  refused("CMD []", "Missing command after HEALTHCHECK CMD");
  refused("--interval=5 CMD true", 'time: invalid duration "5"');
  refused("--timeout=10us CMD true", 'Interval "timeout" cannot be less than 1ms');
  refused("--retries=-1 CMD true", "--retries cannot be negative (-1)");
  refused("--color=red CMD true", "unknown flag: color");
});
