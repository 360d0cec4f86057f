#!/usr/bin/env node
// The runtime CLI's node side. bin/gantry-runtime is native/launcher/gantry-runtime.c, which
// forks the native helper and then runs this file with node; running this file directly
// works too (the helper is then spawned from node). The CLI starts once per container, so
// its start-up is tuned:
// - CommonJS (bin/package.json): node's ESM loader costs milliseconds per start;
// - a V8 code cache beside the bundle (dist/gantry-runtime.cjs.cache): compiling the bundle
//   was the largest single cost of a `run`. The cache is written at the end of the first
//   successful create/run that finds none (or a stale one: V8 rejects a cache made for other
//   source or another node), when the functions a container start needs are compiled, so
//   later starts skip parsing and compiling them. `npm run build` deletes it. Where dist/ is
//   read-only, starts simply go uncached.
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const Module = require("node:module");

const bundle = path.join(__dirname, "..", "dist", "gantry-runtime.cjs");
const cacheFile = `${bundle}.cache`;
let source;
try {
  source = fs.readFileSync(bundle, "utf8");
} catch {
  console.error("gantry-runtime: not built yet; run scripts/install-deps.sh (or npm run build) in the repository");
  process.exit(127);
}
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
const startsContainer = process.argv.slice(2).some((a) => a === "run" || a === "create");
if (startsContainer && (!cachedData || script.cachedDataRejected)) {
  process.once("exit", (code) => {
    if (code !== 0) return;
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  });
}
// Run it as node would run the file itself: a module with its own require, __filename, ...
const mod = new Module(bundle, module);
mod.filename = bundle;
mod.paths = Module._nodeModulePaths(path.dirname(bundle));
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
