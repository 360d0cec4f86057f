// The daemon's own routes: ping, version, info and the event stream, plus the answers
// `docker system prune` and `docker inspect` fall through to (build cache, plugins) that
// Gantry has nothing behind.
import { existsSync, readdirSync, readFileSync, statfsSync } from "node:fs";
import { arch, cpus, hostname, release } from "node:os";
import { basename } from "node:path";
import { invalidArgument, notFound } from "../../../common/errors.ts";
import { listImages } from "../../../image/mod.ts";
import { systemDiskUsage, type DiskUsageKind } from "../../disk-usage.ts";
import type { Engine } from "../../engine.ts";
import { matchesFilters } from "../../events.ts";
import { hostMemTotal } from "../../views.ts";
import { API_VERSION, MIN_API_VERSION, filtersParam, sendJson, type RouteTable } from "../http.ts";

export const GANTRY_VERSION = "0.1.0";

/** Go's name for the architecture, as dockerd reports it. */
function goArch(): string {
  const a = arch();
  return a === "x64" ? "amd64" : a;
}

const pingHeaders = {
  "Api-Version": API_VERSION,
  Ostype: "linux",
  "Docker-Experimental": "false",
  "Builder-Version": "1",
  Swarm: "inactive",
  "Cache-Control": "no-cache, no-store, must-revalidate",
  Pragma: "no-cache",
  Server: `Gantry/${GANTRY_VERSION} (linux)`,
};

