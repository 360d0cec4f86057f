// Health probe bench (not run by the tests): how long one health check probe takes, as each
// daemon records it in State.Health.Log (End - Start: creating the exec, running `true` in
// the container, collecting its exit) — Gantry (an exec under its own monitor) against a
// private dockerd 20.10 (containerd + runc), the same busybox image, alternating round by round.
// Usage: node --import tsx bench/engine/health-probe.ts [--probes 20] [--rounds 3] [--interval-ms 300]
// Needs root, /usr/local/bin/docker and dockerd (bench/engine/setup.sh installs docker.io).
// No network: the containers run with --network none; dockerd with --bridge=none and
// --iptables=false. Everything both daemons made goes at the end, on failure too.
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { DOCKER, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "../../test/engine/_daemon.ts";
import { dockerdCliEnv, startPrivateDockerd, stopPrivateDockerd, type PrivateDockerd } from "../_private-dockerd.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PROBES = arg("probes", 20);
const ROUNDS = arg("rounds", 3);
const INTERVAL_MS = arg("interval-ms", 300);

type Cli = (args: string[]) => { status: number; stdout: string; stderr: string };

interface LogEntry {
  Start: string;
  End: string;
  ExitCode: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs one container with a `true` check and collects PROBES probe durations (ms) from its Log. */
async function probeDurations(cli: Cli, name: string): Promise<number[]> {
  const r = cli(["run", "-d", "--name", name, "--network", "none", "--health-cmd", "true", "--health-interval", `${INTERVAL_MS}ms`, "busybox", "sleep", "600"]);
  if (r.status !== 0) throw new Error(`run ${name}: ${r.stderr}`);
  const seen = new Map<string, number>();
  const deadline = Date.now() + 120_000;
  try {
    // The Log keeps five entries: read it more often than five probes take.
    while (seen.size < PROBES) {
      if (Date.now() > deadline) throw new Error(`${name}: only ${seen.size} probes in 120 s`);
      const log = JSON.parse(cli(["inspect", "-f", "{{json .State.Health.Log}}", name]).stdout) as LogEntry[] | null;
      for (const e of log ?? []) {
        if (e.ExitCode !== 0) throw new Error(`${name}: a probe failed: ${JSON.stringify(e)}`);
        seen.set(e.Start, Date.parse(e.End) - Date.parse(e.Start));
      }
      await new Promise((res) => setTimeout(res, INTERVAL_MS));
    }
  } finally {
    cli(["rm", "-f", name]);
  }
  return [...seen.values()].slice(0, PROBES);
}

async function main(): Promise<void> {
  const g = newDaemonDirs();
  let dd: PrivateDockerd | undefined;
  try {
    await makeBusyboxImage(g.root);
    await startTestDaemon(g);
    dd = await startPrivateDockerd("gantry-bench-health-dockerd-", ["--bridge=none", "--iptables=false", "--ip6tables=false"]);
    const dockerdCli: Cli = (args) => {
      const r = spawnSync(DOCKER, ["-H", `unix://${dd!.socket}`, ...args], { encoding: "utf8", timeout: 60_000, env: dockerdCliEnv(dd!.dir) });
      return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    };
    const gantryCli: Cli = (args) => docker(g, args);
    // The same image in dockerd: saved from Gantry, loaded there.
    const saved = spawnSync(DOCKER, ["-H", `unix://${g.socket}`, "save", "busybox:latest"], { maxBuffer: 1 << 28 });
    const loaded = spawnSync(DOCKER, ["-H", `unix://${dd.socket}`, "load"], { input: saved.stdout, env: dockerdCliEnv(dd.dir), encoding: "utf8" });
    if (loaded.status !== 0) throw new Error(`docker load into dockerd: ${loaded.stderr}`);
    const results: Record<string, number[]> = { gantry: [], dockerd: [] };
    for (let round = 0; round < ROUNDS; round++) {
      results.gantry!.push(...(await probeDurations(gantryCli, `hb-g-${round}`)));
      results.dockerd!.push(...(await probeDurations(dockerdCli, `hb-d-${round}`)));
    }
    const mg = median(results.gantry!);
    const md = median(results.dockerd!);
    console.log(`health probe (--health-cmd true), ${ROUNDS} rounds x ${PROBES} probes each, load ${loadavg()[0]!.toFixed(1)}:`);
    console.log(`  gantry  median ${mg.toFixed(1)} ms (min ${Math.min(...results.gantry!)} max ${Math.max(...results.gantry!)})`);
    console.log(`  dockerd median ${md.toFixed(1)} ms (min ${Math.min(...results.dockerd!)} max ${Math.max(...results.dockerd!)})`);
    console.log(`  ratio gantry/dockerd ${(mg / md).toFixed(2)}`);
  } finally {
    if (dd) await stopPrivateDockerd(dd, []);
    await cleanup(g);
  }
}

await main();
