// Where the CPU of `docker run --rm busybox true` goes, per container: the gantry daemon
// (node), the native spawner and monitors it forks, and the docker CLI — each group in its
// own cpuacct cgroup (cgroup v1; on a v2-only host, cpu.stat of a v2 group), so the numbers
// are the kernel's, not sampled. With --baseline DIR (another checkout of Gantry, built:
// node_modules, native/build) both daemons run side by side and the rounds alternate
// between them, so a change of load on a shared machine falls on both: what each commit
// on the start path claims is measured this way. Under concurrency on a small machine the
// cost per container is CPU, and the daemon's main thread is one serial resource.
// Usage (root): node --import tsx bench/engine/cpu-per-container.ts [--runs 40] [--width 4]
//               [--rounds 3] [--network none|bridge] [--baseline DIR]
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import type * as DaemonFixture from "../../test/engine/_daemon.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const RUNS = Number(arg("runs", "40"));
const WIDTH = Number(arg("width", "4"));
const ROUNDS = Number(arg("rounds", "3"));
const NETWORK = arg("network", "none");
const BASELINE = process.argv.includes("--baseline") ? resolve(arg("baseline", "")) : undefined;
const HERE = resolve(import.meta.dirname, "..", "..");
if (process.getuid?.() !== 0) throw new Error("run as root");

// ---- CPU accounting groups ---------------------------------------------------------------
const V1 = "/sys/fs/cgroup/cpuacct";
const v1 = existsSync(join(V1, "cpuacct.usage"));
const CG_ROOT = v1 ? join(V1, `gantry-cpu-bench-${process.pid}`) : join("/sys/fs/cgroup", existsSync("/sys/fs/cgroup/unified") ? "unified" : "", `gantry-cpu-bench-${process.pid}`);
const made: string[] = [];
function group(name: string): { path: string; usageMs: () => number; add: (pid: number) => void } {
  const path = join(CG_ROOT, name);
  mkdirSync(path, { recursive: true });
  made.push(path);
  return {
    path,
    usageMs: () =>
      v1 ? Number(readFileSync(join(path, "cpuacct.usage"), "utf8")) / 1e6 : Number(/usage_usec (\d+)/.exec(readFileSync(join(path, "cpu.stat"), "utf8"))![1]) / 1e3,
    add: (pid) => {
      try {
        writeFileSync(join(path, "cgroup.procs"), String(pid));
      } catch {
        /* exited meanwhile */
      }
    },
  };
}
function removeGroups(): void {
  const parent = v1 ? V1 : join(CG_ROOT, "..");
  for (const path of made.reverse()) {
    try {
      for (const pid of readFileSync(join(path, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) writeFileSync(join(parent, "cgroup.procs"), pid);
      rmdirSync(path);
    } catch {
      /* gone */
    }
  }
  try {
    rmdirSync(CG_ROOT);
  } catch {
    /* not empty: reported by the caller's leak check */
  }
}

/** A process and all its descendants now. */
function descendants(pid: number): number[] {
  const out = [pid];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean)) out.push(...descendants(Number(c)));
    }
  } catch {
    /* exited */
  }
  return out;
}

// ---- one daemon per checkout ---------------------------------------------------------------
interface Subject {
  name: string;
  d: { dir: string; socket: string; child?: { pid?: number } };
  cleanup: () => Promise<void>;
  daemon: ReturnType<typeof group>;
  helpers: ReturnType<typeof group>;
  cli: ReturnType<typeof group>;
  docker: string;
  samples: { wall: number; daemon: number; helpers: number; cli: number }[];
}

