// Engine benchmark (not run by the tests): the same busybox image in Gantry, in a private
// dockerd (Debian's docker.io: dockerd 20.10 + containerd + runc) and in podman, then, in one
// run, alternating between them round by round:
//   1. latency of `run --rm IMAGE true` with --network none and on the default bridge
//      (docker CLI → gantry daemon, docker CLI → dockerd, `podman run --rm`: none only),
//   2. N containers started 4 at a time (wall time), without network and on the bridge,
//   3. memory per idle container: PSS (/proc/PID/smaps_rollup) of Gantry's monitor vs conmon.
// Usage: bench/engine/setup.sh, then
//   node --import tsx bench/engine/run-bench.ts [--runs 20] [--total 100] [--total-bridge 40]
//        [--rounds 3] [--idle 5]
//   --userns-remap: instead, `run --rm --network none busybox true` through the docker CLI on
//        two Gantry daemons side by side, one started with `--userns-remap default` (user
//        namespace, idmapped layers) and one without, alternating round by round.
// Needs root, /usr/local/bin/docker, dockerd, podman (--userns-remap: only the first). The private dockerd has its own
// --data-root, --exec-root and socket under a temp dir, its default bridge docker0 on
// 10.244.62.0/24 (Gantry's is gtbench0 on 10.244.61.0/24), and runs with --iptables=false
// so it leaves the shared host's firewall (FORWARD policy, NAT) as it was: dockerd adds no
// rule per container that publishes nothing, so `run --rm true` is not made cheaper by it.
// Everything it made (containers, mounts, docker0, its containerd) goes at the end, on
// failure and on Ctrl-C too. Podman runs with runc and modest ulimits (see PODMAN_OPTS).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DOCKER, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "../../test/engine/_daemon.ts";
import { dockerdCliEnv, linkExists, startPrivateDockerd, stopPrivateDockerd, type PrivateDockerd } from "../_private-dockerd.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 20);
const TOTAL = arg("total", 100);
const TOTAL_BRIDGE = arg("total-bridge", 40);
const ROUNDS = arg("rounds", 3);
const IDLE = arg("idle", 5);
const WIDTH = 4;
const PODMAN_IMAGE = "localhost/gantry-bench-busybox:latest";
// On the dev machines crun refuses hybrid cgroups and podman's default rlimits exceed what a
// daemon in a container may set: podman runs with runc and modest ulimits.
const PODMAN_OPTS = ["--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
const GANTRY_BRIDGE = { bridge: "gtbench0", subnet: "10.244.61.0/24" };
const DOCKERD_BIP = "10.244.62.1/24";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env: env ?? process.env });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("close", (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${err}`))));
  });
}

async function pool(n: number, width: number, job: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        next++;
        await job();
      }
    }),
  );
  return Date.now() - t0;
}

function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

function podmanImport(): void {
  const work = mkdtempSync(join(tmpdir(), "gantry-bench-"));
  const rootfs = join(work, "rootfs");
  for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "root"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
  for (const a of ["sh", "true", "sleep"]) if (!existsSync(join(rootfs, "bin", a))) symlinkSync("busybox", join(rootfs, "bin", a));
  writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  spawnSync("tar", ["--numeric-owner", "-C", rootfs, "-cf", join(work, "rootfs.tar"), "."]);
  const r = spawnSync("podman", ["import", "--change", 'CMD ["/bin/sh"]', join(work, "rootfs.tar"), PODMAN_IMAGE], { encoding: "utf8" });
  rmSync(work, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`podman import: ${r.stderr}`);
}

// ---- the private dockerd ---------------------------------------------------------------------

async function startDockerd(): Promise<PrivateDockerd> {
  if (linkExists("docker0")) throw new Error("docker0 exists (another dockerd runs?): the bench's private dockerd would share it");
  return startPrivateDockerd("gantry-bench-dockerd-", ["--bip", DOCKERD_BIP, "--iptables=false"]);
}

const stopDockerd = (p: PrivateDockerd) => stopPrivateDockerd(p, ["docker0"]);
const cliEnv = dockerdCliEnv;

// ---- the bench ------------------------------------------------------------------------------

type Row = { name: string; job: () => Promise<number> };

async function main(): Promise<void> {
  const d = newDaemonDirs();
  let dd: PrivateDockerd | undefined;
  const stop = async () => {
    if (dd) await stopDockerd(dd).catch((e: unknown) => console.error(`dockerd cleanup: ${(e as Error).message}`));
    dd = undefined;
    await cleanup(d);
  };
  const onSignal = () => void stop().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    console.log(`load average at start: ${load()}`);
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, GANTRY_BRIDGE);
    dd = await startDockerd();
    // The same image in dockerd: Gantry's docker-archive through the docker CLI.
    const g = ["-H", `unix://${d.socket}`];
    const k = ["-H", `unix://${dd.socket}`];
    const loaded = spawnSync("sh", ["-c", `"$0" ${g.join(" ")} save busybox:latest | "$0" ${k.join(" ")} load`, DOCKER], { encoding: "utf8", env: cliEnv(dd.dir) });
    if (loaded.status !== 0) throw new Error(`docker load into dockerd: ${loaded.stderr}`);
    podmanImport();
    const genv = cliEnv(d.dir);
    const kenv = cliEnv(dd.dir);
    const gantry = (...a: string[]) => run(DOCKER, [...g, "run", "--rm", ...a, "busybox", "true"], genv);
    const dockerd = (...a: string[]) => run(DOCKER, [...k, "run", "--rm", ...a, "busybox", "true"], kenv);
    const podman = () => run("podman", ["run", "--rm", ...PODMAN_OPTS, PODMAN_IMAGE, "true"]);
    const latency: Row[] = [
      { name: "gantry none", job: () => gantry("--network", "none") },
      { name: "dockerd none", job: () => dockerd("--network", "none") },
      { name: "podman none", job: podman },
      { name: "gantry bridge", job: () => gantry() },
      { name: "dockerd bridge", job: () => dockerd() },
    ];
    // Warm every path once (page cache, first-run set-up, Gantry's prepared namespaces).
    for (const r of latency) await r.job();

    const t: Record<string, number[]> = Object.fromEntries(latency.map((r) => [r.name, []]));
    for (let i = 0; i < RUNS; i++) for (const r of latency) t[r.name]!.push(await r.job());
    const m = (name: string) => median(t[name]!);
    console.log(`\nrun --rm busybox true, median of ${RUNS} alternating rounds (ms):`);
    for (const r of latency) console.log(`  ${r.name.padEnd(15)} ${m(r.name).toFixed(1)}`);
    console.log(`  ratio gantry/dockerd: none ${(m("gantry none") / m("dockerd none")).toFixed(2)}, bridge ${(m("gantry bridge") / m("dockerd bridge")).toFixed(2)}`);
    console.log(`  ratio gantry/podman (none): ${(m("gantry none") / m("podman none")).toFixed(2)}`);
    console.log(`  load average: ${load()}`);

    const burst: Row[] = [
      { name: `gantry none ×${TOTAL}`, job: () => pool(TOTAL, WIDTH, () => gantry("--network", "none")) },
      { name: `dockerd none ×${TOTAL}`, job: () => pool(TOTAL, WIDTH, () => dockerd("--network", "none")) },
      { name: `podman none ×${TOTAL}`, job: () => pool(TOTAL, WIDTH, podman) },
      { name: `gantry bridge ×${TOTAL_BRIDGE}`, job: () => pool(TOTAL_BRIDGE, WIDTH, () => gantry()) },
      { name: `dockerd bridge ×${TOTAL_BRIDGE}`, job: () => pool(TOTAL_BRIDGE, WIDTH, () => dockerd()) },
    ];
    const b: Record<string, number[]> = Object.fromEntries(burst.map((r) => [r.name, []]));
    for (let i = 0; i < ROUNDS; i++) for (const r of burst) b[r.name]!.push(await r.job());
    const bm = (i: number) => median(b[burst[i]!.name]!) / 1000;
    console.log(`\ncontainers ${WIDTH} at a time, median of ${ROUNDS} alternating rounds (s):`);
    for (const [i, r] of burst.entries()) console.log(`  ${r.name.padEnd(20)} ${bm(i).toFixed(2)}  [${b[r.name]!.map((x) => (x / 1000).toFixed(2)).join(" ")}]`);
    console.log(`  ratio gantry/dockerd: none ${(bm(0) / bm(1)).toFixed(2)}, bridge ${(bm(3) / bm(4)).toFixed(2)}; gantry/podman (none) ${(bm(0) / bm(2)).toFixed(2)}`);
    console.log(`  load average: ${load()}`);

    const gIds: string[] = [];
    const pIds: string[] = [];
    for (let i = 0; i < IDLE; i++) {
      gIds.push(docker(d, ["run", "-d", "--network", "none", "busybox", "sleep", "600"]).stdout.trim());
      pIds.push(spawnSync("podman", ["run", "-d", ...PODMAN_OPTS, PODMAN_IMAGE, "sleep", "600"], { encoding: "utf8" }).stdout.trim());
    }
    await new Promise((r) => setTimeout(r, 1000));
    const gPss = gIds.map((id) => pssKiB(Number(docker(d, ["inspect", "-f", "{{.Gantry.MonitorPid}}", id]).stdout.trim())));
    const pPss = pIds.map((id) => pssKiB(Number(spawnSync("podman", ["inspect", "-f", "{{.State.ConmonPid}}", id], { encoding: "utf8" }).stdout.trim())));
    console.log(`\nPSS per idle container (median of ${IDLE}): gantry monitor ${(median(gPss) / 1024).toFixed(3)} MiB, conmon ${(median(pPss) / 1024).toFixed(3)} MiB, ratio ${(median(gPss) / median(pPss)).toFixed(2)}`);
    for (const id of pIds) spawnSync("podman", ["rm", "-f", "-t", "0", id]);
    console.log(`load average at end: ${load()}`);
  } finally {
    await stop();
  }
}

