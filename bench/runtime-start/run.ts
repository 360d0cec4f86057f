// bench/runtime-start: create+start+wait+delete of a /bin/true container — Gantry's CLI vs
// runc vs crun on the same bundle, the native helper driven directly (no Node start-up:
// what the engine pays per container), and a bare `node -e 0` — all in one hyperfine run.
// Usage (root): npx tsx bench/runtime-start/run.ts [--runs N] [--rounds K] [--also NAME=BIN]...
// --also adds another gantry-runtime (e.g. a build of an older commit) to the same run.
// --rounds K splits the N runs of each command over K hyperfine passes (all commands in each)
// and takes the medians over all of them: hyperfine times one command after the other, so on
// a shared machine a change of load would otherwise fall on some commands only.
// node's start-up is measured without NODE_EXTRA_CA_CERTS, which the launcher drops for the
// CLI: node parses every certificate it names as it starts (tens of ms), which would
// inflate the `node -e 0` baseline. When the caller's environment has it, one more row
// shows what it costs node.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { makeBundle, REPO, RUNTIME_BIN } from "../../test/helpers/busybox-bundle.ts";
import { openCgroups } from "../../src/runtime/cgroups/index.ts";
import { planCreate } from "../../src/runtime/plan/plan.ts";
import { encodeRecords } from "../../src/runtime/plan/wire.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 30;
const rounds = Math.min(runs, Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 1);
const also = process.argv.flatMap((a, i) => (process.argv[i - 1] === "--also" ? [a.split(/=(.*)/s) as [string, string]] : []));
if (process.getuid?.() !== 0) throw new Error("run as root");
for (const bin of ["hyperfine"]) if (spawnSync("which", [bin]).status !== 0) throw new Error(`${bin} missing: apt-get install -y ${bin}`);

const work = mkdtempSync(join(tmpdir(), "gantry-bench-"));
const bundle = makeBundle(["/bin/true"], (c) => {
  c.root!.readonly = true;
  c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "cgroup");
});
const roots: Record<string, string> = { gantry: join(work, "gantry"), runc: join(work, "runc"), crun: join(work, "crun") };
also.forEach((_, i) => (roots[`also${i}`] = join(work, `also${i}`)));
for (const r of Object.values(roots)) mkdirSync(r);

// The helper-only path: the plan TypeScript would build, saved to a file and run straight
// by the C binary in foreground mode, without the create/start split (no start socket).
const cg = openCgroups({ cgroupsPath: "/gantry-bench/helper", containerId: "helper", create: true });
const plan = planCreate(bundle.config, {
  mode: "foreground",
  rootfs: bundle.rootfs,
  startSocket: join(work, "start.sock"),
  terminal: "none",
  cgroupProcsFiles: cg.procsFiles(),
  cgroupMounts: { version: cg.version, hierarchies: {}, unified: cg.paths.unified },
  hookState: "{}",
  capLastCap: Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8")),
  isDirectory: (p) => existsSync(p),
}).filter((r) => r[0] !== "start-socket" && r[0] !== "wait-start");
const planFile = join(work, "plan.bin");
writeFileSync(planFile, encodeRecords(plan));
const helper = join(REPO, "native/build/gantry-helper");

const candidates: [string, string][] = [
  ["node -e 0", "node -e 0"],
  ["gantry-runtime run", `${RUNTIME_BIN} --root ${roots.gantry} run --bundle ${bundle.dir} bench`],
  ...also.map(([name, bin], i): [string, string] => [name, `${bin} --root ${roots[`also${i}`]} run --bundle ${bundle.dir} bench`]),
  ["gantry-helper (no node)", `${helper} --plan ${planFile}`],
  ["runc run", `runc --root ${roots.runc} run --bundle ${bundle.dir} bench`],
  ["crun run", `crun --root ${roots.crun} run --bundle ${bundle.dir} bench`],
];
// crun refuses hybrid cgroup hosts (v1 plus a cgroup2 mount); hide the cgroup2 mount in a
// private mount namespace for it, and time that wrapper alone so it can be subtracted.
const hybrid = readFileSync("/proc/self/mountinfo", "utf8").includes(" /sys/fs/cgroup/unified ");
if (hybrid) {
  const hide = "unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec \"$0\" \"$@\"'";
  candidates.push(["crun run (cgroup2 hidden)", `${hide} crun --root ${roots.crun} run --bundle ${bundle.dir} bench`]);
  candidates.push(["hide-cgroup2 wrapper alone", `${hide} true`]);
}
const env = { ...process.env };
const extraCa = env.NODE_EXTRA_CA_CERTS;
delete env.NODE_EXTRA_CA_CERTS;
if (extraCa) candidates.splice(1, 0, ["node -e 0 (NODE_EXTRA_CA_CERTS set)", `env NODE_EXTRA_CA_CERTS=${extraCa} node -e 0`]);
const usable = candidates.filter(([name, cmd]) => {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8", env });
  if (r.status !== 0) console.log(`skipping ${name}: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
  return r.status === 0;
});

const json = join(work, "out.json");
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const times = new Map<string, number[]>(usable.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  const n = Math.floor(runs / rounds) + (round < runs % rounds ? 1 : 0);
  spawnSync("hyperfine", ["-N", "--warmup", "3", "--runs", String(n), "--export-json", json, ...usable.flatMap(([name, c]) => ["-n", name, c])], {
    stdio: rounds > 1 ? ["ignore", "ignore", "inherit"] : "inherit",
    env,
  });
  for (const r of JSON.parse(readFileSync(json, "utf8")).results as { command: string; times: number[] }[]) times.get(r.command)?.push(...r.times);
}
const loadAfter = load();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (name: string) => (times.get(name)?.length ? median(times.get(name)!) * 1000 : NaN);
console.log(
  `\nmedian wall time (ms) and ratios, ${runs} runs each in ${rounds} round(s) (load average before: ${loadBefore}, after: ${loadAfter}; ${process.env.NODE_EXTRA_CA_CERTS ? "NODE_EXTRA_CA_CERTS removed" : "no NODE_EXTRA_CA_CERTS"}):`,
);
for (const name of times.keys()) console.log(`  ${name.padEnd(36)} ${ms(name).toFixed(1).padStart(7)} ms`);
const line = (a: string, b: string) => console.log(`  ${a} / ${b}: ${(ms(a) / ms(b)).toFixed(2)}`);
if (!hybrid) line("gantry-helper (no node)", "crun run");
else {
  const crun = ms("crun run (cgroup2 hidden)") - ms("hide-cgroup2 wrapper alone");
  console.log(`  crun run without the wrapper ≈ ${crun.toFixed(1)} ms; gantry-helper / that: ${(ms("gantry-helper (no node)") / crun).toFixed(2)}`);
}
line("gantry-helper (no node)", "runc run");
console.log(`  gantry-runtime run - node -e 0: ${(ms("gantry-runtime run") - ms("node -e 0")).toFixed(1)} ms (target: <= runc run = ${ms("runc run").toFixed(1)} ms)`);
line("gantry-runtime run", "node -e 0");
console.log(`  gantry-runtime run / (node -e 0 + runc run): ${(ms("gantry-runtime run") / (ms("node -e 0") + ms("runc run"))).toFixed(2)} (target: <= 1)`);

await cg.destroy();
bundle.cleanup();
rmSync(work, { recursive: true, force: true });