async function startSubject(name: string, repo: string, index: number): Promise<Subject> {
  const h = (await import(join(repo, "test", "engine", "_daemon.ts"))) as typeof DaemonFixture;
  const d = h.newDaemonDirs();
  await h.makeBusyboxImage(d.root);
  // With bridge networking, as bench/engine/run-bench.ts (and a default install) runs it:
  // --network none then still goes through the daemon's network library.
  // Each daemon runs its own checkout's native helper (the fixture only sets GANTRY_HELPER
  // when unset, so the second checkout would otherwise get the first one's).
  process.env.GANTRY_HELPER = join(repo, "native", "build", "gantry-helper");
  await h.startTestDaemon(d, { bridge: `gtcpu${index}`, subnet: `10.244.${80 + index}.0/24` });
  const s: Subject = {
    name,
    d,
    cleanup: () => h.cleanup(d),
    daemon: group(`${index}-daemon`),
    helpers: group(`${index}-helpers`),
    cli: group(`${index}-cli`),
    docker: h.DOCKER,
    samples: [],
  };
  // The daemon in one group; what it has forked (the spawner, which forks the monitors) in another.
  const pid = d.child!.pid!;
  for (const p of descendants(pid)) (p === pid ? s.daemon : s.helpers).add(p);
  return s;
}

function runOne(s: Subject): Promise<void> {
  const net = NETWORK === "bridge" ? [] : ["--network", "none"];
  return new Promise((res, rej) => {
    // The CLI joins its group before it execs, so all its CPU is counted there.
    const c = spawn("sh", ["-c", `echo $$ > ${s.cli.path}/cgroup.procs; exec "$@"`, "sh", s.docker, "-H", `unix://${s.d.socket}`, "run", "--rm", ...net, "busybox", "true"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, DOCKER_CONFIG: join(s.d.dir, "docker-config") },
    });
    let err = "";
    c.stderr.on("data", (b: Buffer) => (err += b.toString()));
    c.on("close", (code) => (code === 0 ? res() : rej(new Error(`docker run exited ${code}: ${err}`))));
  });
}

async function round(s: Subject): Promise<void> {
  const before = { daemon: s.daemon.usageMs(), helpers: s.helpers.usageMs(), cli: s.cli.usageMs() };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: WIDTH }, async () => {
      while (next < RUNS) {
        next++;
        await runOne(s);
      }
    }),
  );
  s.samples.push({
    wall: (performance.now() - t0) / RUNS,
    daemon: (s.daemon.usageMs() - before.daemon) / RUNS,
    helpers: (s.helpers.usageMs() - before.helpers) / RUNS,
    cli: (s.cli.usageMs() - before.cli) / RUNS,
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

const subjects: Subject[] = [];
try {
  console.log(`load average at start: ${load()}`);
  subjects.push(await startSubject("this checkout", HERE, 0));
  if (BASELINE) subjects.push(await startSubject(`baseline ${BASELINE}`, BASELINE, 1));
  for (const s of subjects) for (let i = 0; i < WIDTH; i++) await runOne(s); // warm
  for (let r = 0; r < ROUNDS; r++) for (const s of subjects) await round(s);
  console.log(`\ndocker run --rm ${NETWORK === "none" ? "--network none " : ""}busybox true, ${RUNS} containers ${WIDTH} at a time, medians of ${ROUNDS} alternating rounds, per container (ms):`);
  console.log(`  ${"".padEnd(40)} ${"wall".padStart(7)} ${"daemon".padStart(7)} ${"helpers".padStart(8)} ${"CLI".padStart(6)}`);
  for (const s of subjects) {
    const m = (k: "wall" | "daemon" | "helpers" | "cli") => median(s.samples.map((x) => x[k])).toFixed(1);
    console.log(`  ${s.name.padEnd(40)} ${m("wall").padStart(7)} ${m("daemon").padStart(7)} ${m("helpers").padStart(8)} ${m("cli").padStart(6)}`);
  }
  console.log(`  (daemon: the gantry daemon's own CPU; helpers: its spawner and the containers' monitors; CLI: docker run)`);
  console.log(`load average at end: ${load()}`);
} finally {
  for (const s of subjects) await s.cleanup().catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
  removeGroups();
}
