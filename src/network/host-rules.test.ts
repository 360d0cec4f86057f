import { test } from "node:test";
import assert from "node:assert/strict";
import { isolationScript, splitRuleWords } from "./host-rules.ts";

test("iptables -S lines split into argv words with quoted comments", () => {
  assert.deepEqual(
    splitRuleWords(
      '-A POSTROUTING -s 10.231.1.2/32 -m comment --comment "name: \\"net\\" id: \\"c1\\"" -j CNI-abc',
    ),
    [
      "-A",
      "POSTROUTING",
      "-s",
      "10.231.1.2/32",
      "-m",
      "comment",
      "--comment",
      'name: "net" id: "c1"',
      "-j",
      "CNI-abc",
    ],
  );
});

test("isolation: internal bridges forward nothing, user bridges not to each other except DNAT", () => {
  const script = isolationScript("gantry-x", [
    { bridge: "gantry0", internal: false },
    { bridge: "gt-a", internal: false },
    { bridge: "gt-i", internal: true },
  ]);
  assert.match(script, /^table inet gantry-x\ndelete table inet gantry-x\ntable inet gantry-x \{/);
  assert.match(
    script,
    /iifname "gt-i" oifname != "gt-i" drop\n\s+oifname "gt-i" iifname != "gt-i" drop\n\s+ct status dnat accept\n/,
  );
  assert.match(script, /iifname "gantry0" oifname \{ "gt-a", "gt-i" \} drop/);
  // one ordinary network: nothing to isolate, the table just goes
  assert.equal(
    isolationScript("gantry-x", [{ bridge: "gantry0", internal: false }]),
    "table inet gantry-x\ndelete table inet gantry-x\n",
  );
});
