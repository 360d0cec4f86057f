// Stand-in containers for the network kernel tests: network namespaces made with `ip netns`,
// busybox httpd inside them, clients run with `ip netns exec`. Everything a test makes is
// registered for removal in an `after` hook, pass or fail. Names carry a per-run prefix.
import { execFile, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

/** Short: veth and bridge names have 15 characters at most. */
export const runTag = `g${(process.pid % 100000).toString(36)}${randomBytes(1).toString("hex")}`;

export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root for network namespaces";
  for (const bin of [
    "/usr/lib/cni/bridge",
    "/usr/sbin/iptables",
    "/usr/sbin/nft",
    "/usr/bin/busybox",
    "/usr/bin/curl",
  ]) {
    if (spawnSync("test", ["-x", bin]).status !== 0)
      return `${bin} missing (apt-get install -y containernetworking-plugins iptables nftables busybox-static curl)`;
  }
  return undefined;
}

export function sh(cmd: string, args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", timeout: 20_000 });
  return { code: r.status ?? 1, out: r.stdout ?? "", err: r.stderr ?? "" };
}

export function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.err}`);
  return r.out;
}

const cleanups: Array<() => void> = [];
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}
/** Runs every registered cleanup, newest first; one failing does not stop the others. */
export function cleanupAll(): void {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()!();
    } catch {
      /* keep going */
    }
  }
}

/** A network namespace standing in for a container; returns its netns path. */
export function makeNetns(name: string): string {
  const ns = `${runTag}-${name}`;
  must("ip", ["netns", "add", ns]);
  onCleanup(() => {
    sh("ip", ["netns", "del", ns]);
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  });
  return `/var/run/netns/${ns}`;
}
export const nsName = (name: string) => `${runTag}-${name}`;
export const nsPath = (name: string) => `/var/run/netns/${nsName(name)}`;

/** Makes `ip netns exec` show the container's hosts and resolv.conf in place of the host's. */
export function installContainerFiles(name: string, files: { hosts: string; resolvConf: string }): void {
  const dir = `/etc/netns/${nsName(name)}`;
  mkdirSync(dir, { recursive: true });
  copyFileSync(files.hosts, join(dir, "hosts"));
  copyFileSync(files.resolvConf, join(dir, "resolv.conf"));
}

export function startHttpd(name: string, docroot: string, body: string): ChildProcess {
  mkdirSync(docroot, { recursive: true });
  writeFileSync(join(docroot, "index.html"), body);
  const child = spawn(
    "ip",
    ["netns", "exec", nsName(name), "busybox", "httpd", "-f", "-p", "80", "-h", docroot],
    { stdio: "ignore" },
  );
  onCleanup(() => child.kill("SIGKILL"));
  return child;
}

/**
 * curl from inside a namespace (or the host when name is undefined). Asynchronous: the DNS
 * server answering the client runs in this very process, so the event loop must stay free.
 */
export function curlIn(
  name: string | undefined,
  url: string,
  timeoutS = 5,
): Promise<{ code: number; out: string; err: string }> {
  const curl = ["curl", "-sS", "--max-time", String(timeoutS), "--noproxy", "*", url];
  const [file, ...args] = name === undefined ? curl : ["ip", "netns", "exec", nsName(name), ...curl];
  return new Promise((resolve) => {
    execFile(file!, args, { encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** Any command inside a namespace, asynchronously (see curlIn). */
export function execIn(name: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      "ip",
      ["netns", "exec", nsName(name), ...args],
      { encoding: "utf8", timeout: 15_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
      },
    );
  });
}

/** Retries briefly: httpd needs a moment to listen. */
export async function curlEventually(
  name: string | undefined,
  url: string,
  tries = 30,
): Promise<{ code: number; out: string; err: string }> {
  let r = await curlIn(name, url, 2);
  for (let i = 0; i < tries && r.code !== 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await curlIn(name, url, 2);
  }
  return r;
}

/** The fake "internet": a namespace joined to the host by a veth, addresses in `net` (a /30 base). */
export function makeOutsideNetns(name: string, hostAddr: string, peerAddr: string): void {
  const ns = nsName(name);
  const hostIf = `${runTag}o`;
  must("ip", ["netns", "add", ns]);
  onCleanup(() => {
    sh("ip", ["link", "del", hostIf]);
    sh("ip", ["netns", "del", ns]);
  });
  must("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", "out0", "netns", ns]);
  must("ip", ["addr", "add", `${hostAddr}/30`, "dev", hostIf]);
  must("ip", ["link", "set", hostIf, "up"]);
  must("ip", ["netns", "exec", ns, "ip", "addr", "add", `${peerAddr}/30`, "dev", "out0"]);
  must("ip", ["netns", "exec", ns, "ip", "link", "set", "out0", "up"]);
  must("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
}

/** Subnets for this run, checked against the host's routes first. */
export function freeSubnets(count: number): string[] {
  const routes = must("ip", ["-4", "route", "show", "table", "all"]);
  const out: string[] = [];
  for (let third = 130 + (process.pid % 6) * 20; out.length < count && third < 250; third++) {
    const s = `10.231.${third}.`;
    if (!routes.includes(s)) out.push(`${s}0/24`);
  }
  if (out.length < count) throw new Error("no free 10.231.x.0/24 subnets for the test");
  return out;
}

export function ruleDump(): string {
  return must("iptables-save", []) + must("nft", ["list", "tables"]);
}

export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}
