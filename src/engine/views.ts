// The JSON shapes Docker clients read: container inspect, the ps summary (with Docker's
// human Status text), stats (from cgroup statistics), top and changes.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import type { CgroupStats } from "../runtime/index.ts";
import type { ContainerRecord } from "./container-store.ts";
import type { Engine } from "./engine.ts";
import { ZERO_TIME } from "./create.ts";
import type { EventFilters } from "./events.ts";
import { toDockerEndpointSettings, toDockerPorts } from "../network/index.ts";
import { compareVersions } from "./api/http.ts";
import { plannedNetworks } from "./network-connect.ts";
import { healthFilterValue, healthSuffix } from "./health/status.ts";
import { usernsView } from "./userns.ts";

const NS_NAMES = ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];

/** /proc/PID/ns/* → "net:[4026531993]" per namespace. */
export function namespacesOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  if (pid <= 0) return out;
  for (const n of NS_NAMES) {
    try {
      out[n] = readlinkSync(`/proc/${pid}/ns/${n}`);
    } catch {
      /* not present on this kernel */
    }
  }
  return out;
}

function dockerState(rec: ContainerRecord) {
  const s = rec.State;
  return {
    Status: s.Status,
    Running: s.Status === "running" || s.Status === "paused",
    Paused: s.Status === "paused",
    Restarting: s.Status === "restarting",
    OOMKilled: s.OOMKilled,
    Dead: s.Status === "dead",
    Pid: s.Pid,
    ExitCode: s.ExitCode,
    Error: s.Error,
    StartedAt: s.StartedAt,
    FinishedAt: s.FinishedAt,
    ...(s.Health ? { Health: s.Health } : {}),
  };
}

export function inspectContainer(engine: Engine, rec: ContainerRecord, execIds: string[], apiVersion = "1.50") {
  let cgroupPaths: Record<string, string> = {};
  try {
    if (rec.State.Pid > 0) cgroupPaths = engine.runtime.cgroupPaths(rec.Id);
  } catch {
    cgroupPaths = {};
  }
  const hc = { ...rec.HostConfig };
  return {
    Id: rec.Id,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: dockerState(rec),
    Image: rec.Image,
    ResolvConfPath: join(engine.dir(rec.Id), "resolv.conf"),
    HostnamePath: join(engine.dir(rec.Id), "hostname"),
    HostsPath: join(engine.dir(rec.Id), "hosts"),
    LogPath: rec.LogPath,
    Name: rec.Name,
    RestartCount: rec.RestartCount,
    Driver: "overlay2",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: execIds.length ? execIds : null,
    HostConfig: hc,
    GraphDriver: {
      Name: "overlay2",
      Data: { MergedDir: rec.Rootfs, UpperDir: join(engine.images.root, "containers", rec.Id, "upper"), WorkDir: join(engine.images.root, "containers", rec.Id, "work") },
    },
    Mounts: mountsOf(rec),
    Config: rec.Config,
    NetworkSettings: networkSettings(engine, rec, apiVersion),
    Gantry: {
      Namespaces: namespacesOf(rec.State.Pid),
      CgroupPaths: cgroupPaths,
      MonitorPid: rec.MonitorPid,
      Runtime: engine.runtime.name,
      Userns: usernsView(rec),
    },
  };
}

function mountsOf(rec: ContainerRecord) {
  return (rec.MountEntries ?? []).map((m) => {
    const vol = /\/volumes\/([^/]+)\/_data$/.exec(m.source);
    return {
      Type: m.type === "tmpfs" ? "tmpfs" : vol ? "volume" : "bind",
      ...(vol ? { Name: vol[1] } : {}),
      Source: m.type === "tmpfs" ? "" : m.source,
      Destination: m.destination,
      Driver: vol ? "local" : "",
      Mode: "",
      RW: !m.options.includes("ro"),
      Propagation: m.options.find((o) => /^r?(private|shared|slave)$/.test(o)) ?? "",
    };
  });
}

/** Aliases and DNSNames as dockerd shows them. Only user networks have DNS, so the default
 * bridge has neither. DNSNames (API 1.44+) are every name the network's DNS answers for the
 * container: its name, its aliases, its short id and its hostname. Aliases are the requested
 * aliases from API 1.45 on; older clients also see the short id there, as dockerd showed it. */