export function registerSystemRoutes(api: RouteTable, e: Engine): void {
  api.on("GET", "/_ping", (r, res) => {
    res.writeHead(200, { ...pingHeaders, "Content-Type": "text/plain; charset=utf-8", "Content-Length": 2 });
    res.end(r.method === "HEAD" ? undefined : "OK");
  });
  api.on("HEAD", "/_ping", (_r, res) => {
    res.writeHead(200, { ...pingHeaders, "Content-Type": "text/plain; charset=utf-8", "Content-Length": 0 });
    res.end();
  });

  api.on("GET", "/version", (_r, res) => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: "gantry", GoVersion: process.version, Os: "linux", Arch: goArch(), KernelVersion: release(), BuildTime: "" };
    sendJson(res, 200, {
      Platform: { Name: "Gantry Engine" },
      Components: [{ Name: "Engine", Version: GANTRY_VERSION, Details: { ...details, Runtime: "gantry-runtime" } }],
      Version: GANTRY_VERSION,
      ...details,
    });
  });

  api.on("GET", "/info", (_r, res) => {
    const all = e.containers.all();
    const count = (s: string) => all.filter((c) => c.State.Status === s).length;
    sendJson(res, 200, {
      ID: "gantry",
      Debug: false,
      NFd: openFds(),
      // No goroutines in Node: the daemon's one event loop.
      NGoroutines: 1,
      SystemTime: new Date().toISOString(),
      NEventsListener: e.events.listenerCount("event"),
      IndexServerAddress: "https://index.docker.io/v1/",
      HttpProxy: process.env.HTTP_PROXY ?? process.env.http_proxy ?? "",
      HttpsProxy: process.env.HTTPS_PROXY ?? process.env.https_proxy ?? "",
      NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? "",
      GenericResources: null,
      Isolation: "",
      InitBinary: e.initBinary() ? basename(e.initBinary()!) : "",
      ContainerdCommit: { ID: "", Expected: "" },
      RuncCommit: { ID: `${e.runtime.name === "gantry" ? `gantry-runtime ${GANTRY_VERSION}` : e.runtime.name}`, Expected: "" },
      InitCommit: { ID: "", Expected: "" },
      KernelMemory: false, // deprecated; writes fail on current kernels, so never set
      KernelMemoryTCP: e.host.cgroupVersion === 2 || existsSync("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes"),
      IPv4Forwarding: readTrim("/proc/sys/net/ipv4/ip_forward") === "1",
      BridgeNfIptables: readTrim("/proc/sys/net/bridge/bridge-nf-call-iptables") === "1",
      BridgeNfIp6tables: readTrim("/proc/sys/net/bridge/bridge-nf-call-ip6tables") === "1",
      Containers: all.length,
      ContainersRunning: count("running"),
      ContainersPaused: count("paused"),
      ContainersStopped: all.length - count("running") - count("paused"),
      Images: listImages(e.images).length,
      Driver: "overlay2",
      DriverStatus: overlayDriverStatus(e.opts.root),
      // A rootless daemon on cgroup v1 sets no cgroup at all (dockerd says "none" there too).
      CgroupDriver: e.host.noCgroups ? "none" : "cgroupfs",
      CgroupVersion: String(e.host.cgroupVersion),
      MemoryLimit: !e.host.noCgroups,
      SwapLimit: !e.host.noCgroups && e.host.swapLimit,
      CpuCfsPeriod: !e.host.noCgroups,
      CpuCfsQuota: !e.host.noCgroups,
      CPUShares: !e.host.noCgroups,
      CPUSet: !e.host.noCgroups,
      PidsLimit: !e.host.noCgroups,
      OomKillDisable: !e.host.noCgroups && e.host.cgroupVersion === 1,
      KernelVersion: release(),
      OperatingSystem: osRelease().PRETTY_NAME ?? "Linux",
      OSVersion: osRelease().VERSION_ID ?? "",
      OSType: "linux",
      Architecture: arch() === "x64" ? "x86_64" : arch(),
      NCPU: cpus().length,
      MemTotal: hostMemTotal(),
      DockerRootDir: e.opts.root,
      Name: hostname(),
      ServerVersion: GANTRY_VERSION,
      Runtimes: { [e.runtime.name]: { path: e.runtime.name === "gantry" ? "gantry-runtime" : e.runtime.name } },
      DefaultRuntime: e.runtime.name,
      Swarm: { LocalNodeState: "inactive", NodeID: "", NodeAddr: "", ControlAvailable: false, Error: "", RemoteManagers: null },
      SecurityOptions: ["name=seccomp,profile=builtin", ...(e.userns.remap ? ["name=userns"] : []), ...(e.opts.rootless ? ["name=rootless"] : [])],
      // Gantry's own: the --userns-remap identity, its maps, and how image layers are shifted.
      // Layers: "idmapped" (shared, shifted by mounts) or "copy" (a chowned copy per range).
      ...(e.userns.remap ? { GantryUserns: { ...e.userns.describe(), Layers: e.layerShift } } : {}),
      Plugins: { Volume: ["local"], Network: e.networks ? ["bridge", "host", "null"] : ["host", "null"], Log: ["json-file", "none"] },
      LoggingDriver: "json-file",
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ["127.0.0.0/8"] },
      Labels: [],
      ExperimentalBuild: false,
      LiveRestoreEnabled: true,
      Warnings: e.host.noCgroups ? [`WARNING: resource limits (--memory, --cpus, --pids-limit, ...) are refused: ${e.host.noCgroups}`] : [],
    });
  });

  api.on("GET", "/events", async (r, res) => {
    const filters = filtersParam(r.query);
    const since = r.query.get("since");
    const until = r.query.get("until");
    const untilSec = until ? Number(until) : undefined;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    if (since) for (const ev of e.events.history(Number(since), untilSec)) if (matchesFilters(ev, filters)) res.write(`${JSON.stringify(ev)}\n`);
    if (untilSec !== undefined && untilSec <= Date.now() / 1000) return void res.end();
    await new Promise<void>((resolve) => {
      const onEvent = (ev: Parameters<typeof matchesFilters>[0]) => {
        if (matchesFilters(ev, filters)) res.write(`${JSON.stringify(ev)}\n`);
      };
      e.events.on("event", onEvent);
      const timer = untilSec !== undefined ? setTimeout(() => res.end(), untilSec * 1000 - Date.now()) : undefined;
      res.on("close", () => {
        e.events.off("event", onEvent);
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
  });

  api.on("GET", "/system/df", async (r, res) => {
    const kinds = r.query.getAll("type");
    const bad = kinds.find((k) => !["image", "container", "volume", "build-cache"].includes(k));
    if (bad) throw invalidArgument(`unknown object type: ${bad}`);
    sendJson(res, 200, await systemDiskUsage(e, kinds as DiskUsageKind[]));
  });

  api.on("POST", "/build/prune", (_r, res) => sendJson(res, 200, { CachesDeleted: [], SpaceReclaimed: 0 }));
  api.on("GET", "/plugins/([^/]+)/json", (_r, _res, m) => {
    throw notFound(`plugin "${m[1]}" not found`);
  });
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}

/** /etc/os-release as key → value (dockerd's Operating System and OSVersion come from it). */
function osRelease(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (readTrim("/etc/os-release") ?? "").split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** statfs magic → the names dockerd's overlay2 driver prints as its backing filesystem. */
const FILESYSTEMS: Record<number, string> = { 0xef53: "extfs", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x01021994: "tmpfs", 0x794c7630: "overlayfs", 0x2fc12fc1: "zfs" };

/** The lines `docker info` shows under Storage Driver. Gantry's overlay mounts use neither
 * redirect_dir nor metacopy (so the diff is native) nor userxattr (it runs as root). */
function overlayDriverStatus(root: string): [string, string][] {
  let fs = "<unknown>";
  try {
    fs = FILESYSTEMS[statfsSync(root).type] ?? `0x${statfsSync(root).type.toString(16)}`;
  } catch {
    /* the root is made at start; unreadable is unknown */
  }
  return [
    ["Backing Filesystem", fs],
    ["Supports d_type", "true"],
    ["Native Overlay Diff", "true"],
    ["userxattr", "false"],
  ];
}
