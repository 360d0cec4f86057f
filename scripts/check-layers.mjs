#!/usr/bin/env node
// The layer check (run by `npm run lint`): fails when a module imports from a layer it may
// not use, reaches into another layer past that layer's public module, or is part of an
// import cycle. The table below is the one in docs/ARCHITECTURE.md ("Layers"); data flows
// down and nothing imports upward.
//
// Every kind of import counts, because each is coupling: static imports, `import type`
// (a type pulls its layer's vocabulary into the importer), `export … from`, dynamic
// `import("…")` and `require("…")`. TypeScript's own pre-processor finds them, so an import
// written in a comment or a string is not one, and one split over lines is.
//
// Usage: node scripts/check-layers.mjs [SRC_DIR]   (default: the repository's src/)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/**
 * Layer → the layers it may import besides itself. A layer is a folder under src/; the
 * cluster and the CLIs are split one level further, because their rooms must not lean on
 * each other (DESIGN.md: controllers, scheduler, proxy and DNS talk only to the API).
 */
export const LAYERS = {
  common: [],
  runtime: ["common"],
  // a build's RUN steps run in Gantry's own containers
  image: ["common", "runtime"],
  network: ["common"],
  volume: ["common"],
  engine: ["common", "runtime", "image", "network", "volume"],
  "cluster/store": ["common"],
  // the typed client, its informers and work queue: what every cluster loop is built on
  "cluster/client": ["common"],
  // the API server serves the store, and implements the client's interface in-process
  "cluster/api": ["common", "cluster/store", "cluster/client"],
  "cluster/controllers": ["common", "cluster/client"],
  "cluster/scheduler": ["common", "cluster/client"],
  // kubemark's hollow nodes: Nodes, Leases and pod statuses through the API, nothing run
  "cluster/hollow": ["common", "cluster/client"],
  "cluster/proxy": ["common", "cluster/client"],
  "cluster/dns": ["common", "cluster/client"],
  "cluster/netpol": ["common", "cluster/client"],
  // the node agent drives this host's container libraries (as the kubelet drives its
  // runtime), and is the only part of the cluster that may
  "cluster/agent": ["common", "cluster/client", "engine", "runtime", "image", "network", "volume"],
  // `gantry cluster create|load|delete`: nodes as network namespaces, images copied to them
  "cluster/local": ["common", "cluster/client", "image", "network"],
  // the web dashboard: its server passes the browser app's requests to an API unchanged (the
  // API decides); src/dashboard/ui is the browser app, which imports no layer at all
  dashboard: ["common"],
  // the OCI runtime's CLI (gantry-runtime) starts once per container: the runtime only
  "cli/runtime": ["common", "runtime"],
  "cli/gantry": ["common", "runtime", "image", "network", "volume", "engine", "cluster/store", "cluster/client", "cluster/api", "cluster/agent", "cluster/controllers", "cluster/scheduler", "cluster/hollow", "cluster/proxy", "cluster/dns", "cluster/netpol", "cluster/local", "dashboard"],
};

/** Folders whose sub-folders are the layers. */
const SPLIT = new Set(["cluster", "cli"]);
/** A layer's public module: the one file other layers import it through. */
const PUBLIC_MODULES = ["index.ts", "mod.ts"];
/** Layers whose every file is public: a toolbox of one-idea modules (Deno's std style). A
 * file named `_x.ts` is private to its layer even there. */
const OPEN_LAYERS = new Set(["common"]);

/** The layer a path under SRC belongs to, or undefined for a file outside any layer folder. */
function layerOf(src, file) {
  const parts = relative(src, file).split(sep);
  if (parts.length < 2) return undefined;
  if (SPLIT.has(parts[0])) return parts.length < 3 ? parts[0] : `${parts[0]}/${parts[1]}`;
  return parts[0];
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(p)) out.push(p);
  }
  return out;
}

function importsOf(file) {
  const text = readFileSync(file, "utf8");
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName, pos }) => {
    const before = text.slice(Math.max(0, pos - 40), pos);
    const kind = /import\s*\(\s*["'`]?$/.test(before) ? "dynamic import" : /require\s*\(\s*["'`]?$/.test(before) ? "require" : "import";
    const line = text.slice(0, pos).split("\n").length;
    return { specifier: fileName, kind, line };
  });
}

