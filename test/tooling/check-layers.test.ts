// The layer check (scripts/check-layers.mjs) run on small fixture trees: each breaks one rule
// on purpose and must fail with a message naming the file, the import and the rule; a tree
// that keeps the rules, and the repository's own src/, must pass.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const repo = join(import.meta.dirname, "..", "..");
const checker = join(repo, "scripts", "check-layers.mjs");

/** A tree that keeps every rule: each layer imported through its public module. */
const goodTree: Record<string, string> = {
  "common/errors.ts": `export class GantryError extends Error {}\n`,
  "runtime/index.ts": `export { Runtime } from "./runtime.ts";\n`,
  "runtime/runtime.ts": `import { GantryError } from "../common/errors.ts";\nexport class Runtime { e = GantryError; }\n`,
  "image/mod.ts": `import { Runtime } from "../runtime/index.ts";\nexport const image = Runtime;\n`,
  "engine/index.ts": `export { startDaemon } from "./daemon.ts";\n`,
  "engine/daemon.ts": `import type { Runtime } from "../runtime/index.ts";\nexport async function startDaemon(r: Runtime) { const { image } = await import("../image/mod.ts"); return [r, image]; }\n`,
  "cluster/store/index.ts": `export interface Store { get(): void }\n`,
  "cluster/client/index.ts": `export class ApiClient {}\n`,
  "cluster/api/index.ts": `import type { Store } from "../store/index.ts";\nimport { ApiClient } from "../client/index.ts";\nexport const serve = (s: Store) => [s, ApiClient];\n`,
  "cluster/controllers/gc.ts": `import { ApiClient } from "../client/index.ts";\nexport const gc = new ApiClient();\n`,
  "cluster/agent/agent.ts": `import { ApiClient } from "../client/index.ts";\nimport { startDaemon } from "../../engine/index.ts";\nexport const agent = [ApiClient, startDaemon];\n`,
  // an import in a comment or a string is not one
  "runtime/quiet.ts": `// import { x } from "../engine/index.ts";\nexport const s = 'import("../engine/daemon.ts")';\n`,
  "cli/gantry/main.ts": `import { startDaemon } from "../../engine/index.ts";\nimport { serve } from "../../cluster/api/index.ts";\nexport const main = [startDaemon, serve];\n`,
};

function runChecker(extra: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), "gantry-layers-"));
  try {
    for (const [path, text] of Object.entries({ ...goodTree, ...extra })) {
      const file = join(dir, "src", path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    const r = spawnSync(process.execPath, [checker, join(dir, "src")], { encoding: "utf8", cwd: repo });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the good tree plus one bad file and returns the problem lines. */
function problems(extra: Record<string, string>): string[] {
  const r = runChecker(extra);
  assert.equal(r.status, 1, `the checker passed a broken tree:\n${r.stdout}${r.stderr}`);
  return r.stderr.split("\n").filter((l) => l.startsWith("src/") || l.startsWith("import cycle"));
}

test("a tree that keeps the rules passes", () => {
  const r = runChecker({});
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layers ok \(\d+ modules\)/);
});

test("an upward import fails, naming file, line, import and rule", () => {
  assert.deepEqual(problems({ "runtime/bad.ts": `import { x } from "../common/errors.ts";\nimport { startDaemon } from "../engine/index.ts";\n` }), [
    `src/runtime/bad.ts:2: import "../engine/index.ts": layer "runtime" must not import from layer "engine" (it may import: common)`,
  ]);
});

test("a dynamic upward import fails", () => {
  assert.deepEqual(problems({ "runtime/lazy.ts": `export async function f() {\n  return await import("../engine/index.ts");\n}\n` }), [
    `src/runtime/lazy.ts:2: dynamic import "../engine/index.ts": layer "runtime" must not import from layer "engine" (it may import: common)`,
  ]);
});

test("type-only imports, re-exports and require count", () => {
  assert.deepEqual(
    problems({
      "network/t.ts": `import type { Runtime } from "../runtime/index.ts";\nexport type { Store } from "../cluster/store/index.ts";\nconst r = require("../engine/index.ts");\nexport const x: Runtime | undefined = r;\n`,
    }),
    [
      `src/network/t.ts:1: import "../runtime/index.ts": layer "network" must not import from layer "runtime" (it may import: common)`,
      `src/network/t.ts:2: import "../cluster/store/index.ts": layer "network" must not import from layer "cluster/store" (it may import: common)`,
      `src/network/t.ts:3: require "../engine/index.ts": layer "network" must not import from layer "engine" (it may import: common)`,
    ],
  );
});

test("an import past a layer's public module fails", () => {
  assert.deepEqual(problems({ "engine/deep.ts": `import { Runtime } from "../runtime/runtime.ts";\nexport const r = Runtime;\n` }), [
    `src/engine/deep.ts:1: import "../runtime/runtime.ts" reaches past the public module of layer "runtime": import src/runtime/index.ts or mod.ts, and export what is needed there`,
  ]);
});

test("common's files are each public, except _private ones", () => {
  assert.deepEqual(problems({ "common/_inner.ts": `export const y = 1;\n`, "runtime/uses.ts": `import { GantryError } from "../common/errors.ts";\nimport { y } from "../common/_inner.ts";\nexport const z = [GantryError, y];\n` }), [
    `src/runtime/uses.ts:2: import "../common/_inner.ts" reaches past the public module of layer "common": import a public file of src/common (not a _private one), and export what is needed there`,
  ]);
});

test("the cluster's rooms: a controller may not use the store or the API server, the API server may not use a controller", () => {
  assert.deepEqual(
    problems({
      "cluster/controllers/raw.ts": `import type { Store } from "../store/index.ts";\nimport { serve } from "../api/index.ts";\nexport const x = [serve] as unknown as Store;\n`,
      "cluster/api/up.ts": `import { gc } from "../controllers/gc.ts";\nexport const y = gc;\n`,
      "cluster/scheduler/s.ts": `import { startDaemon } from "../../engine/index.ts";\nexport const s = startDaemon;\n`,
    }),
    [
      `src/cluster/api/up.ts:1: import "../controllers/gc.ts": layer "cluster/api" must not import from layer "cluster/controllers" (it may import: common, cluster/store, cluster/client)`,
      `src/cluster/controllers/raw.ts:1: import "../store/index.ts": layer "cluster/controllers" must not import from layer "cluster/store" (it may import: common, cluster/client)`,
      `src/cluster/controllers/raw.ts:2: import "../api/index.ts": layer "cluster/controllers" must not import from layer "cluster/api" (it may import: common, cluster/client)`,
      `src/cluster/scheduler/s.ts:1: import "../../engine/index.ts": layer "cluster/scheduler" must not import from layer "engine" (it may import: common, cluster/client)`,
    ],
  );
});

test("a folder in no layer fails", () => {
  assert.deepEqual(problems({ "cluster/mystery/m.ts": `export const m = 1;\n` }), [
    `src/cluster/mystery: in no layer — add its folder to the table in scripts/check-layers.mjs (and docs/ARCHITECTURE.md)`,
  ]);
});

test("an import cycle fails, static or dynamic", () => {
  const lines = problems({
    "network/a.ts": `import { b } from "./b.ts";\nexport const a = () => b;\n`,
    "network/b.ts": `export async function b() {\n  return import("./a.ts");\n}\n`,
  });
  assert.deepEqual(lines, [`import cycle: src/network/a.ts -> src/network/b.ts -> src/network/a.ts`]);
});

test("the repository's own tree keeps the rules", () => {
  const r = spawnSync(process.execPath, [checker], { encoding: "utf8", cwd: repo });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layers ok/);
});
