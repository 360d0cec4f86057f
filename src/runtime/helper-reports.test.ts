// The runtime reads every report of the native helper against the wire's message table
// (scripts/gen-wire.mjs): a helper that answers with a malformed message — another version,
// or a bug — fails the run as INTERNAL naming what is wrong, instead of a pid of NaN. A
// stand-in helper (a shell script, $GANTRY_HELPER) writes the bytes; nothing runs in a kernel.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryError } from "../common/errors.ts";
import { encodeRecords, type PlanRecord } from "./plan/wire.ts";
import type * as HelperModule from "./helper.ts";

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "gantry-reports-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A helper that answers any plan with these records on its plan channel, then waits to be killed. */
function standIn(records: PlanRecord[]): string {
  const bytes = [...encodeRecords(records)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
  const path = join(dir, `helper-${records.length}-${records[0]?.[0] ?? "none"}.sh`);
  // the channel is the fd after --plan-fd
  writeFileSync(path, `#!/bin/sh\nfd=$2\nprintf '${bytes}' >&$fd\nexec sleep 30\n`);
  chmodSync(path, 0o755);
  return path;
}

test("a malformed report fails the run as INTERNAL, naming the message and field; a good one passes", async () => {
  const plan: PlanRecord[] = [["child"], ["end"]];
  const cases: Array<[PlanRecord[], RegExp | number]> = [
    [[["pid", "x", "2"]], /malformed report from the native helper: "pid" field 1 \(pid\): "x" is not a number/],
    [[["pid"]], /malformed report from the native helper: "pid" takes 2 fields \(pid, done\), got 0/],
    [[["started", "12"]], /malformed report from the native helper: unknown message "started"/],
    [[["pid", "4242", "2"]], 4242],
  ];
  for (const [records, expect] of cases) {
    process.env.GANTRY_HELPER = standIn(records);
    // findHelper caches its answer: a fresh module instance per case reads the variable again
    const { runHelper } = (await import(`./helper.ts?case=${records[0]![0]}-${records[0]!.length}`)) as typeof HelperModule;
    const run = runHelper(plan, { detachStdio: true, timeoutMs: 10_000 });
    if (typeof expect === "number") {
      const r = await run;
      assert.equal(r.pid, expect);
      assert.equal(r.stepsDone, 2, "the steps the helper says it executed come back for explain");
      process.kill(r.helperPid, "SIGKILL");
      continue;
    }
    await assert.rejects(run, (err: unknown) => err instanceof GantryError && err.code === "INTERNAL" && expect.test(err.message));
  }
});

test("a helper's last report is read even when node tells its exit first", async () => {
  // The stand-in writes "pid", leaves a process that writes "exit" on the channel 300 ms
  // later, and exits at once: its exit event comes before the report, as it can for a
  // foreground monitor on a loaded machine (the report written just before the exit).
  const pid = [...encodeRecords([["pid", "4242", "2"]])].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
  const exit = [...encodeRecords([["exit", "3", "0"]])].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
  const path = join(dir, "helper-late-exit.sh");
  writeFileSync(path, `#!/bin/sh\nfd=$2\nprintf '${pid}' >&$fd\n(sleep 0.3; printf '${exit}' >&$fd) &\nexit 0\n`);
  chmodSync(path, 0o755);
  process.env.GANTRY_HELPER = path;
  const { runHelper } = (await import(`./helper.ts?case=${"late-exit"}`)) as typeof HelperModule;
  const r = await runHelper([["child"], ["end"]], { captureOutput: true, timeoutMs: 10_000 });
  assert.equal(r.pid, 4242);
  assert.deepEqual(await r.exited, { code: 3, signal: 0 });
});
