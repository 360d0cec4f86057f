#!/usr/bin/env node
// Bundles each CLI into one file under dist/, so start-up reads one file instead of
// resolving hundreds of modules.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  // minified code parses faster
  minify: !process.env.GANTRY_NO_MINIFY,
  sourcemap: "linked",
  logLevel: "warning",
};

// Chunk names are content hashes: old ones would pile up.
rmSync("dist/chunks", { recursive: true, force: true });
rmSync("dist/dashboard", { recursive: true, force: true });
mkdirSync("dist/dashboard", { recursive: true });
copyFileSync("src/dashboard/ui/index.html", "dist/dashboard/index.html");
await Promise.all([
  // The web dashboard (`--dashboard-listen`): the browser app, served by the daemons from
  // dist/dashboard (src/dashboard/assets.ts). Its CSS imports (uPlot's, its own) become app.css.
  build({
    entryPoints: { app: "src/dashboard/ui/main.tsx" },
    outdir: "dist/dashboard",
    bundle: true,
    platform: "browser",
    format: "esm",
    target: ["chrome110", "firefox110", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: !process.env.GANTRY_NO_MINIFY,
    sourcemap: "linked",
    logLevel: "warning",
  }),
  // The runtime CLI starts once per container, so it is built for start-up time: CommonJS
  // (node's ESM loader costs ~15 ms more per start, mostly facades for builtin modules)
  // and no chunks — code behind import() (the config schema) is compiled lazily by V8 and
  // only initialised by the commands that need it.
  build({
    ...common,
    entryPoints: ["src/cli/runtime/main.ts"],
    outfile: "dist/gantry-runtime.cjs",
    format: "cjs",
    // the one use of import.meta (finding native/build next to the bundle) gets the file's URL
    define: { "import.meta.url": "__gantryModuleUrl" },
    banner: { js: "const __gantryModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  }),
  build({
    ...common,
    // `gantry agent` has its own entry (bin/gantry picks it): a node's long-lived process loads
    // only the agent, the engine and the API client; shared code lands in chunks.
    entryPoints: { gantry: "src/cli/gantry/main.ts", "gantry-agent": "src/cli/gantry/agent-main.ts" },
    outdir: "dist",
    outExtension: { ".js": ".mjs" },
    // Code behind a dynamic import() becomes its own chunk, loaded only by the commands
    // that need it.
    splitting: true,
    chunkNames: "chunks/gantry-[hash]",
    format: "esm",
    // Native addons and heavy optional packages stay outside the bundle.
    external: ["better-sqlite3", "etcd3", "protobufjs", "cpu-features", "ssh2"],
    banner: {
      js: "import { createRequire as __gantryCreateRequire } from 'node:module'; const require = __gantryCreateRequire(import.meta.url);",
    },
  }),
]);
// The launcher's V8 code cache belongs to the old bundle (see bin/gantry-runtime).
rmSync("dist/gantry-runtime.cjs.cache", { force: true });
// `node dist/gantry-runtime.mjs` keeps working for callers that name the ES module.
writeFileSync("dist/gantry-runtime.mjs", 'import "./gantry-runtime.cjs";\n');
