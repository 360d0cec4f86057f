// Test fixture: a `gantry daemon` child process on a temporary root and socket, a busybox
// image built offline from /bin/busybox, the real docker CLI as client, and a cleanup that
// leaves no containers, monitors, mounts or cgroups behind even when a test failed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before } from "node:test";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { importRootfs } from "../../src/image/import.ts";
import { ImageStore } from "../../src/image/store.ts";
import { removeNetworkRules, ruleNamesOf } from "../../src/network/index.ts";

export const repo = resolve(import.meta.dirname, "..", "..");
export const DOCKER = "/usr/local/bin/docker";

export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (namespaces, cgroups, overlay mounts)";
  if (!existsSync("/bin/busybox")) return "needs /bin/busybox (apt-get install busybox-static)";
  if (!existsSync(join(repo, "native", "build", "gantry-helper"))) return "the native helper is not built (make -C native)";
  return undefined;
}

/** Why a bridge-network test through the docker CLI cannot run here: the base reasons, no
 * docker CLI or CNI plugins, or the test's own subnets (`routed`, e.g. /^10\.247\.6\d\./m)
 * already routed on the host (`what` names them). */
export function bridgeSkipReason(routed: RegExp, what: string): string | undefined {
  const base = skipReason();
  if (base) return base;
  if (!existsSync(DOCKER)) return `${DOCKER} is not installed`;
  if (!existsSync("/usr/lib/cni/bridge")) return "needs the CNI plugins (apt-get install containernetworking-plugins iptables)";
  if (routed.test(spawnSync("ip", ["route"], { encoding: "utf8" }).stdout)) return `${what} is already routed on this host`;
  return undefined;
}

export interface TestDaemon {
  dir: string;
  root: string;
  execRoot: string;
  socket: string;
  child?: ChildProcess;
  log: string[];
  network?: { bridge: string; subnet: string };
}

export async function makeBusyboxImage(root: string, name = "busybox:latest"): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "gantry-bb-"));
  try {
    const rootfs = join(work, "rootfs");
    for (const d of ["bin", "sbin", "usr/bin", "etc", "root", "tmp", "proc", "sys", "dev", "var/tmp", "home"]) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
    const applets = spawnSync("/bin/busybox", ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const a of applets) if (a !== "busybox" && !existsSync(join(rootfs, "bin", a))) symlinkSync("busybox", join(rootfs, "bin", a));
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    const tar = join(work, "rootfs.tar");
    const r = spawnSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", tar, "."]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    await importRootfs(new ImageStore(root), tar, { name, changes: ['CMD ["/bin/sh"]'] });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function newDaemonDirs(): TestDaemon {
  const dir = mkdtempSync(join(tmpdir(), "gantry-engine-"));
  return { dir, root: join(dir, "root"), execRoot: join(dir, "run"), socket: join(dir, "d.sock"), log: [] };
}

export function ping(socket: string): Promise<boolean> {
  return new Promise((res) => {
    const req = request({ socketPath: socket, path: "/_ping", method: "GET" }, (r) => {
      r.resume();
      res(r.statusCode === 200);
    });
    req.on("error", () => res(false));
    req.end();
  });
}

let runtimeBundle: string | undefined;

/** The runtime CLI bundled once per test process (exec runs it; tsx would add seconds each). */
async function bundleRuntimeCli(): Promise<string> {
  if (runtimeBundle) return runtimeBundle;
  const { build } = await import("esbuild");
  const dir = mkdtempSync(join(tmpdir(), "gantry-rt-"));
  // The bundle outlives every daemon of this test process; it goes with the process.
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "gantry-runtime.mjs");
  await build({
    entryPoints: [join(repo, "src", "cli", "runtime", "main.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning",
  });
  process.env.GANTRY_HELPER ??= join(repo, "native", "build", "gantry-helper");
  return (runtimeBundle = out);
}

/** `network`: bridge networking on its own device and subnet; otherwise --no-networking. */
export async function startTestDaemon(d: TestDaemon, network?: { bridge: string; subnet: string }, runtime?: string, extraArgs: string[] = []): Promise<void> {
  const child = await spawnTestDaemon(d, network, runtime, extraArgs);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited: ${d.log.join("")}`);
    if (existsSync(d.socket) && (await ping(d.socket))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon did not come up: ${d.log.join("")}`);
}

/**
 * Starts the daemon process and returns at once, without a request: tests that check what the
 * daemon's very first answer says use this. A socket left by a SIGKILLed daemon is removed
 * first, so the socket's presence means the new daemon listens.
 */
export async function spawnTestDaemon(d: TestDaemon, network?: { bridge: string; subnet: string }, runtime?: string, extraArgs: string[] = []): Promise<ChildProcess> {
  rmSync(d.socket, { force: true });
  process.env.GANTRY_RUNTIME_CLI = await bundleRuntimeCli();
  d.network = network ?? d.network;
  const netArgs = d.network ? ["--bridge-name", d.network.bridge, "--bridge-subnet", d.network.subnet] : ["--no-networking"];
  if (runtime) netArgs.push("--runtime", runtime);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "daemon", "--data-root", d.root, "--exec-root", d.execRoot, "-H", `unix://${d.socket}`, ...netArgs, ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"], cwd: repo },
  );
  d.child = child;
  child.stdout?.on("data", (b: Buffer) => d.log.push(b.toString()));
  child.stderr?.on("data", (b: Buffer) => d.log.push(b.toString()));
  return child;
}

