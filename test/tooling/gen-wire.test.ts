// The wire generator (scripts/gen-wire.mjs) as CI runs it: `npm run lint` includes
// `gen-wire.mjs --check`, which must fail naming each generated file that no longer matches
// the tables (a hand edit, or a table change nobody regenerated) and pass on a fresh copy.
// Run on a copy of the script and its outputs, so the repository is never touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const repo = join(import.meta.dirname, "..", "..");
const GENERATED = ["src/runtime/plan/plan-ops.ts", "native/src/plan-ops.h", "native/src/plan-ops.c"];

/** A scratch tree holding the generator and its committed outputs; removed after `fn`. */
function withCopy(fn: (dir: string, gen: (...args: string[]) => { status: number | null; stderr: string; stdout: string }) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "gantry-gen-wire-"));
  try {
    for (const path of ["scripts/gen-wire.mjs", ...GENERATED]) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      copyFileSync(join(repo, path), join(dir, path));
    }
    fn(dir, (...args) => spawnSync(process.execPath, [join(dir, "scripts", "gen-wire.mjs"), ...args], { encoding: "utf8" }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("lint runs the stale check", () => {
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.lint!, /node scripts\/gen-wire\.mjs --check/);
  assert.match(readFileSync(join(repo, "scripts", "test-all.sh"), "utf8"), /npm run -s lint/);
});

test("the committed outputs are what the tables generate", () => {
  withCopy((_dir, gen) => {
    const r = gen("--check");
    assert.equal(r.status, 0, r.stderr);
  });
});

test("a hand-edited output fails the check, naming the file; regenerating fixes it", () => {
  withCopy((dir, gen) => {
    appendFileSync(join(dir, "native/src/plan-ops.c"), "/* edited by hand */\n");
    let r = gen("--check");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /native\/src\/plan-ops\.c: stale/);
    assert.doesNotMatch(r.stderr, /plan-ops\.h|plan-ops\.ts/);
    r = gen();
    assert.equal(r.status, 0, r.stderr);
    r = gen("--check");
    assert.equal(r.status, 0, r.stderr);
  });
});

test("a table change without regenerating fails the check for every output", () => {
  withCopy((dir, gen) => {
    const script = join(dir, "scripts", "gen-wire.mjs");
    const text = readFileSync(script, "utf8");
    const changed = text.replace('{ msg: "pty", channel: "sync", fields: [],', '{ msg: "pty", channel: "sync", fields: [["at", u64]],');
    assert.notEqual(changed, text, "the table entry to change is there");
    writeFileSync(script, changed);
    const r = gen("--check");
    assert.equal(r.status, 1);
    for (const path of GENERATED) assert.match(r.stderr, new RegExp(path.replace(/\./g, "\\.")));
  });
});
