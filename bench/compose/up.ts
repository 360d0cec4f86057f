// Compose benchmark (not run by the tests): Debian's docker-compose 1.29 brings up the same
// three-service app (a user network with its own subnet, a named volume, a port published on
// 127.0.0.1) against `gantry daemon` and against a private dockerd 20.10 (Debian's docker.io),
// alternating round by round in one run. Timed: `docker-compose up -d` until all three
// services' containers run (checked after up returns); not timed: `down -v` between runs.
// Prints each side's median and the ratio.
// Usage: node --import tsx bench/compose/up.ts [--runs 10]
// Needs root, /usr/bin/docker-compose, dockerd, /usr/local/bin/docker. The private dockerd has
// its own data root, exec root and socket under a temp dir, its default bridge on a device
// the bench makes (gtbcd0, 10.244.73.0/24), --iptables=false (the shared host's firewall is
// left as it was; published ports go through docker-proxy), and its own containerd
// namespace; everything it and Gantry made goes at the end, on failure and Ctrl-C too.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { DOCKER, cleanup, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "../../test/engine/_daemon.ts";
import { linkExists, startPrivateDockerd, stopPrivateDockerd, type PrivateDockerd } from "../_private-dockerd.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 10);
const COMPOSE = "/usr/bin/docker-compose";
const GANTRY = { bridge: "gtbcg70", subnet: "10.244.70.0/24", app: { subnet: "10.244.71.0/24", bridge: "gtbcg71", port: "18971" } };
const DOCKERD = { bridge: "gtbcd0", cidr: "10.244.73.1/24", app: { subnet: "10.244.74.0/24", bridge: "gtbcd74", port: "18974" } };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : NaN;
};

// The app: its network's subnet, bridge device and the host port come from the environment,
// so both daemons run the same file side by side.
const APP = {
  version: "3.8",
  services: {
    web: {
      image: "busybox:latest",
      command: ["httpd", "-f", "-p", "8080", "-h", "/etc"],
      ports: ["127.0.0.1:${WEB_PORT}:8080"],
      networks: { front: { aliases: ["frontdoor"] } },
    },
    store: { image: "busybox:latest", command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"], volumes: ["data:/data"], networks: ["front"] },
    worker: { image: "busybox:latest", command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"], environment: { TARGET: "frontdoor" }, depends_on: ["web", "store"], networks: ["front"] },
  },
  networks: { front: { ipam: { config: [{ subnet: "${APP_SUBNET}" }] }, driver_opts: { "com.docker.network.bridge.name": "${APP_BRIDGE}" } } },
  volumes: { data: {} },
};

interface Side {
  name: string;
  socket: string;
  env: NodeJS.ProcessEnv;
}

function composeRun(side: Side, dir: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(COMPOSE, ["--ansi", "never", "-p", "bench", ...args], { cwd: dir, encoding: "utf8", env: side.env, timeout: 180_000, killSignal: "SIGKILL" });
  return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function runningServices(side: Side): number {
  const r = spawnSync(DOCKER, ["-H", `unix://${side.socket}`, "ps", "--filter", "label=com.docker.compose.project=bench", "--filter", "status=running", "-q"], { encoding: "utf8", env: side.env });
  return (r.stdout ?? "").split("\n").filter(Boolean).length;
}

/** One timed `up -d` until all three services run. */
async function upOnce(side: Side, dir: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const up = composeRun(side, dir, ["up", "-d"]);
  if (up.status !== 0) throw new Error(`${side.name}: up -d: ${up.out}`);
  while (runningServices(side) < 3) await new Promise((r) => setTimeout(r, 20));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const down = composeRun(side, dir, ["down", "-v", "-t", "1"]);
  if (down.status !== 0) throw new Error(`${side.name}: down -v: ${down.out}`);
  return ms;
}

// ---- the private dockerd ---------------------------------------------------------------------

async function startDockerd(): Promise<PrivateDockerd> {
  if (linkExists(DOCKERD.bridge)) throw new Error(`${DOCKERD.bridge} exists (another run of this bench?)`);
  spawnSync("ip", ["link", "add", DOCKERD.bridge, "type", "bridge"]);
  spawnSync("ip", ["addr", "add", DOCKERD.cidr, "dev", DOCKERD.bridge]);
  spawnSync("ip", ["link", "set", DOCKERD.bridge, "up"]);
  return startPrivateDockerd("gantry-bench-compose-dockerd-", ["--bridge", DOCKERD.bridge, "--iptables=false", "--ip6tables=false", "--containerd-namespace", "gtbc", "--containerd-plugins-namespace", "gtbcp"]);
}

const stopDockerd = (p: PrivateDockerd) => stopPrivateDockerd(p, [DOCKERD.bridge, DOCKERD.app.bridge]);

// ---- the bench ------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(COMPOSE)) throw new Error(`${COMPOSE} is not installed (apt-get install docker-compose)`);
  const d = newDaemonDirs();
  let dd: PrivateDockerd | undefined;
  const stop = async () => {
    if (dd) await stopDockerd(dd).catch((e: unknown) => console.error(`dockerd cleanup: ${(e as Error).message}`));
    dd = undefined;
    await cleanup(d);
    if (linkExists(GANTRY.app.bridge)) spawnSync("ip", ["link", "del", GANTRY.app.bridge]);
  };
  const onSignal = () => void stop().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, { bridge: GANTRY.bridge, subnet: GANTRY.subnet });
    dd = await startDockerd();
    // The same image in dockerd: Gantry's docker-archive through the docker CLI.
    const saved = spawnSync(DOCKER, ["-H", `unix://${d.socket}`, "save", "busybox:latest"], { maxBuffer: 64 << 20 });
    const loaded = spawnSync(DOCKER, ["-H", `unix://${dd.socket}`, "load"], { input: saved.stdout, encoding: "utf8" });
    if (loaded.status !== 0) throw new Error(`docker load into dockerd: ${loaded.stderr}`);

    const dir = join(d.dir, "app");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "docker-compose.yml"), JSON.stringify(APP, null, 2));
    const sideEnv = (socket: string, app: { subnet: string; bridge: string; port: string }) => ({
      ...process.env,
      DOCKER_HOST: `unix://${socket}`,
      DOCKER_CONFIG: join(d.dir, "docker-config"),
      APP_SUBNET: app.subnet,
      APP_BRIDGE: app.bridge,
      WEB_PORT: app.port,
    });
    const sides: Side[] = [
      { name: "gantry", socket: d.socket, env: sideEnv(d.socket, GANTRY.app) },
      { name: "dockerd", socket: dd.socket, env: sideEnv(dd.socket, DOCKERD.app) },
    ];
    // One warm-up each (first network and volume creation, page cache), not counted.
    for (const s of sides) await upOnce(s, dir);
    const times = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const s of i % 2 === 0 ? sides : [...sides].reverse()) times.get(s.name)!.push(await upOnce(s, dir));
    }
    const g = median(times.get("gantry")!);
    const k = median(times.get("dockerd")!);
    console.log(`docker-compose up -d (3 services, user network, named volume, published port) → all running, ${RUNS} runs each, alternating; load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    console.log(`  gantry   median ${g.toFixed(1)} ms  (${times.get("gantry")!.map((x) => x.toFixed(0)).join(" ")})`);
    console.log(`  dockerd  median ${k.toFixed(1)} ms  (${times.get("dockerd")!.map((x) => x.toFixed(0)).join(" ")})`);
    console.log(`  ratio gantry/dockerd ${(g / k).toFixed(2)}`);
  } finally {
    await stop();
  }
}

await main();