/** `--userns-remap`: the cost of a user namespace and idmapped layers per `run --rm`. */
async function usernsBench(): Promise<void> {
  const plain = newDaemonDirs();
  const remap = newDaemonDirs();
  const stop = async () => {
    await cleanup(plain);
    await cleanup(remap);
  };
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)));
  try {
    console.log(`load average at start: ${load()}`);
    chmodSync(remap.dir, 0o711); // the remapped root passes through to its rootfs
    for (const d of [plain, remap]) await makeBusyboxImage(d.root);
    await startTestDaemon(plain);
    await startTestDaemon(remap, undefined, undefined, ["--userns-remap", "default"]);
    const job = (d: typeof plain) => () => run(DOCKER, ["-H", `unix://${d.socket}`, "run", "--rm", "--network", "none", "busybox", "true"], cliEnv(d.dir));
    const rows: Row[] = [
      { name: "gantry", job: job(plain) },
      { name: "gantry remap", job: job(remap) },
    ];
    for (const r of rows) await r.job();
    const t: Record<string, number[]> = Object.fromEntries(rows.map((r) => [r.name, []]));
    for (let i = 0; i < RUNS; i++) for (const r of rows) t[r.name]!.push(await r.job());
    const m = (name: string) => median(t[name]!);
    console.log(`
run --rm --network none busybox true, median of ${RUNS} alternating rounds (ms):`);
    for (const r of rows) console.log(`  ${r.name.padEnd(13)} ${m(r.name).toFixed(1)}`);
    console.log(`  ratio remap/plain: ${(m("gantry remap") / m("gantry")).toFixed(3)}`);
    console.log(`load average at end: ${load()}`);
  } finally {
    await stop();
  }
}

await (process.argv.includes("--userns-remap") ? usernsBench() : main());
