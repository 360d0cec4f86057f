#!/usr/bin/env node
// Runs the whole test suite with node's own runner (node:test) through tsx, one process per
// test file, two at a time. Each file has a time limit, so a file whose process never exits
// (a server left open) is reported by name and killed instead of hanging CI.
// Usage: node scripts/test.mjs [path-substring ...]   (filters test files)
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";

const FILE_TIMEOUT_MS = Number(process.env.GANTRY_TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);
const CONCURRENCY = Number(process.env.GANTRY_TEST_CONCURRENCY ?? 2);

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = ["src", "test"]
  .flatMap((d) => {
    try {
      return walk(d);
    } catch {
      return [];
    }
  })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

const totals = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
const problems = [];
const started = Date.now();

function runFile(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", file], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, FILE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      const count = (k) => Number(new RegExp(`ℹ ${k} (\\d+)`).exec(out)?.[1] ?? 0);
      totals.pass += count("pass");
      totals.fail += count("fail");
      totals.skipped += count("skipped");
      totals.cancelled += count("cancelled");
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`\n=== ${file} (${secs}s)\n${out}`);
      if (timedOut) problems.push(`${file}: did not finish within ${FILE_TIMEOUT_MS / 1000}s (killed)`);
      else if (code !== 0) problems.push(`${file}: exited with ${code}`);
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) await runFile(f);
  }),
);
console.log(`\n${files.length} test files in ${((Date.now() - started) / 1000).toFixed(0)}s`);
for (const p of problems) console.log(`✖ ${p}`);
console.log(`${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${totals.skipped} skipped`);
process.exit(problems.length || totals.fail || totals.cancelled ? 1 : 0);
