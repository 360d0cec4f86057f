// bench/network: HTTP requests/s and latency to a small Node HTTP server in a network
// namespace, straight to the container's address vs through a published port on 127.0.0.1
// (portmap's DNAT), and — with --podman — through podman's published port, in one run. Rounds
// of the targets are interleaved so drift hits all alike. Loopback and test namespaces only.
// busybox httpd is not the server: its small listen backlog turns 16 clients into 1 s SYN
// retransmits, which measures httpd, not the path. Both keep-alive and a new connection per
// request are measured (the NAT cost is mostly in connection setup: conntrack + DNAT).
// podman runs with runc and modest ulimits (the dev machines' hard limits are low); netavark
// leaves its NETAVARK-* chains behind, and the bench removes them afterwards.
// Usage (root): npx tsx bench/network/published-port.ts [--seconds 5] [--concurrency 16] [--rounds 3] [--podman]
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNetworks, parsePublish } from "../../src/network/index.ts";
import { httpLoad, type LoadSample } from "../_http-load.ts";

const arg = (name: string, dflt: number) =>
  process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt;
const seconds = arg("--seconds", 5);
const concurrency = arg("--concurrency", 16);
const rounds = arg("--rounds", 3);
const withPodman = process.argv.includes("--podman");
if (process.getuid?.() !== 0) throw new Error("run as root");

const tag = `gb${process.pid % 10000}`;
const work = mkdtempSync(join(tmpdir(), "gantry-netbench-"));
const cleanups: Array<() => unknown> = [];
const SERVER = `require("http").createServer((q, s) => s.end("x".repeat(100))).listen(80, "0.0.0.0")`;

interface Target {
  name: string;
  host: string;
  port: number;
}
type Sample = LoadSample;

/** `concurrency` workers, each doing one request after another for `seconds`. */
const load = (host: string, port: number, keepAlive: boolean): Promise<Sample> => httpLoad(host, port, { seconds, concurrency, keepAlive });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** netavark (podman's network backend) leaves its chains and jumps behind after `podman rm`:
 * remove exactly those (never anything else of the host's). */
function removeNetavarkChains(): void {
  for (const table of ["nat", "filter"]) {
    const rules = spawnSync("iptables", ["-t", table, "-S"], { encoding: "utf8" }).stdout.split("\n");
    for (const rule of rules) {
      const m = /^-A (\S+) (.*-j NETAVARK\S*.*)$/.exec(rule);
      if (m && !m[1]!.startsWith("NETAVARK")) spawnSync("sh", ["-c", `iptables -t ${table} -D ${m[1]} ${m[2]}`]);
    }
    const chains = rules.filter((r) => /^-N NETAVARK/.test(r)).map((r) => r.slice(3));
    for (const c of chains) spawnSync("iptables", ["-t", table, "-F", c]);
    for (const c of chains) spawnSync("iptables", ["-t", table, "-X", c]);
  }
}

/** podman (rootful, runc) running the same Node server, the host's /usr mounted read-only. */
function startPodman(): Target | undefined {
  const rootfs = join(work, "rootfs");
  for (const d of ["usr", "tmp", "proc", "sys", "dev", "etc"])
    mkdirSync(join(rootfs, d), { recursive: true });
  for (const l of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${l}`, join(rootfs, l));
  const port = 30000 + (process.pid % 20000);
  const name = `${tag}-podman`;
  const node = realpathSync(process.execPath);
  const r = spawnSync(
    "podman",
    [
      "run",
      "-d",
      "--name",
      name,
      "--runtime",
      "runc",
      // the dev machines' hard limits are low: podman's defaults fail with "error setting rlimit"
      "--ulimit",
      "nofile=1024:1024",
      "--ulimit",
      "nproc=1024:1024",
      "-v",
      "/usr:/usr:ro",
      "-p",
      `127.0.0.1:${port}:80`,
      // --rootfs is a flag: the path then stands where the image would
      "--rootfs",
      rootfs,
      node,
      "-e",
      SERVER,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  cleanups.push(() => {
    spawnSync("podman", ["rm", "-f", "-t", "0", name], { timeout: 60_000 });
    removeNetavarkChains();
  });
  if (r.status !== 0) {
    console.error(`podman unavailable: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
    return undefined;
  }
  return { name: "podman published (127.0.0.1)", host: "127.0.0.1", port };
}

async function main(): Promise<void> {
  const lib = await openNetworks({ root: join(work, "net"), defaultNetwork: false, dnsUpstreams: [] });
  cleanups.push(() => lib.close());
  const net = await lib.create({ name: `${tag}-bench` });
  cleanups.push(() => lib.remove(net.id).catch(() => undefined));
  const ns = `${tag}-server`;
  spawnSync("ip", ["netns", "add", ns]);
  cleanups.push(() => spawnSync("ip", ["netns", "del", ns]));
  const id = randomBytes(32).toString("hex");
  const ep = await lib.attach({
    containerId: id,
    containerName: "server",
    netns: `/var/run/netns/${ns}`,
    network: net.id,
    ports: parsePublish("127.0.0.1::80"),
  });
  cleanups.push(() => lib.detachAll(id));
  const server = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER], { stdio: "ignore" });
  cleanups.push(() => server.kill("SIGKILL"));
  const targets: Target[] = [
    { name: "direct (container IP)", host: ep.address, port: 80 },
    { name: "published (127.0.0.1, portmap)", host: "127.0.0.1", port: ep.ports[0]!.hostPort },
  ];
  if (withPodman) {
    const p = startPodman();
    if (p) targets.push(p);
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const keepAlive of [true, false]) {
    const results = new Map<string, Sample[]>();
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        const s = await load(t.host, t.port, keepAlive);
        (results.get(t.name) ?? results.set(t.name, []).get(t.name)!).push(s);
      }
    }
    console.log(
      `\n${keepAlive ? "keep-alive" : "new connection per request"}: ${concurrency} clients, ${rounds} rounds of ${seconds} s per target, 100-byte body`,
    );
    console.log("target                               req/s     p50 ms   p99 ms   errors");
    let direct = 0;
    for (const t of targets) {
      const ss = results.get(t.name)!;
      const reqs = ss.reduce((a, s) => a + s.requests, 0);
      const secs = ss.reduce((a, s) => a + s.seconds, 0);
      const lat = ss.flatMap((s) => s.latenciesMs);
      const rps = reqs / secs;
      if (direct === 0) direct = rps;
      const rel = t === targets[0] ? "" : `  (${((rps / direct - 1) * 100).toFixed(1)}% vs direct)`;
      console.log(
        `${t.name.padEnd(34)} ${rps.toFixed(0).padStart(7)}  ${pct(lat, 50).toFixed(2).padStart(8)} ${pct(lat, 99).toFixed(2).padStart(8)}   ${ss.reduce((a, s) => a + s.errors, 0)}${rel}`,
      );
    }
  }
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
