// Engine benchmark (not run by the tests): the same busybox rootfs imported into Gantry and
// into podman, then, in one run,
//   1. latency of `run --rm IMAGE true` (docker CLI → gantry daemon vs `podman run --rm`),
//   2. 100 containers started 4 at a time (wall time),
//   3. memory per idle container: PSS (/proc/PID/smaps_rollup) of Gantry's monitor vs conmon.
// Usage: node --import tsx bench/engine/run-bench.ts [--runs 20] [--total 100] [--idle 10]
// Needs root, /usr/local/bin/docker, podman. Podman runs with --network none (Gantry's default
// network is an isolated namespace too until bridge networking lands) and runc (see PODMAN_OPTS).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, mkdtempSync, mkdirSync, copyFileSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "../../test/engine/_daemon.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 20);
const TOTAL = arg("total", 100);
const IDLE = arg("idle", 10);
const PODMAN_IMAGE = "localhost/gantry-bench-busybox:latest";
// On the dev machines crun refuses hybrid cgroups and podman's default rlimits exceed what a
// daemon in a container may set: podman runs with runc and modest ulimits.
const PODMAN_OPTS = ["--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};

function run(cmd: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
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

async function main(): Promise<void> {
  const d = newDaemonDirs();
  try {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d);
    podmanImport();
    const dockerArgs = (...a: string[]) => ["-H", `unix://${d.socket}`, ...a];
    const podmanRun = ["run", "--rm", ...PODMAN_OPTS, PODMAN_IMAGE, "true"];
    // Warm both (page cache, first-run set-up).
    await run("docker", dockerArgs("run", "--rm", "--network", "none", "busybox", "true"));
    await run("podman", podmanRun);

    const g: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      g.push(await run("docker", dockerArgs("run", "--rm", "--network", "none", "busybox", "true")));
      p.push(await run("podman", podmanRun));
    }
    const gMed = median(g);
    const pMed = median(p);
    console.log(`run --rm true, median of ${RUNS}: gantry (docker CLI) ${gMed.toFixed(1)} ms, podman ${pMed.toFixed(1)} ms, ratio ${(gMed / pMed).toFixed(2)}`);

    const gPool = await pool(TOTAL, 4, () => run("docker", dockerArgs("run", "--rm", "--network", "none", "busybox", "true")));
    const pPool = await pool(TOTAL, 4, () => run("podman", podmanRun));
    console.log(`${TOTAL} containers, 4 at a time: gantry ${(gPool / 1000).toFixed(2)} s, podman ${(pPool / 1000).toFixed(2)} s, ratio ${(gPool / pPool).toFixed(2)}`);

    const gIds: string[] = [];
    const pIds: string[] = [];
    for (let i = 0; i < IDLE; i++) {
      gIds.push(docker(d, ["run", "-d", "--network", "none", "busybox", "sleep", "600"]).stdout.trim());
      pIds.push(spawnSync("podman", ["run", "-d", ...PODMAN_OPTS, PODMAN_IMAGE, "sleep", "600"], { encoding: "utf8" }).stdout.trim());
    }
    await new Promise((r) => setTimeout(r, 1000));
    const gPss = gIds.map((id) => pssKiB(Number(docker(d, ["inspect", "-f", "{{.Gantry.MonitorPid}}", id]).stdout.trim())));
    const pPss = pIds.map((id) => pssKiB(Number(spawnSync("podman", ["inspect", "-f", "{{.State.ConmonPid}}", id], { encoding: "utf8" }).stdout.trim())));
    console.log(`PSS per idle container (median of ${IDLE}): gantry monitor ${(median(gPss) / 1024).toFixed(3)} MiB, conmon ${(median(pPss) / 1024).toFixed(3)} MiB, ratio ${(median(gPss) / median(pPss)).toFixed(2)}`);
    for (const id of pIds) spawnSync("podman", ["rm", "-f", "-t", "0", id]);
  } finally {
    await cleanup(d);
  }
}

await main();