export function endpointNames(
  e: { networkName: string; aliases: string[]; containerId: string },
  rec: ContainerRecord,
  apiVersion: string,
): { Aliases: string[] | null; DNSNames?: string[] | null } {
  const shortId = rec.Id.slice(0, 12);
  const userNetwork = e.networkName !== "bridge";
  const dedup = (names: string[]) => [...new Set(names.filter(Boolean))];
  let aliases: string[] | null = userNetwork ? dedup(e.aliases) : null;
  if (userNetwork && compareVersions(apiVersion, "1.45") < 0) aliases = dedup([...e.aliases, shortId]);
  if (compareVersions(apiVersion, "1.44") < 0) return { Aliases: aliases?.length ? aliases : null };
  const dnsNames = userNetwork ? dedup([rec.Name.slice(1), ...e.aliases, shortId, rec.Config.Hostname ?? ""]) : null;
  return { Aliases: aliases?.length ? aliases : null, DNSNames: dnsNames };
}

function networkSettings(engine: Engine, rec: ContainerRecord, apiVersion: string) {
  const eps = engine.networks?.endpointsOf(rec.Id) ?? engine.slirp?.endpointsOf(rec.Id) ?? [];
  const first = eps[0];
  const mode = rec.HostConfig.NetworkMode ?? "default";
  const networks: Record<string, unknown> = {};
  for (const e of eps) {
    const { DNSNames: _dropped, ...settings } = toDockerEndpointSettings(e);
    networks[e.networkName] = { ...settings, ...endpointNames(e, rec, apiVersion) };
  }
  // Not running: the networks it will join (network connect/disconnect change them), unattached.
  const planned = !eps.length && rec.State.Pid <= 0 ? plannedNetworks(engine, rec) : [];
  for (const p of planned) {
    const names = endpointNames({ networkName: p.networkName, aliases: p.aliases, containerId: rec.Id }, rec, apiVersion);
    networks[p.networkName] = { IPAMConfig: null, Links: null, ...names, NetworkID: p.networkId, EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, MacAddress: "" };
  }
  if (!eps.length && !planned.length && !rec.PrimaryDisconnected) networks[mode === "default" ? "none" : mode] = { NetworkID: "", EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, MacAddress: "" };
  return {
    Bridge: "",
    SandboxID: "",
    SandboxKey: rec.State.Pid > 0 ? `/proc/${rec.State.Pid}/ns/net` : "",
    Ports: eps.length ? toDockerPorts(eps) : {},
    Gateway: first?.gateway ?? "",
    IPAddress: first?.address ?? "",
    IPPrefixLen: first?.prefix ?? 0,
    IPv6Gateway: first?.gateway6 ?? "",
    GlobalIPv6Address: first?.address6 ?? "",
    GlobalIPv6PrefixLen: first?.prefix6 ?? 0,
    MacAddress: first?.mac ?? "",
    Networks: networks,
  };
}

function summaryPorts(engine: Engine, rec: ContainerRecord) {
  return (engine.networks?.endpointsOf(rec.Id) ?? engine.slirp?.endpointsOf(rec.Id) ?? []).flatMap((e) =>
    e.ports.map((p) => ({ IP: p.hostIp || "0.0.0.0", PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol })),
  );
}

function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days`;
  return `${Math.floor(d / 7)} weeks`;
}

/** Docker's ps STATUS column. */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.State;
  switch (s.Status) {
    case "running":
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}${healthSuffix(s.Health)}`;
    case "paused":
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case "exited":
      return s.FinishedAt === ZERO_TIME ? "Created" : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    default:
      return "Created";
  }
}

export function containerSummary(engine: Engine, rec: ContainerRecord) {
  return {
    Id: rec.Id,
    Names: [rec.Name],
    Image: engine.imageName(rec),
    ImageID: rec.Image,
    Command: [rec.Path, ...rec.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" "),
    Created: Math.floor(Date.parse(rec.Created) / 1000),
    Ports: summaryPorts(engine, rec),
    Labels: rec.Config.Labels ?? {},
    State: rec.State.Status,
    Status: statusText(rec),
    HostConfig: { NetworkMode: rec.HostConfig.NetworkMode ?? "default" },
    NetworkSettings: { Networks: {} },
    Mounts: mountsOf(rec),
  };
}

/** ps filters: id, name, status, label, exited, ancestor, before/since are not needed by the CLI tests. */
export function matchesPsFilters(engine: Engine, rec: ContainerRecord, filters: EventFilters): boolean {
  for (const [key, values] of Object.entries(filters)) {
    if (!values.length) continue;
    // Values of one filter are alternatives, except labels, which must all match (as dockerd's).
    const match = (v: string): boolean => {
      switch (key) {
        case "id":
          return rec.Id.startsWith(v);
        case "name":
          return new RegExp(v).test(rec.Name.slice(1)) || rec.Name === v;
        case "status":
          return rec.State.Status === v;
        case "exited":
          return rec.State.Status === "exited" && String(rec.State.ExitCode) === v;
        case "health":
          return healthFilterValue(rec.State.Health) === v;
        case "label": {
          const eq = v.indexOf("=");
          const labels = rec.Config.Labels ?? {};
          return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case "ancestor":
          return engine.imageName(rec) === v || rec.Image === v || rec.Image.slice(7).startsWith(v);
        default:
          return true;
      }
    };
    if (!(key === "label" ? values.every(match) : values.some(match))) return false;
  }
  return true;
}

export function systemCpuUsageNs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + (Number(b) || 0), 0);
  return ticks * 1e7; // USER_HZ is 100: 10 ms per tick
}

