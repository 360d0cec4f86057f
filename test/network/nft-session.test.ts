// The nft runner of the service proxy and the NetworkPolicy enforcer, against the real nft in a network namespace made here: small
// scripts go through one long-lived `nft -i` as one batch each, large ones through `nft -f`;
// a rejected batch changes nothing, reports nft's error, and the next batch works (a new
// session); the namespace goes at the end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { nftRunner, SESSION_MAX_LINES } from "../../src/common/nft.ts";

const skip = process.getuid?.() !== 0 ? "needs root" : spawnSync("nft", ["--version"]).status !== 0 ? "nft is not installed" : undefined;
const ns = `gantry-nftt-${randomBytes(3).toString("hex")}`;

before(() => {
  if (!skip) assert.equal(spawnSync("ip", ["netns", "add", ns]).status, 0);
});
after(() => {
  if (!skip) spawnSync("ip", ["netns", "del", ns]);
});

const list = () => spawnSync("ip", ["netns", "exec", ns, "nft", "list", "ruleset"], { encoding: "utf8" }).stdout;

test("small scripts go through one nft -i session as one transaction each; a bad one changes nothing and the next works", { skip }, async () => {
  const nft = nftRunner(`/run/netns/${ns}`);
  try {
    await nft.apply(["add table ip t", "add set ip t s { type ipv4_addr; }", "add chain ip t c", "add rule ip t c ip saddr @s counter"]);
    await nft.apply(["add element ip t s { 10.0.0.1 }"]);
    assert.match(list(), /elements = \{ 10\.0\.0\.1 \}/);
    // The second line fails: the first must not be applied either (one batch).
    await assert.rejects(nft.apply(["add element ip t s { 10.0.0.2 }", "add element ip t nosuch { 10.0.0.3 }"]), /nft -i in \/run\/netns\/.*: Error: .*No such file or directory/);
    assert.doesNotMatch(list(), /10\.0\.0\.2/);
    await nft.apply(["delete element ip t s { 10.0.0.1 }", "add element ip t s { 10.0.0.4 }"]);
    assert.match(list(), /elements = \{ 10\.0\.0\.4 \}/);
    // A script longer than the session takes goes through nft -f, also whole or not at all.
    const many = Array.from({ length: SESSION_MAX_LINES + 1 }, (_, i) => `add element ip t s { 10.1.${i >> 8}.${i & 255} }`);
    await nft.apply(many);
    assert.match(list(), /10\.1\.1\.144/);
    await assert.rejects(nft.apply([...many.map((l) => l.replace("10.1.", "10.2.")), "add element ip t nosuch { 1.1.1.1 }"]), /nft -f - in .* exited 1/);
    assert.doesNotMatch(list(), /10\.2\.0\.1\b/);
    assert.equal(await nft.run(["list", "tables"]), "table ip t\n");
    // A table written as a block across lines goes through nft -f.
    await nft.apply(["add table ip u", "delete table ip u", "table ip u {", "  set s { type ipv4_addr; }", "}", "add element ip u s { 10.3.0.1 }"]);
    assert.match(list(), /table ip u \{\n\tset s \{\n\t\ttype ipv4_addr\n\t\telements = \{ 10\.3\.0\.1 \}/);
  } finally {
    nft.close();
  }
});

test("a namespace that does not exist: both ways fail with what nsenter said", { skip }, async () => {
  const nft = nftRunner(`/run/netns/${ns}-nosuch`);
  try {
    await assert.rejects(nft.apply(["add table ip t"]), /nft -i exited .*nsenter: .*No such file or directory/);
    await assert.rejects(nft.apply(["add table ip t", "delete table ip t", "table ip t {", "}"]), /nft -f - in .*-nosuch exited 1: nsenter: .*No such file or directory/);
  } finally {
    nft.close();
  }
});
