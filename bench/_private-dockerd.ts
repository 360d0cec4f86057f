// A private dockerd for side-by-side benches (Debian's docker.io: dockerd 20.10 with its
// managed containerd): its own data root, exec root and socket under a temp dir; stopping it
// removes what it made (containers, its containerd, mounts, the given network devices, files).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOCKER, ping } from "../test/engine/_daemon.ts";

export interface PrivateDockerd {
  dir: string;
  socket: string;
  child?: ChildProcess;
}

export const linkExists = (name: string) => spawnSync("ip", ["link", "show", "dev", name], { stdio: "ignore" }).status === 0;

/** The docker CLI's environment for talking to `p` (its own config dir). */
export const dockerdCliEnv = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_CONFIG: join(dir, "docker-config") });

/** Starts dockerd with `args` (network options) on a fresh directory named by `prefix`; waits for its socket. */
export async function startPrivateDockerd(prefix: string, args: string[]): Promise<PrivateDockerd> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const p: PrivateDockerd = { dir, socket: join(dir, "docker.sock") };
  const log = openSync(join(dir, "dockerd.log"), "a");
  p.child = spawn("dockerd", ["--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "-H", `unix://${p.socket}`, "--pidfile", join(dir, "dockerd.pid"), ...args], {
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (p.child.exitCode !== null) throw new Error(`dockerd exited: ${readFileSync(join(dir, "dockerd.log"), "utf8").slice(-2000)}`);
    if (existsSync(p.socket) && (await ping(p.socket))) return p;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("dockerd did not come up in 60 s");
}

/** Stops dockerd and removes all it made; `links`: network devices to delete after it. */
export async function stopPrivateDockerd(p: PrivateDockerd, links: string[]): Promise<void> {
  const cli = (...a: string[]) => spawnSync(DOCKER, ["-H", `unix://${p.socket}`, ...a], { encoding: "utf8", timeout: 60_000, env: dockerdCliEnv(p.dir) });
  if (p.child && p.child.exitCode === null) {
    const ids = cli("ps", "-aq").stdout.split("\n").filter(Boolean);
    if (ids.length > 0) cli("rm", "-f", ...ids);
    cli("network", "prune", "-f");
    const exited = new Promise((r) => p.child!.once("exit", r));
    p.child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  }
  // dockerd's managed containerd and its shims stop with it; after a SIGKILL they may not.
  try {
    process.kill(Number(readFileSync(join(p.dir, "exec", "containerd", "containerd.pid"), "utf8").trim()), "SIGKILL");
  } catch {
    /* gone with dockerd */
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n").reverse()) {
    const target = line.split(" ")[4];
    if (target?.startsWith(`${p.dir}/`)) spawnSync("umount", ["-l", target]);
  }
  for (const l of links) if (linkExists(l)) spawnSync("ip", ["link", "del", l]);
  rmSync(p.dir, { recursive: true, force: true });
}