/** Docker's stats JSON (api/types/container/stats.go) from cgroup statistics. */
export interface StatsSample {
  read: string;
  cpu_stats: unknown;
}

export function dockerStats(rec: ContainerRecord, s: CgroupStats, pre: StatsSample | undefined, cgroupVersion: 1 | 2) {
  const online = cpus().length;
  const cpuStats = {
    cpu_usage: {
      total_usage: s.cpu.usage.total,
      percpu_usage: s.cpu.usage.percpu,
      usage_in_kernelmode: s.cpu.usage.kernel,
      usage_in_usermode: s.cpu.usage.user,
    },
    system_cpu_usage: systemCpuUsageNs(),
    online_cpus: online,
    throttling_data: { periods: s.cpu.throttling.periods, throttled_periods: s.cpu.throttling.throttledPeriods, throttled_time: s.cpu.throttling.throttledTime },
  };
  const raw = s.memory.raw;
  const io = (entries: { major: number; minor: number; op: string; value: number }[]) =>
    entries.map((e) => ({ major: e.major, minor: e.minor, op: cgroupVersion === 2 ? e.op.toLowerCase() : e.op, value: e.value }));
  return {
    read: new Date().toISOString(),
    preread: pre?.read ?? ZERO_TIME,
    id: rec.Id,
    name: rec.Name,
    pids_stats: { current: s.pids.current, ...(s.pids.limit > 0 ? { limit: s.pids.limit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: io(s.blkio.ioServiceBytesRecursive),
      io_serviced_recursive: io(s.blkio.ioServicedRecursive),
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats,
    precpu_stats: pre?.cpu_stats ?? { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    memory_stats: {
      usage: s.memory.usage.usage ?? 0,
      ...(cgroupVersion === 1 ? { max_usage: s.memory.usage.max ?? 0, failcnt: s.memory.usage.failcnt } : {}),
      stats: raw,
      limit: s.memory.usage.limit > 0 && s.memory.usage.limit < 2 ** 62 ? s.memory.usage.limit : hostMemTotal(),
    },
    networks: netDevStats(rec.State.Pid),
  };
}

/** Per-interface counters of the container's network namespace (/proc/PID/net/dev), without lo. */
export function netDevStats(pid: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  if (pid <= 0) return out;
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = {
      rx_bytes: f[0] ?? 0, rx_packets: f[1] ?? 0, rx_errors: f[2] ?? 0, rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0, tx_packets: f[9] ?? 0, tx_errors: f[10] ?? 0, tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}

export function hostMemTotal(): number {
  const m = /MemTotal:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** `top`: runs ps on the host (with ps_args, default -ef) and keeps the container's pids. */
export function topOf(pids: number[], psArgs: string | undefined): { Titles: string[]; Processes: string[][] } {
  const args = (psArgs || "-ef").split(/\s+/).filter(Boolean);
  const r = spawnSync("ps", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ps ${args.join(" ")} failed: ${r.stderr.trim()}`);
  const lines = r.stdout.split("\n").filter((l) => l.trim());
  const header = lines[0] ?? "";
  const Titles = header.trim().split(/\s+/);
  const pidCol = Titles.indexOf("PID");
  if (pidCol < 0) throw new Error(`Couldn't find PID field in ps output`);
  const want = new Set(pids);
  const Processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[pidCol]);
    if (!want.has(pid)) continue;
    // The last column (the command) keeps its spaces.
    const row = fields.slice(0, Titles.length - 1);
    row.push(fields.slice(Titles.length - 1).join(" "));
    Processes.push(row);
  }
  return { Titles, Processes };
}

/** `docker diff`: walks the overlay upper directory. Kind 0 = changed, 1 = added, 2 = deleted. */
export function changesOf(upper: string, lowerdirs: string[]): { Path: string; Kind: number }[] {
  const out: { Path: string; Kind: number }[] = [];
  const inLower = (rel: string) => lowerdirs.some((l) => existsSync(join(l, rel)));
  const walk = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      const r = `${rel}/${n}`;
      const st = lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ Path: r, Kind: 2 });
        continue;
      }
      out.push({ Path: r, Kind: inLower(r) ? 0 : 1 });
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(upper, "");
  return out;
}
