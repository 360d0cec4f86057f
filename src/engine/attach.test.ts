import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DetachKeyFilter, parseDetachKeys } from "./attach.ts";

describe("detach keys (dockerd's escape proxy)", () => {
  const keys = parseDetachKeys(undefined); // ctrl-p, ctrl-q
  const push = (f: DetachKeyFilter, s: string) => {
    const out = f.push(Buffer.from(s, "latin1"));
    return out === "detach" ? out : out.toString("latin1");
  };

  it("detaches on the keys typed one by one or arriving together", () => {
    const f = new DetachKeyFilter(keys);
    assert.equal(push(f, "ls\n"), "ls\n");
    assert.equal(push(f, "\x10"), "", "the first key is held back");
    assert.equal(push(f, "\x11"), "detach");
    assert.equal(push(new DetachKeyFilter(keys), "\x10\x11"), "detach");
  });

  it("gives held keys back when the sequence breaks, and never detaches inside other data", () => {
    const f = new DetachKeyFilter(keys);
    assert.equal(push(f, "\x10"), "");
    assert.equal(push(f, "x"), "\x10x");
    assert.equal(push(f, "a\x10\x11b"), "a\x10\x11b", "pasted data with the keys inside");
    assert.equal(push(f, "\x10"), "");
    assert.equal(push(f, "\x10"), "\x10\x10", "a repeated first key breaks the sequence, as in dockerd");
  });

  it("parses Docker's key specs and refuses bad ones", () => {
    assert.deepEqual(parseDetachKeys("ctrl-a,b"), [1, 98]);
    assert.deepEqual(parseDetachKeys("ctrl-@,ctrl-["), [0, 27]);
    assert.throws(() => parseDetachKeys("ctrl-"), /Invalid detach keys/);
  });
});
