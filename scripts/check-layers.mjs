#!/usr/bin/env node
// Fails when a module imports from a layer above it (see docs/ARCHITECTURE.md "Layers")
// or when the import graph has a cycle. Data flows down; nothing imports upward.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const src = join(root, "src");

// layer -> layers it may import (besides itself)
const allowed = {
  common: [],
  runtime: ["common"],
  image: ["common", "runtime"],
  network: ["common"],
  volume: ["common"],
  engine: ["common", "runtime", "image", "network", "volume"],
  cluster: ["common"],
  agent: ["common", "cluster", "engine", "runtime", "image", "network", "volume"],
  cli: ["common", "runtime", "image", "network", "volume", "engine", "cluster", "agent"],
};

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

const layerOf = (file) => relative(src, file).split(sep)[0];
const files = walk(src);
const graph = new Map();
const problems = [];
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const deps = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+["'](\.[^"']+)["']/g)) {
    const target = resolve(dirname(file), m[1]);
    deps.push(target);
    const from = layerOf(file);
    const to = layerOf(target);
    if (from === to || !(from in allowed)) continue;
    if (!allowed[from].includes(to)) {
      problems.push(`${relative(root, file)}: layer "${from}" must not import from "${to}" (${m[1]})`);
    }
  }
  graph.set(file, deps);
}

// Cycle detection (DFS with colours) over module files.
const colour = new Map();
function visit(node, stack) {
  colour.set(node, 1);
  stack.push(node);
  for (const dep of graph.get(node) ?? []) {
    if (!graph.has(dep)) continue;
    if (colour.get(dep) === 1) {
      const cycle = stack.slice(stack.indexOf(dep)).concat(dep).map((f) => relative(root, f));
      problems.push(`import cycle: ${cycle.join(" -> ")}`);
    } else if (!colour.get(dep)) visit(dep, stack);
  }
  stack.pop();
  colour.set(node, 2);
}
for (const f of files) if (!colour.get(f)) visit(f, []);

for (const layer of new Set(files.map(layerOf))) {
  if (!(layer in allowed) && !layer.endsWith(".ts")) problems.push(`src/${layer}: unknown layer, add it to scripts/check-layers.mjs`);
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`layers ok (${files.length} modules)`);
