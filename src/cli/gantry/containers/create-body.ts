// `run` and `create`'s flags (Docker's) and the Engine API create body they become. Ports
// and mounts are parsed by the libraries the daemon uses (src/network ports, src/volume
// mount-spec), so a bad -p, -v, --mount or --tmpfs fails here with the daemon's message,
// before anything is sent.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { invalidArgument } from "../../../common/errors.ts";
import type { CreateBody, HostConfig } from "../../../engine/index.ts";
import { parsePublish, toDockerPortBindings } from "../../../network/index.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, toDockerMount } from "../../../volume/index.ts";
import { collect, int, parseBytes } from "./argv.ts";
import { addHealthOptions, healthcheckOf, type HealthFlags } from "./health-flags.ts";

/** The resource flags `run`/`create` and `update` share. */
export function addResourceOptions(c: Command): Command {
  return c
    .option("--cpu-shares <n>", "CPU shares (relative weight)")
    .option("--cpus <n>", "number of CPUs")
    .option("--cpuset-cpus <list>", "CPUs to run on (0-3, 0,1)")
    .option("--cpuset-mems <list>", "memory nodes")
    .option("--cpu-period <us>", "CFS period")
    .option("--cpu-quota <us>", "CFS quota")
    .option("-m, --memory <bytes>", "memory limit")
    .option("--memory-swap <bytes>", "memory+swap limit (-1: unlimited)")
    .option("--memory-reservation <bytes>", "memory soft limit")
    .option("--pids-limit <n>", "pids limit (-1: unlimited)")
    .option("--blkio-weight <n>", "block IO weight 10-1000");
}

export interface ResourceFlags {
  cpuShares?: string;
  cpus?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  pidsLimit?: string;
  blkioWeight?: string;
}

/** The resource fields of HostConfig (and of an update body): 0, "" and null mean unset. */
export function resourceFields(o: ResourceFlags): HostConfig {
  return {
    CpuShares: int(o.cpuShares, "--cpu-shares") ?? 0,
    NanoCpus: o.cpus !== undefined ? Math.round(Number(o.cpus) * 1e9) : 0,
    CpusetCpus: o.cpusetCpus ?? "",
    CpusetMems: o.cpusetMems ?? "",
    CpuPeriod: int(o.cpuPeriod, "--cpu-period") ?? 0,
    CpuQuota: int(o.cpuQuota, "--cpu-quota") ?? 0,
    Memory: o.memory ? parseBytes(o.memory, "--memory") : 0,
    MemorySwap: o.memorySwap ? parseBytes(o.memorySwap, "--memory-swap") : 0,
    MemoryReservation: o.memoryReservation ? parseBytes(o.memoryReservation, "--memory-reservation") : 0,
    PidsLimit: int(o.pidsLimit, "--pids-limit") ?? null,
    BlkioWeight: int(o.blkioWeight, "--blkio-weight") ?? 0,
  };
}

/** `--restart no|always|unless-stopped|on-failure[:N]` (the daemon checks the name). */
export function restartPolicyFlag(text: string): NonNullable<HostConfig["RestartPolicy"]> {
  const [name, max] = text.split(":");
  return { Name: name as NonNullable<HostConfig["RestartPolicy"]>["Name"], MaximumRetryCount: max ? Number(max) : 0 };
}

export function addCreateOptions(c: Command): Command {
  return addResourceOptions(addHealthOptions(c))
    .option("-e, --env <VAR=value>", "set an environment variable", collect, [])
    .option("--env-file <file>", "read environment variables from a file", collect, [])
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("-u, --user <user>", "user[:group] to run as")
    .option("--entrypoint <cmd>", "overwrite the image's entrypoint")
    .option("-h, --hostname <name>", "container host name")
    .option("-l, --label <k=v>", "set a label", collect, [])
    .option("-i, --interactive", "keep stdin open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("--name <name>", "container name")
    .option("-p, --publish <spec>", "publish a port", collect, [])
    .option("-P, --publish-all", "publish all exposed ports")
    .option("-v, --volume <spec>", "bind mount a volume", collect, [])
    .option("--mount <spec>", "attach a filesystem mount", collect, [])
    .option("--tmpfs <dst[:opts]>", "mount a tmpfs", collect, [])
    .option("--network <mode>", "network mode (none, host, container:NAME)")
    .option("--restart <policy>", "restart policy: no, always, unless-stopped, on-failure[:N]", "no")
    .option("--rm", "remove the container when it exits")
    .option("--memory-swappiness <n>", "memory swappiness 0-100", "-1")
    .option("--device <host[:container[:perms]]>", "add a host device", collect, [])
    .option("--cap-add <cap>", "add a capability", collect, [])
    .option("--cap-drop <cap>", "drop a capability", collect, [])
    .option("--privileged", "give extended privileges")
    .option("--read-only", "mount the root filesystem read-only")
    .option("--security-opt <opt>", "security options", collect, [])
    .option("--pid <mode>", "PID namespace: host or container:NAME")
    .option("--ipc <mode>", "IPC namespace: host, private or container:NAME")
    .option("--uts <mode>", "UTS namespace: host or container:NAME")
    .option("--userns <mode>", "user namespace: host (opt out of the daemon's --userns-remap), auto[:size=N] (a range of its own) or container:NAME (join that container's)")
    .option("--ulimit <name=soft[:hard]>", "ulimit", collect, [])
    .option("--stop-signal <sig>", "signal to stop the container")
    .option("--stop-timeout <s>", "seconds to wait before killing")
    .option("--init", "run an init inside the container")
    .option("--log-opt <k=v>", "log options (max-size, max-file)", collect, []);
}

/** The flags as commander hands them over (see addCreateOptions). */
export interface CreateFlags extends HealthFlags, ResourceFlags {
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  label: string[];
  interactive?: boolean;
  tty?: boolean;
  detach?: boolean;
  name?: string;
  publish: string[];
  publishAll?: boolean;
  volume: string[];
  mount: string[];
  tmpfs: string[];
  network?: string;
  restart: string;
  rm?: boolean;
  memorySwappiness: string;
  device: string[];
  capAdd: string[];
  capDrop: string[];
  privileged?: boolean;
  readOnly?: boolean;
  securityOpt: string[];
  pid?: string;
  ipc?: string;
  uts?: string;
  userns?: string;
  ulimit: string[];
  stopSignal?: string;
  stopTimeout?: string;
  init?: boolean;
  logOpt: string[];
}

/** `k=v` items into a map; a bare `k` is `k=""`. */
function keyValues(items: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const l of items) {
    const eq = l.indexOf("=");
    map[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return map;
}

function envFromFiles(files: string[]): string[] {
  const env: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(f, "utf8").split("\n")) if (line.trim() && !line.startsWith("#")) env.push(line.trim());
  }
  return env;
}

