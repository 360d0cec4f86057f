import { test } from "node:test";
import assert from "node:assert/strict";
import { constants } from "node:os";
import { GantryError } from "./errors.ts";
import { parseSignal, signalName, SIGNALS } from "./signals.ts";

test("names with or without SIG, in any case, and numbers", () => {
  for (const text of ["KILL", "SIGKILL", "sigkill", "Kill", " 9 ", "9"]) assert.equal(parseSignal(text), 9, text);
  assert.equal(parseSignal("TERM"), 15);
  assert.equal(parseSignal("SIGWINCH"), 28);
  assert.equal(parseSignal("iot"), 6);
  assert.equal(parseSignal("64"), 64);
});

test("the table agrees with the kernel's numbers as node knows them", () => {
  for (const [name, n] of Object.entries(SIGNALS)) {
    const known = (constants.signals as Record<string, number>)[name];
    if (known !== undefined) assert.equal(n, known, name);
  }
  // and covers every standard signal node knows on Linux
  for (const [name, n] of Object.entries(constants.signals)) if (n < 32 && name !== "SIGUNUSED") assert.equal(SIGNALS[name], n, name);
});

test("real-time signals count from the C library's SIGRTMIN (34) and back from SIGRTMAX (64)", () => {
  assert.equal(parseSignal("RTMIN"), 34);
  assert.equal(parseSignal("SIGRTMIN+3"), 37);
  assert.equal(parseSignal("rtmax-2"), 62);
  assert.equal(parseSignal("SIGRTMAX"), 64);
  assert.equal(signalName(34), "SIGRTMIN");
  assert.equal(signalName(49), "SIGRTMIN+15");
  assert.equal(signalName(50), "SIGRTMAX-14");
  assert.equal(signalName(64), "SIGRTMAX");
  for (let n = 1; n <= 64; n++) {
    if (n === 32 || n === 33) continue; // the C library's own, unnamed
    assert.equal(parseSignal(signalName(n)!), n, `round trip of ${n}`);
  }
});

test("canonical names: the first alias, as kill -l prints", () => {
  assert.equal(signalName(6), "SIGABRT");
  assert.equal(signalName(17), "SIGCHLD");
  assert.equal(signalName(29), "SIGIO");
  assert.equal(signalName(0), undefined);
  assert.equal(signalName(65), undefined);
});

test("anything else is INVALID_ARGUMENT naming the text", () => {
  for (const text of ["", "0", "65", "-1", "SIGFOO", "RTMIN-1", "RTMAX+1", "RTMIN+31", "9x", "1e1", "SIG"]) {
    assert.throws(
      () => parseSignal(text),
      (err: unknown) => err instanceof GantryError && err.code === "INVALID_ARGUMENT" && err.message === `unknown signal ${JSON.stringify(text)}`,
      text,
    );
  }
});
