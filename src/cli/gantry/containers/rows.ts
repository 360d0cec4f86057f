// The rows `ps` and `stats` print (and their --format templates see), from the daemon's
// answers: Docker's column names and its rounding.
import type { ContainerSummary, StatsSample } from "../../../engine/index.ts";
import { humanAgo } from "../image-commands.ts";

/** Binary units as `docker stats` prints them: 1.5MiB, 512B. */
export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2).replace(/\.?0+$/, "")}${units[i]}`;
}

export interface PsRow {
  ID: string;
  Image: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Status: string;
  State: string;
  Ports: string;
  Names: string;
  Labels: string;
}

export function psRow(c: ContainerSummary, trunc: boolean, now = Date.now()): PsRow {
  const created = new Date(Number(c.Created) * 1000).toISOString();
  return {
    ID: trunc ? c.Id.slice(0, 12) : c.Id,
    Image: c.Image,
    Command: trunc && c.Command.length > 20 ? `"${c.Command.slice(0, 19)}…"` : `"${c.Command}"`,
    CreatedAt: created,
    RunningFor: humanAgo(created, now),
    Status: c.Status,
    State: c.State,
    Ports: "",
    Names: c.Names.map((n) => n.slice(1)).join(","),
    Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(","),
  };
}

export interface StatsRow {
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  PIDs: string;
}

/** CPU % as the docker CLI computes it: the container's share of the host's CPU time
 * between the two samples, times the CPUs online. Memory leaves out the page cache that
 * can be dropped (inactive_file), as `docker stats` does. */
export function statsRow(s: StatsSample): StatsRow {
  const cpu = s.cpu_stats;
  const pre = s.precpu_stats;
  const cpuDelta = Number(cpu.cpu_usage?.total_usage ?? 0) - Number(pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = Number(cpu.system_cpu_usage ?? 0) - Number(pre.system_cpu_usage ?? 0);
  const pct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * Number(cpu.online_cpus ?? 1) * 100 : 0;
  const mem = s.memory_stats;
  const stats = mem.stats ?? {};
  const used = Number(mem.usage ?? 0) - Number(stats.total_inactive_file ?? stats.inactive_file ?? 0);
  const limit = Number(mem.limit ?? 0);
  return {
    ID: String(s.id).slice(0, 12),
    Name: String(s.name).replace(/^\//, ""),
    CPUPerc: `${pct.toFixed(2)}%`,
    MemUsage: `${fmtBytes(Math.max(used, 0))} / ${fmtBytes(limit)}`,
    MemPerc: `${limit ? ((used / limit) * 100).toFixed(2) : "0.00"}%`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}