/** Inside a describe: a daemon with the busybox image before the tests, cleaned up after. */
export function useTestDaemon(network?: { bridge: string; subnet: string }, runtime?: string): TestDaemon {
  const d = newDaemonDirs();
  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, network, runtime);
  });
  after(async () => {
    await cleanup(d);
  });
  return d;
}

export async function killDaemon(d: TestDaemon, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const child = d.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function docker(d: TestDaemon, args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): RunResult {
  const r = spawnSync(DOCKER, ["-H", `unix://${d.socket}`, ...args], {
    encoding: "utf8",
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: "SIGKILL", // docker run forwards SIGTERM to the container
    env: { ...process.env, DOCKER_CONFIG: join(d.dir, "docker-config"), ...(opts.env ?? {}) },
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** One API request; resolves with the status and the body as text. */
export function api(d: TestDaemon, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: { "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A hijacked (Upgrade: tcp) POST as the docker CLI sends it; resolves with the socket and a
 * reader of what came after the 101. */
export function hijack(d: TestDaemon, path: string, body = ""): Promise<{ sock: Socket; received: () => Buffer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(d.socket);
    let buf = Buffer.alloc(0);
    let headerEnd = -1;
    const closed = new Promise<void>((r) => sock.on("close", () => r()));
    sock.on("error", reject);
    sock.on("data", (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      if (headerEnd < 0) {
        headerEnd = buf.indexOf("\r\n\r\n");
        if (headerEnd >= 0) {
          if (!buf.subarray(0, headerEnd).toString().startsWith("HTTP/1.1 101")) reject(new Error(buf.toString()));
          resolve({ sock, received: () => buf.subarray(headerEnd + 4), closed });
        }
      }
    });
    sock.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

/** Runs `gantry` (the client verbs) from source against the daemon. */
export function gantry(d: TestDaemon, args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "-H", `unix://${d.socket}`, ...args], {
    encoding: "utf8",
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
    cwd: repo,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Removes everything the daemon made: processes, mounts, cgroups, files. */
export async function cleanup(d: TestDaemon): Promise<void> {
  const containersDir = join(d.root, "engine", "containers");
  const ids = existsSync(containersDir) ? readdirSync(containersDir) : [];
  if (d.child && d.child.exitCode === null && d.child.signalCode === null) {
    for (const id of ids) docker(d, ["rm", "-f", id], { timeoutMs: 15_000 });
    await killDaemon(d);
  }
  for (const id of ids) {
    try {
      const rec = JSON.parse(readFileSync(join(containersDir, id, "container.json"), "utf8")) as { State: { Pid: number }; MonitorPid: number; Rootfs: string };
      for (const pid of [rec.State.Pid, rec.MonitorPid]) {
        if (pid > 0) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
      }
    } catch {
      /* no record */
    }
    // Everything left in the container's cgroups, then the cgroups themselves.
    for (const ctl of readdirSync("/sys/fs/cgroup")) {
      const cg = join("/sys/fs/cgroup", ctl, "gantry", id);
      if (!existsSync(cg)) continue;
      try {
        for (const p of readFileSync(join(cg, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) process.kill(Number(p), "SIGKILL");
      } catch {
        /* empty */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
    for (const ctl of readdirSync("/sys/fs/cgroup")) {
      const cg = join("/sys/fs/cgroup", ctl, "gantry", id);
      if (existsSync(cg)) spawnSync("rmdir", [cg]);
    }
    spawnSync("umount", ["-l", join(d.root, "containers", id, "merged")]);
  }
  // Whatever is still mounted below the test's directory (a layer whose removal was deferred
  // when the daemon stopped, a SIGKILLed daemon's containers) is detached before rm -rf.
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const target = line.split(" ")[4];
    if (target?.startsWith(`${d.dir}/`)) spawnSync("umount", ["-l", target]);
  }
  // A daemon stopped while containers were still on its networks keeps their bridges and its
  // root's rules (they belong to running containers); the test's containers are gone now, so
  // they go too — the bridge names are fixed per test file, and a leftover would fail the next run.
  const netRoot = join(d.root, "network");
  const netRecords = join(netRoot, "networks");
  for (const f of existsSync(netRecords) ? readdirSync(netRecords).filter((x) => x.endsWith(".json")) : []) {
    try {
      const bridge = (JSON.parse(readFileSync(join(netRecords, f), "utf8")) as { bridge?: string }).bridge;
      if (bridge) spawnSync("ip", ["link", "del", bridge]);
    } catch {
      /* a record half-written by a killed daemon */
    }
  }
  await removeNetworkRules(ruleNamesOf(netRoot)).catch(() => undefined);
  if (d.network) spawnSync("ip", ["link", "del", d.network.bridge]);
  rmSync(d.dir, { recursive: true, force: true });
}