/** -p: every mapping the library parses, in Docker's PortBindings, each port also exposed. */
function publishedPorts(specs: string[]): Pick<HostConfig, "PortBindings"> & { ExposedPorts: Record<string, object> } {
  const bindings = toDockerPortBindings(specs.flatMap(parsePublish));
  return { PortBindings: bindings, ExposedPorts: Object.fromEntries(Object.keys(bindings).map((k) => [k, {}])) };
}

/** --tmpfs: parsed (and so checked) here, sent as Docker's HostConfig.Tmpfs map. */
function tmpfsMap(specs: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const spec of specs) {
    const t = parseTmpfsFlag(spec);
    map[t.target] = [...t.options, ...(t.readOnly ? ["ro"] : [])].join(",");
  }
  return map;
}

/** As the docker CLI does: `seccomp=PATH` is sent as `seccomp=<the file's JSON>`, since the
 * daemon may run elsewhere and reads no client files. */
function securityOptForDaemon(opt: string): string {
  const m = /^seccomp[=:](.+)$/.exec(opt);
  if (!m || ["unconfined", "builtin"].includes(m[1]!)) return opt;
  let text: string;
  try {
    text = readFileSync(m[1]!, "utf8");
  } catch (err) {
    throw invalidArgument(`opening seccomp profile (${m[1]}) failed: ${(err as Error).message}`);
  }
  try {
    return `seccomp=${JSON.stringify(JSON.parse(text))}`;
  } catch (err) {
    throw invalidArgument(`compacting json for seccomp profile (${m[1]}) failed: ${(err as Error).message}`);
  }
}

/**
 * The create body for IMAGE COMMAND with these flags. `consoleSize` is our terminal's
 * [rows, columns] for a -t container ([0, 0] when there is none).
 */
export function createBody(image: string, command: string[], o: CreateFlags, consoleSize: [number, number] = [0, 0]): CreateBody {
  const ulimits = o.ulimit.map((u) => {
    const m = /^(\w+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
    if (!m) throw invalidArgument(`invalid ulimit argument: ${u}`);
    return { Name: m[1]!, Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
  });
  const devices = o.device.map((d) => {
    const [host = "", cont, perms] = d.split(":");
    return { PathOnHost: host, PathInContainer: cont || host, CgroupPermissions: perms || "rwm" };
  });
  // -v is sent as written (Docker's Binds), after the library has checked it.
  o.volume.forEach(parseVolumeFlag);
  const { PortBindings, ExposedPorts } = publishedPorts(o.publish);
  const interactive = !!o.interactive;
  const hostConfig: HostConfig = {
    Binds: o.volume,
    NetworkMode: o.network ?? "default",
    PortBindings,
    PublishAllPorts: !!o.publishAll,
    RestartPolicy: restartPolicyFlag(o.restart),
    AutoRemove: !!o.rm,
    CapAdd: o.capAdd,
    CapDrop: o.capDrop,
    Privileged: !!o.privileged,
    ReadonlyRootfs: !!o.readOnly,
    SecurityOpt: o.securityOpt.map(securityOptForDaemon),
    PidMode: o.pid ?? "",
    IpcMode: o.ipc ?? "",
    UTSMode: o.uts ?? "",
    UsernsMode: o.userns ?? "",
    Ulimits: ulimits,
    Init: o.init ? true : null,
    Tmpfs: tmpfsMap(o.tmpfs),
    Mounts: o.mount.map((spec) => toDockerMount(parseMountFlag(spec))),
    Devices: devices,
    LogConfig: { Type: "json-file", Config: keyValues(o.logOpt) },
    ...resourceFields(o),
    MemorySwappiness: Number(o.memorySwappiness),
    ConsoleSize: o.tty ? consoleSize : [0, 0],
  };
  return {
    Image: image,
    Cmd: command.length ? command : undefined,
    Entrypoint: o.entrypoint !== undefined ? (o.entrypoint === "" ? [] : [o.entrypoint]) : undefined,
    Env: [...o.env, ...envFromFiles(o.envFile)],
    WorkingDir: o.workdir ?? "",
    User: o.user ?? "",
    Hostname: o.hostname ?? "",
    Labels: keyValues(o.label),
    Tty: !!o.tty,
    OpenStdin: interactive,
    StdinOnce: interactive,
    AttachStdin: interactive,
    AttachStdout: !o.detach,
    AttachStderr: !o.detach,
    ExposedPorts,
    StopSignal: o.stopSignal,
    StopTimeout: int(o.stopTimeout, "--stop-timeout"),
    Healthcheck: healthcheckOf(o),
    HostConfig: hostConfig,
  };
}