/** Every problem in the tree under SRC, as one message each (empty when the layers hold). */
export function checkLayers(src) {
  const root = dirname(src);
  const name = (f) => relative(root, f);
  const files = walk(src);
  const graph = new Map();
  const problems = [];

  for (const file of files) {
    const from = layerOf(src, file);
    if (from === undefined || !(from in LAYERS)) continue; // reported once per folder below
    const deps = [];
    for (const { specifier, kind, line } of importsOf(file)) {
      if (!specifier.startsWith(".")) continue; // a package or node: builtin
      const target = resolve(dirname(file), specifier);
      deps.push(target);
      const to = layerOf(src, target);
      if (to === from) continue;
      const where = `${name(file)}:${line}: ${kind} "${specifier}"`;
      if (to === undefined || !(to in LAYERS)) {
        problems.push(`${where} leaves the layers (${name(target)} is in no layer of scripts/check-layers.mjs)`);
        continue;
      }
      if (!LAYERS[from].includes(to)) {
        const may = LAYERS[from].length ? LAYERS[from].join(", ") : "nothing";
        problems.push(`${where}: layer "${from}" must not import from layer "${to}" (it may import: ${may})`);
        continue;
      }
      const file_ = target.slice(join(src, to).length + 1);
      const isPublic = OPEN_LAYERS.has(to) ? !file_.split(sep).some((p) => p.startsWith("_")) : PUBLIC_MODULES.includes(file_);
      if (!isPublic) {
        const entry = OPEN_LAYERS.has(to) ? `a public file of src/${to} (not a _private one)` : `src/${to}/${PUBLIC_MODULES.join(" or ")}`;
        problems.push(`${where} reaches past the public module of layer "${to}": import ${entry}, and export what is needed there`);
      }
    }
    graph.set(file, deps);
  }

  // Cycle detection (depth-first with colours) over module files: a cycle inside one layer
  // is as much a knot as one across layers.
  const colour = new Map();
  const visit = (node, stack) => {
    colour.set(node, 1);
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (!graph.has(dep)) continue;
      if (colour.get(dep) === 1) {
        problems.push(`import cycle: ${stack.slice(stack.indexOf(dep)).concat(dep).map(name).join(" -> ")}`);
      } else if (!colour.get(dep)) visit(dep, stack);
    }
    stack.pop();
    colour.set(node, 2);
  };
  for (const f of files) if (!colour.get(f)) visit(f, []);

  const unknown = new Set();
  for (const f of files) {
    const layer = layerOf(src, f);
    if (layer === undefined) unknown.add(name(f));
    else if (!(layer in LAYERS)) unknown.add(`src/${layer}`);
  }
  for (const u of unknown) problems.push(`${u}: in no layer — add its folder to the table in scripts/check-layers.mjs (and docs/ARCHITECTURE.md)`);
  return problems;
}

/** The table itself must flow one way: a layer may not (transitively) import itself. */
function checkTable() {
  const problems = [];
  const reach = (layer, seen = new Set()) => {
    for (const l of LAYERS[layer] ?? []) {
      if (seen.has(l)) continue;
      seen.add(l);
      reach(l, seen);
    }
    return seen;
  };
  for (const layer of Object.keys(LAYERS)) {
    for (const l of LAYERS[layer]) if (!(l in LAYERS)) problems.push(`layer table: "${layer}" may import unknown layer "${l}"`);
    if (reach(layer).has(layer)) problems.push(`layer table: "${layer}" can reach itself`);
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "src"));
  const problems = [...checkTable(), ...checkLayers(src)];
  if (problems.length) {
    console.error(problems.join("\n"));
    console.error(`\n${problems.length} layer problem${problems.length === 1 ? "" : "s"} (the rules: docs/ARCHITECTURE.md, "Layers")`);
    process.exit(1);
  }
  console.log(`layers ok (${walk(src).length} modules)`);
}
