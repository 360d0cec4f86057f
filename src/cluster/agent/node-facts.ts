// What the node agent reports about its host: capacity (cpu, memory, ephemeral storage,
// pods), what is free now (for the pressure conditions), addresses and system info, read from
// /proc, cgroups and statfs — the facts cAdvisor gives the kubelet.
import { readFileSync, statfsSync } from "node:fs";
import { cpus, hostname, networkInterfaces, release } from "node:os";

export interface NodeFacts {
  hostname: string;
  internalIP: string;
  milliCpu: number;
  memoryBytes: number;
  memoryAvailableBytes: number;
  storageBytes: number;
  storageAvailableBytes: number;
  pidMax: number;
  pidsInUse: number;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
  architecture: string;
}

function readOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return fallback;
  }
}

/** /proc/meminfo's "Key: N kB" lines, in bytes. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) out[m[1]!] = Number(m[2]) * (line.includes("kB") ? 1024 : 1);
  }
  return out;
}

/** The cpus this process may use: the cpuset it runs in (a container or a cgroup-limited
 * host), else every online cpu. */
export function countCpus(cpusetText: string | undefined, online: number): number {
  if (!cpusetText) return online;
  let n = 0;
  for (const part of cpusetText.split(",").filter(Boolean)) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b! - a! + 1;
  }
  return n > 0 ? Math.min(n, online) : online;
}

function cpusetOfSelf(): string | undefined {
  for (const p of ["/sys/fs/cgroup/cpuset.cpus.effective", "/sys/fs/cgroup/cpuset/cpuset.effective_cpus", "/sys/fs/cgroup/cpuset/cpuset.cpus"]) {
    const t = readOr(p);
    if (t) return t;
  }
  return undefined;
}

/** The address other nodes reach this one at: the interface of the default route, else
 * the first non-loopback IPv4 address, else loopback. */
export function pickInternalIP(): string {
  const route = readOr("/proc/net/route");
  const dflt = route.split("\n").slice(1).map((l) => l.trim().split(/\s+/)).find((f) => f[1] === "00000000" && f[7] === "00000000");
  const ifaces = networkInterfaces();
  const v4 = (name: string) => (ifaces[name] ?? []).find((a) => a.family === "IPv4" && !a.internal)?.address;
  if (dflt?.[0]) {
    const a = v4(dflt[0]);
    if (a) return a;
  }
  for (const name of Object.keys(ifaces)) {
    const a = v4(name);
    if (a) return a;
  }
  return "127.0.0.1";
}

function osImage(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readOr("/etc/os-release"));
  return m?.[1] ?? "Linux";
}

const ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

/** Reads the host's facts now; storageRoot is the filesystem pods' writable layers live on. */
export function readNodeFacts(opts: { storageRoot: string; nodeIP?: string }): NodeFacts {
  const mem = parseMeminfo(readOr("/proc/meminfo"));
  let storageBytes = 0;
  let storageAvailableBytes = 0;
  try {
    const s = statfsSync(opts.storageRoot);
    storageBytes = s.blocks * s.bsize;
    storageAvailableBytes = s.bavail * s.bsize;
  } catch {
    // An unreadable root reports no storage rather than failing the node.
  }
  let pidsInUse = 0;
  try {
    pidsInUse = Number(readOr("/proc/loadavg").split(" ")[3]?.split("/")[1] ?? 0);
  } catch {
    pidsInUse = 0;
  }
  return {
    hostname: hostname().toLowerCase(),
    internalIP: opts.nodeIP ?? pickInternalIP(),
    milliCpu: countCpus(cpusetOfSelf(), cpus().length) * 1000,
    memoryBytes: mem.MemTotal ?? 0,
    memoryAvailableBytes: mem.MemAvailable ?? mem.MemFree ?? 0,
    storageBytes,
    storageAvailableBytes,
    pidMax: Number(readOr("/proc/sys/kernel/pid_max", "32768")),
    pidsInUse,
    kernelVersion: release(),
    osImage: osImage(),
    machineID: readOr("/etc/machine-id"),
    systemUUID: readOr("/sys/class/dmi/id/product_uuid").toLowerCase(),
    bootID: readOr("/proc/sys/kernel/random/boot_id"),
    architecture: ARCH[process.arch] ?? process.arch,
  };
}
