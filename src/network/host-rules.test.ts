import { test } from "node:test";
import assert from "node:assert/strict";
import { splitRuleWords } from "./host-rules.ts";

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
