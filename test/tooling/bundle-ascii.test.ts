// The bundles under dist/ are pure ASCII. V8 keeps a script's source for as long as any of its
// functions may still be compiled, one byte per character — unless a single character does
// not fit in Latin-1, and then the whole source takes two: the node agent's 800 kB chunk took
// 1.6 MB of its heap because of one "µs" in a regular expression. esbuild writes strings and
// templates in ASCII by itself (its default charset) but not regex literals, which need \u00b5.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dist = join(import.meta.dirname, "..", "..", "dist");
const skip = existsSync(join(dist, "gantry-agent.mjs")) ? false : "dist/ is not built (npm run build)";

test("every bundle in dist/ is ASCII, so V8 keeps its source one byte per character", { skip }, () => {
  const files = [...readdirSync(dist).map((f) => join(dist, f)), ...readdirSync(join(dist, "chunks")).map((f) => join(dist, "chunks", f))].filter((f) => /\.(mjs|cjs)$/.test(f));
  assert.ok(files.length >= 3, files.join(" "));
  for (const file of files) {
    const text = readFileSync(file, "latin1");
    const at = text.search(/[^\x00-\x7f]/);
    assert.equal(at, -1, `${file} has a non-ASCII byte at ${at}: …${text.slice(Math.max(0, at - 60), at + 20)}…`);
  }
});
