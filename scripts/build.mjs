#!/usr/bin/env node
// Bundles each CLI into one ES module file under dist/, so start-up reads one file
// instead of resolving hundreds of modules (the runtime CLI is on every container's path).
import { build } from "esbuild";

const entries = {
  "gantry-runtime": "src/cli/runtime/main.ts",
  gantry: "src/cli/gantry/main.ts",
};
await Promise.all(
  Object.entries(entries).map(([name, entry]) =>
    build({
      entryPoints: { [name]: entry },
      outdir: "dist",
      outExtension: { ".js": ".mjs" },
      // Code behind a dynamic import() (the config schema, for example) becomes its own
      // chunk, loaded only by the commands that need it; minified code parses faster.
      splitting: true,
      chunkNames: `chunks/${name}-[hash]`,
      minify: true,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      sourcemap: "linked",
      // Native addons and heavy optional packages stay outside the bundle.
      external: ["better-sqlite3", "etcd3", "protobufjs", "cpu-features", "ssh2"],
      banner: {
        js: "import { createRequire as __gantryCreateRequire } from 'node:module'; const require = __gantryCreateRequire(import.meta.url);",
      },
      logLevel: "warning",
    }),
  ),
);
