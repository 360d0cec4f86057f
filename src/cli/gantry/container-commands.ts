// Docker's container verbs as a client of `gantry daemon` (-H unix:///path.sock or
// GANTRY_HOST): run, create, start, stop, restart, kill, rm, pause, unpause, wait, logs,
// attach, exec, top, stats, inspect, ps, port, rename, cp, diff, events, info, version,
// system prune, and `ns` (which containers share each namespace). Flags are Docker's.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { basename, dirname, resolve } from "node:path";
import type { Socket } from "node:net";
import { Option, type Command } from "commander";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import { demux, ImageClient, readAll, type EngineClient } from "../../engine/index.ts";
import { clientOf } from "./daemon-client.ts";
import { humanAgo, pullWithProgress, renderTemplate } from "./image-commands.ts";

type Dict = Record<string, unknown>;
const out = (line: string) => process.stdout.write(`${line}\n`);
const collect = (v: string, prev: string[]) => [...prev, v];

/** Docker's RAMInBytes: 1024-based k, m, g, t suffixes (b optional). */
export function parseBytes(text: string, flag: string): number {
  if (text === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw invalidArgument(`invalid size: '${text}' for ${flag}`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.round(Number(m[1]) * mult);
}

function table(rows: string[][]): void {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  for (const r of rows) out(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd((widths[c] ?? 0) + 3))).join("").trimEnd());
}

// ---- run / create ------------------------------------------------------------------------

function addCreateOptions(c: Command): Command {
  return c
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
    .option("--cpu-shares <n>", "CPU shares (relative weight)")
    .option("--cpus <n>", "number of CPUs")
    .option("--cpuset-cpus <list>", "CPUs to run on (0-3, 0,1)")
    .option("--cpuset-mems <list>", "memory nodes")
    .option("--cpu-period <us>", "CFS period")
    .option("--cpu-quota <us>", "CFS quota")
    .option("-m, --memory <bytes>", "memory limit")
    .option("--memory-swap <bytes>", "memory+swap limit (-1: unlimited)")
    .option("--memory-swappiness <n>", "memory swappiness 0-100", "-1")
    .option("--memory-reservation <bytes>", "memory soft limit")
    .option("--pids-limit <n>", "pids limit (-1: unlimited)")
    .option("--blkio-weight <n>", "block IO weight 10-1000")
    .option("--device <host[:container[:perms]]>", "add a host device", collect, [])
    .option("--cap-add <cap>", "add a capability", collect, [])
    .option("--cap-drop <cap>", "drop a capability", collect, [])
    .option("--privileged", "give extended privileges")
    .option("--read-only", "mount the root filesystem read-only")
    .option("--security-opt <opt>", "security options", collect, [])
    .option("--pid <mode>", "PID namespace: host or container:NAME")
    .option("--ipc <mode>", "IPC namespace: host, private or container:NAME")
    .option("--uts <mode>", "UTS namespace: host or container:NAME")
    .option("--ulimit <name=soft[:hard]>", "ulimit", collect, [])
    .option("--stop-signal <sig>", "signal to stop the container")
    .option("--stop-timeout <s>", "seconds to wait before killing")
    .option("--init", "run an init inside the container")
    .option("--log-opt <k=v>", "log options (max-size, max-file)", collect, []);
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid argument "${v}" for "${flag}": not an integer`);
  return n;
}

export function createBody(image: string, command: string[], o: Dict): Dict {
  const env = [...(o.env as string[])];
  for (const f of o.envFile as string[]) {
    const text = readFileSync(f, "utf8");
    for (const line of text.split("\n")) if (line.trim() && !line.startsWith("#")) env.push(line.trim());
  }
  const labels: Record<string, string> = {};
  for (const l of o.label as string[]) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  const [restartName, restartMax] = String(o.restart).split(":");
  const portBindings: Dict = {};
  const exposed: Dict = {};
  for (const p of o.publish as string[]) {
    const parts = p.split(":");
    const container = parts.pop()!;
    const key = container.includes("/") ? container : `${container}/tcp`;
    exposed[key] = {};
    portBindings[key] = [{ HostIp: parts.length === 2 ? parts[0] : "", HostPort: parts.at(-1) ?? "" }];
  }
  const tmpfs: Record<string, string> = {};
  for (const t of o.tmpfs as string[]) {
    const [dst, opts = ""] = t.split(/:(.*)/s);
    tmpfs[dst!] = opts;
  }
  const ulimits = (o.ulimit as string[]).map((u) => {
    const m = /^(\w+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
    if (!m) throw invalidArgument(`invalid ulimit argument: ${u}`);
    return { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
  });
  const devices = (o.device as string[]).map((d) => {
    const [host, cont, perms] = d.split(":");
    return { PathOnHost: host, PathInContainer: cont || host, CgroupPermissions: perms || "rwm" };
  });
  const logCfg: Record<string, string> = {};
  for (const l of o.logOpt as string[]) {
    const eq = l.indexOf("=");
    logCfg[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const interactive = !!o.interactive;
  const hostConfig: Dict = {
    Binds: o.volume as string[],
    NetworkMode: (o.network as string | undefined) ?? "default",
    PortBindings: portBindings,
    PublishAllPorts: !!o.publishAll,
    RestartPolicy: { Name: restartName, MaximumRetryCount: restartMax ? Number(restartMax) : 0 },
    AutoRemove: !!o.rm,
    CapAdd: o.capAdd,
    CapDrop: o.capDrop,
    Privileged: !!o.privileged,
    ReadonlyRootfs: !!o.readOnly,
    SecurityOpt: (o.securityOpt as string[]).map(securityOptForDaemon),
    PidMode: o.pid ?? "",
    IpcMode: o.ipc ?? "",
    UTSMode: o.uts ?? "",
    Ulimits: ulimits,
    Init: o.init ? true : null,
    Tmpfs: tmpfs,
    Devices: devices,
    LogConfig: { Type: "json-file", Config: logCfg },
    CpuShares: int(o.cpuShares as string | undefined, "--cpu-shares") ?? 0,
    NanoCpus: o.cpus !== undefined ? Math.round(Number(o.cpus) * 1e9) : 0,
    CpusetCpus: o.cpusetCpus ?? "",
    CpusetMems: o.cpusetMems ?? "",
    CpuPeriod: int(o.cpuPeriod as string | undefined, "--cpu-period") ?? 0,
    CpuQuota: int(o.cpuQuota as string | undefined, "--cpu-quota") ?? 0,
    Memory: o.memory ? parseBytes(o.memory as string, "--memory") : 0,
    MemorySwap: o.memorySwap ? parseBytes(o.memorySwap as string, "--memory-swap") : 0,
    MemorySwappiness: Number(o.memorySwappiness),
    MemoryReservation: o.memoryReservation ? parseBytes(o.memoryReservation as string, "--memory-reservation") : 0,
    PidsLimit: int(o.pidsLimit as string | undefined, "--pids-limit") ?? null,
    BlkioWeight: int(o.blkioWeight as string | undefined, "--blkio-weight") ?? 0,
    ConsoleSize: o.tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : [0, 0],
  };
  // --mount type=volume|bind|tmpfs,source=…,target=…[,readonly] → Docker's HostConfig.Mounts.
  const mounts = (o.mount as string[]).map((spec) => {
    const m: Dict = { Type: "volume" };
    for (const part of spec.split(",")) {
      const [k = "", v] = part.split("=");
      const key = k.trim().toLowerCase();
      if (key === "type") m.Type = v;
      else if (key === "source" || key === "src") m.Source = v;
      else if (key === "target" || key === "dst" || key === "destination") m.Target = v;
      else if (key === "readonly" || key === "ro") m.ReadOnly = v === undefined || v === "true" || v === "1";
      else if (key === "tmpfs-size") m.TmpfsOptions = { ...((m.TmpfsOptions as Dict) ?? {}), SizeBytes: parseBytes(v ?? "", "--mount tmpfs-size") };
      else throw invalidArgument(`invalid field '${k}' must be a key=value pair in --mount ${spec}`);
    }
    return m;
  });
  hostConfig.Mounts = mounts;
  return {
    Image: image,
    Cmd: command.length ? command : undefined,
    Entrypoint: o.entrypoint !== undefined ? (o.entrypoint === "" ? [] : [o.entrypoint]) : undefined,
    Env: env,
    WorkingDir: o.workdir ?? "",
    User: o.user ?? "",
    Hostname: o.hostname ?? "",
    Labels: labels,
    Tty: !!o.tty,
    OpenStdin: interactive,
    StdinOnce: interactive,
    AttachStdin: interactive,
    AttachStdout: !o.detach,
    AttachStderr: !o.detach,
    ExposedPorts: exposed,
    StopSignal: o.stopSignal,
    StopTimeout: int(o.stopTimeout as string | undefined, "--stop-timeout"),
    HostConfig: hostConfig,
  };
}

async function createContainer(client: EngineClient, image: string, command: string[], o: Dict): Promise<string> {
  const name = o.name ? `?name=${encodeURIComponent(o.name as string)}` : "";
  const body = createBody(image, command, o);
  let r: { Id: string; Warnings: string[] | null };
  try {
    r = await client.call("POST", `/containers/create${name}`, body);
  } catch (err) {
    if (!(err instanceof GantryError && err.code === "NOT_FOUND" && /No such image/.test(err.message))) throw err;
    process.stderr.write(`Unable to find image '${image}' locally\n`);
    // As docker run does: the pull's progress goes to stderr, stdout is the container's.
    await pullWithProgress(new ImageClient(client), image, {}, process.stderr);
    r = await client.call("POST", `/containers/create${name}`, body);
  }
  for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return r.Id;
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

/** Pipes a hijacked stream to our stdio; resolves at EOF. */
function pumpStream(sock: Socket, tty: boolean, stdin: boolean): Promise<void> {
  return new Promise((resolveDone) => {
    if (tty) sock.on("data", (b: Buffer) => process.stdout.write(b));
    else sock.on("data", demux((s, p) => (s === 2 ? process.stderr : process.stdout).write(p)));
    sock.on("end", () => resolveDone());
    sock.on("close", () => resolveDone());
    sock.on("error", () => resolveDone());
    if (stdin) {
      if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
      process.stdin.on("data", (b: Buffer) => sock.write(b));
      process.stdin.on("end", () => sock.end());
    } else sock.end();
  });
}

/** As the docker CLI does: the pty follows our terminal's size, now and on each SIGWINCH. */
function followTerminalSize(client: EngineClient, resizePath: string): void {
  if (!process.stdout.isTTY) return;
  const resize = () => void client.call("POST", `${resizePath}?h=${process.stdout.rows}&w=${process.stdout.columns}`).catch(() => {});
  resize();
  process.on("SIGWINCH", resize);
}

function restoreTerminal(): void {
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stdin.pause();
}

async function runCommand(cmdArgs: string[], o: Dict, cmd: Command): Promise<void> {
  const [image, ...command] = cmdArgs;
  const client = clientOf(cmd);
  if (o.rm && o.detach === undefined) o.detach = false;
  const id = await createContainer(client, image!, command, o);
  if (o.detach) {
    await client.call("POST", `/containers/${id}/start`);
    out(id);
    return;
  }
  const tty = !!o.tty;
  const stdin = !!o.interactive;
  const sock = await client.hijack(`/containers/${id}/attach?stream=1&stdout=1&stderr=1${stdin ? "&stdin=1" : ""}`, undefined);
  const waitRes = await client.raw("POST", `/containers/${id}/wait?condition=${o.rm ? "removed" : "next-exit"}`);
  const waitBody = readAll(waitRes);
  const streamDone = pumpStream(sock, tty, stdin);
  try {
    await client.call("POST", `/containers/${id}/start`);
  } catch (err) {
    sock.destroy();
    restoreTerminal();
    const msg = (err as Error).message;
    process.stderr.write(`gantry: ${msg}\n`);
    process.exit(/executable file not found|no such file or directory/i.test(msg) ? 127 : /permission denied|is a directory/i.test(msg) ? 126 : 125);
  }
  if (tty) followTerminalSize(client, `/containers/${id}/resize`);
  const [text] = await Promise.all([waitBody, streamDone]);
  restoreTerminal();
  const code = (JSON.parse(text || "{}") as { StatusCode?: number }).StatusCode ?? 0;
  process.exit(code);
}

// ---- helpers for the other verbs ------------------------------------------------------------

async function inspect(client: EngineClient, ref: string): Promise<Dict> {
  return client.call<Dict>("GET", `/containers/${encodeURIComponent(ref)}/json`);
}

async function eachContainer(refs: string[], fn: (ref: string) => Promise<void>): Promise<void> {
  let failed = false;
  for (const r of refs) {
    try {
      await fn(r);
    } catch (err) {
      failed = true;
      process.stderr.write(`${(err as Error).message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}

function psRow(c: Dict, trunc: boolean): Dict {
  const id = String(c.Id);
  const command = String(c.Command);
  return {
    ID: trunc ? id.slice(0, 12) : id,
    Image: c.Image,
    Command: trunc && command.length > 20 ? `"${command.slice(0, 19)}…"` : `"${command}"`,
    CreatedAt: new Date(Number(c.Created) * 1000).toISOString(),
    RunningFor: humanAgo(new Date(Number(c.Created) * 1000).toISOString()),
    Status: c.Status,
    State: c.State,
    Ports: "",
    Names: (c.Names as string[]).map((n) => n.slice(1)).join(","),
    Labels: Object.entries((c.Labels as Record<string, string>) ?? {}).map(([k, v]) => `${k}=${v}`).join(","),
  };
}

function parseFilters(list: string[]): string {
  const f: Record<string, Record<string, boolean>> = {};
  for (const s of list) {
    const eq = s.indexOf("=");
    if (eq < 0) throw invalidArgument(`bad format of filter (expected name=value): ${s}`);
    (f[s.slice(0, eq)] ??= {})[s.slice(eq + 1)] = true;
  }
  return encodeURIComponent(JSON.stringify(f));
}

function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2).replace(/\.?0+$/, "")}${units[i]}`;
}

function statsRow(s: Dict): Record<string, string> {
  const cpu = s.cpu_stats as Dict;
  const pre = s.precpu_stats as Dict;
  const cpuDelta = Number((cpu.cpu_usage as Dict)?.total_usage ?? 0) - Number((pre.cpu_usage as Dict)?.total_usage ?? 0);
  const sysDelta = Number(cpu.system_cpu_usage ?? 0) - Number(pre.system_cpu_usage ?? 0);
  const pct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * Number(cpu.online_cpus ?? 1) * 100 : 0;
  const mem = s.memory_stats as Dict;
  const stats = (mem.stats as Record<string, number>) ?? {};
  const used = Number(mem.usage ?? 0) - Number(stats.total_inactive_file ?? stats.inactive_file ?? 0);
  const limit = Number(mem.limit ?? 0);
  return {
    ID: String(s.id).slice(0, 12),
    Name: String(s.name).replace(/^\//, ""),
    CPUPerc: `${pct.toFixed(2)}%`,
    MemUsage: `${fmtBytes(Math.max(used, 0))} / ${fmtBytes(limit)}`,
    MemPerc: `${limit ? ((used / limit) * 100).toFixed(2) : "0.00"}%`,
    PIDs: String((s.pids_stats as Dict)?.current ?? 0),
  };
}

const NS_ORDER = ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];

// ---- registration ---------------------------------------------------------------------------

export function registerContainerCommands(program: Command): void {
  // Docker's grammar: options after the image (or the container, for exec) belong to the
  // command run inside, so program options must come before the verb (gantry -H S run …).
  program.enablePositionalOptions();
  if (!program.options.some((opt) => opt.long === "--host")) {
    program.addOption(new Option("-H, --host <socket>", "daemon socket (unix:///run/gantry/gantry.sock; $GANTRY_HOST)"));
  }

  addCreateOptions(program.command("run").description("Create and start a container").option("-d, --detach", "run in the background and print the ID"))
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions()
    .action((image: string, command: string[], o: Dict, cmd: Command) => runCommand([image, ...command], o, cmd));

  addCreateOptions(program.command("create").description("Create a container"))
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions()
    .action(async (image: string, command: string[], o: Dict, cmd: Command) => {
      o.detach = true;
      out(await createContainer(clientOf(cmd), image, command, o));
    });

  program
    .command("start")
    .description("Start containers")
    .option("-a, --attach", "attach stdout/stderr")
    .option("-i, --interactive", "attach stdin")
    .argument("<containers...>")
    .action(async (refs: string[], o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      if (o.attach && refs.length === 1) {
        const info = await inspect(client, refs[0]!);
        const tty = !!(info.Config as Dict).Tty;
        const sock = await client.hijack(`/containers/${refs[0]}/attach?stream=1&stdout=1&stderr=1${o.interactive ? "&stdin=1" : ""}`, undefined);
        const waitRes = await client.raw("POST", `/containers/${refs[0]}/wait?condition=next-exit`);
        const done = pumpStream(sock, tty, !!o.interactive);
        await client.call("POST", `/containers/${refs[0]}/start`);
        const [text] = await Promise.all([readAll(waitRes), done]);
        restoreTerminal();
        process.exit((JSON.parse(text || "{}") as { StatusCode?: number }).StatusCode ?? 0);
      }
      await eachContainer(refs, async (r) => {
        await client.call("POST", `/containers/${encodeURIComponent(r)}/start`);
        out(r);
      });
    });

  for (const [verb, desc] of [["stop", "Stop containers"], ["restart", "Restart containers"]] as const) {
    program
      .command(verb)
      .description(desc)
      .option("-t, --timeout <s>", "seconds to wait before killing")
      .option("-s, --signal <sig>", "signal to send")
      .argument("<containers...>")
      .action(async (refs: string[], o: { timeout?: string; signal?: string }, cmd: Command) => {
        const client = clientOf(cmd);
        const q = new URLSearchParams();
        if (o.timeout !== undefined) q.set("t", o.timeout);
        if (o.signal) q.set("signal", o.signal);
        await eachContainer(refs, async (r) => {
          await client.call("POST", `/containers/${encodeURIComponent(r)}/${verb}?${q}`);
          out(r);
        });
      });
  }

  program
    .command("kill")
    .description("Kill containers")
    .option("-s, --signal <sig>", "signal", "KILL")
    .argument("<containers...>")
    .action(async (refs: string[], o: { signal: string }, cmd: Command) => {
      const client = clientOf(cmd);
      await eachContainer(refs, async (r) => {
        await client.call("POST", `/containers/${encodeURIComponent(r)}/kill?signal=${encodeURIComponent(o.signal)}`);
        out(r);
      });
    });

  program
    .command("rm")
    .description("Remove containers")
    .option("-f, --force", "kill a running container first")
    .option("-v, --volumes", "remove anonymous volumes")
    .argument("<containers...>")
    .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      await eachContainer(refs, async (r) => {
        try {
          await client.call("DELETE", `/containers/${encodeURIComponent(r)}?force=${o.force ? 1 : 0}&v=${o.volumes ? 1 : 0}`);
        } catch (err) {
          if (o.force && err instanceof GantryError && err.code === "NOT_FOUND") return;
          throw err;
        }
        out(r);
      });
    });

  for (const verb of ["pause", "unpause"] as const) {
    program
      .command(verb)
      .description(`${verb === "pause" ? "Freeze" : "Thaw"} all processes of containers`)
      .argument("<containers...>")
      .action(async (refs: string[], _o: Dict, cmd: Command) => {
        const client = clientOf(cmd);
        await eachContainer(refs, async (r) => {
          await client.call("POST", `/containers/${encodeURIComponent(r)}/${verb}`);
          out(r);
        });
      });
  }

  program
    .command("wait")
    .description("Block until containers stop, print their exit codes")
    .argument("<containers...>")
    .action(async (refs: string[], _o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      await eachContainer(refs, async (r) => {
        const res = await client.call<{ StatusCode: number }>("POST", `/containers/${encodeURIComponent(r)}/wait`);
        out(String(res.StatusCode));
      });
    });

  program
    .command("logs")
    .description("Fetch a container's logs")
    .option("-f, --follow", "follow")
    .option("-n, --tail <n>", "lines from the end", "all")
    .option("--since <time>", "since a unix time or duration (10m)")
    .option("-t, --timestamps", "show timestamps")
    .argument("<container>")
    .action(async (ref: string, o: { follow?: boolean; tail: string; since?: string; timestamps?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const info = await inspect(client, ref);
      const q = new URLSearchParams({ stdout: "1", stderr: "1", tail: o.tail });
      if (o.follow) q.set("follow", "1");
      if (o.timestamps) q.set("timestamps", "1");
      if (o.since) {
        const m = /^(\d+)([smh])$/.exec(o.since);
        q.set("since", m ? String(Math.floor(Date.now() / 1000) - Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"]) : String(Math.floor(Date.parse(o.since) / 1000) || o.since));
      }
      const res = await client.raw("GET", `/containers/${info.Id}/logs?${q}`);
      if ((res.statusCode ?? 500) >= 400) throw new GantryError("INVALID_ARGUMENT", await readAll(res));
      const tty = !!(info.Config as Dict).Tty;
      await new Promise<void>((done) => {
        if (tty) res.on("data", (b: Buffer) => process.stdout.write(b));
        else res.on("data", demux((s, p) => (s === 2 ? process.stderr : process.stdout).write(p)));
        res.on("end", done);
      });
    });

  program
    .command("attach")
    .description("Attach stdio to a running container")
    .option("--no-stdin", "do not attach stdin")
    .argument("<container>")
    .action(async (ref: string, o: { stdin: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      const info = await inspect(client, ref);
      const tty = !!(info.Config as Dict).Tty;
      const withStdin = o.stdin && !!(info.Config as Dict).OpenStdin;
      const sock = await client.hijack(`/containers/${info.Id}/attach?stream=1&stdout=1&stderr=1${withStdin ? "&stdin=1" : ""}`, undefined);
      await pumpStream(sock, tty, withStdin);
      restoreTerminal();
      const after = await inspect(client, String(info.Id)).catch(() => undefined);
      process.exit(Number((after?.State as Dict | undefined)?.ExitCode ?? 0));
    });

  program
    .command("exec")
    .description("Run a command in a running container")
    .option("-d, --detach", "run in the background")
    .option("-i, --interactive", "keep stdin open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("-e, --env <VAR=value>", "environment variable", collect, [])
    .option("-u, --user <user>", "user[:group]")
    .option("-w, --workdir <dir>", "working directory")
    .option("--privileged", "extended privileges")
    .argument("<container>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (ref: string, command: string[], o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      const tty = !!o.tty;
      const body = {
        User: o.user ?? "",
        Privileged: !!o.privileged,
        Tty: tty,
        AttachStdin: !!o.interactive && !o.detach,
        AttachStdout: !o.detach,
        AttachStderr: !o.detach,
        Detach: !!o.detach,
        Env: o.env,
        WorkingDir: o.workdir ?? "",
        Cmd: command,
        ...(tty && process.stdout.isTTY ? { ConsoleSize: [process.stdout.rows, process.stdout.columns] } : {}),
      };
      const { Id } = await client.call<{ Id: string }>("POST", `/containers/${encodeURIComponent(ref)}/exec`, body);
      if (o.detach) {
        await client.call("POST", `/exec/${Id}/start`, { Detach: true, Tty: tty });
        return;
      }
      const sock = await client.hijack(`/exec/${Id}/start`, { Detach: false, Tty: tty });
      if (tty) followTerminalSize(client, `/exec/${Id}/resize`);
      await pumpStream(sock, tty, !!o.interactive);
      restoreTerminal();
      const r = await client.call<{ ExitCode: number | null }>("GET", `/exec/${Id}/json`);
      process.exit(r.ExitCode ?? 126);
    });

  program
    .command("top")
    .description("Show a container's processes")
    .argument("<container>")
    .argument("[ps-options...]")
    .action(async (ref: string, psArgs: string[], _o: Dict, cmd: Command) => {
      const q = psArgs.length ? `?ps_args=${encodeURIComponent(psArgs.join(" "))}` : "";
      const r = await clientOf(cmd).call<{ Titles: string[]; Processes: string[][] }>("GET", `/containers/${encodeURIComponent(ref)}/top${q}`);
      table([r.Titles, ...r.Processes]);
    });

  program
    .command("stats")
    .description("Live resource usage of containers")
    .option("--no-stream", "print one sample and exit")
    .option("-a, --all", "all containers, not only running")
    .option("--format <template>", "Go-template subset")
    .argument("[containers...]")
    .action(async (refs: string[], o: { stream: boolean; all?: boolean; format?: string }, cmd: Command) => {
      const client = clientOf(cmd);
      const ids = refs.length ? refs : (await client.call<Dict[]>("GET", `/containers/json${o.all ? "?all=1" : ""}`)).map((c) => String(c.Id));
      for (;;) {
        const rows = await Promise.all(ids.map((id) => client.call<Dict>("GET", `/containers/${encodeURIComponent(id)}/stats?stream=0`).then(statsRow)));
        if (o.stream) process.stdout.write("\x1b[2J\x1b[H");
        if (o.format) rows.forEach((r) => out(renderTemplate(o.format as string, r)));
        else table([["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"], ...rows.map((r) => [r.ID!, r.Name!, r.CPUPerc!, r.MemUsage!, r.MemPerc!, r.PIDs!])]);
        if (!o.stream) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

  program
    .command("inspect")
    .description("Low-level information on containers (Docker's JSON plus a Gantry key)")
    .option("-f, --format <template>", "Go-template subset: {{.State.Pid}}, {{json .Config}}")
    .argument("<containers...>")
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const client = clientOf(cmd);
      const docs: Dict[] = [];
      let failed = false;
      for (const r of refs) {
        try {
          docs.push(await inspect(client, r));
        } catch (err) {
          failed = true;
          process.stderr.write(`${(err as Error).message}\n`);
        }
      }
      if (o.format) docs.forEach((d) => out(renderTemplate(o.format as string, d)));
      else out(JSON.stringify(docs, null, 4));
      if (failed) process.exitCode = 1;
    });

  program
    .command("ps")
    .description("List containers")
    .option("-a, --all", "all containers (default: running)")
    .option("-q, --quiet", "only IDs")
    .option("-f, --filter <k=v>", "filter (name, status, id, label, exited, ancestor)", collect, [])
    .option("--format <template>", "Go-template subset: {{.ID}} {{.Names}} {{.Status}}")
    .option("--no-trunc", "do not truncate")
    .option("-n, --last <n>", "last n containers")
    .action(async (o: { all?: boolean; quiet?: boolean; filter: string[]; format?: string; trunc: boolean; last?: string }, cmd: Command) => {
      const q = new URLSearchParams();
      if (o.all || o.last) q.set("all", "1");
      if (o.last) q.set("limit", o.last);
      let path = `/containers/json?${q}`;
      if (o.filter.length) path += `&filters=${parseFilters(o.filter)}`;
      const list = await clientOf(cmd).call<Dict[]>("GET", path);
      const rows = list.map((c) => psRow(c, o.trunc));
      if (o.quiet) return rows.forEach((r) => out(String(r.ID)));
      if (o.format) return rows.forEach((r) => out(renderTemplate(o.format as string, r)));
      table([["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names].map(String))]);
    });

  program
    .command("port")
    .description("List a container's port mappings")
    .argument("<container>")
    .action(async (ref: string, _o: Dict, cmd: Command) => {
      const info = await inspect(clientOf(cmd), ref);
      const ports = ((info.NetworkSettings as Dict).Ports ?? {}) as Record<string, { HostIp: string; HostPort: string }[] | null>;
      for (const [k, v] of Object.entries(ports)) for (const b of v ?? []) out(`${k} -> ${b.HostIp || "0.0.0.0"}:${b.HostPort}`);
    });

  program
    .command("rename")
    .description("Rename a container")
    .argument("<container>")
    .argument("<new-name>")
    .action(async (ref: string, name: string, _o: Dict, cmd: Command) => {
      await clientOf(cmd).call("POST", `/containers/${encodeURIComponent(ref)}/rename?name=${encodeURIComponent(name)}`);
    });

  program
    .command("diff")
    .description("Changes to a container's filesystem")
    .argument("<container>")
    .action(async (ref: string, _o: Dict, cmd: Command) => {
      const changes = await clientOf(cmd).call<{ Path: string; Kind: number }[]>("GET", `/containers/${encodeURIComponent(ref)}/changes`);
      for (const c of changes ?? []) out(`${"CAD"[c.Kind]} ${c.Path}`);
    });

  program
    .command("export")
    .description("Export a container's filesystem as a tar archive")
    .option("-o, --output <file>", "write to a file instead of standard output")
    .argument("<container>")
    .action(async (ref: string, o: Dict, cmd: Command) => {
      const res = await clientOf(cmd).raw("GET", `/containers/${encodeURIComponent(ref)}/export`);
      if ((res.statusCode ?? 500) >= 400) throw new GantryError("NOT_FOUND", `Error response from daemon: ${await readAll(res)}`);
      const dest = o.output ? createWriteStream(String(o.output)) : process.stdout;
      await pipeline(res, dest);
    });

  program
    .command("cp")
    .description("Copy files between a container and the host (CONTAINER:PATH or PATH)")
    .argument("<src>")
    .argument("<dest>")
    .action(async (src: string, dest: string, _o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      const split = (s: string) => {
        const m = /^([^:/][^:]*):(.*)$/.exec(s);
        return m ? { container: m[1]!, path: m[2]! } : undefined;
      };
      const from = split(src);
      const to = split(dest);
      if (from && !to) {
        const res = await client.raw("GET", `/containers/${encodeURIComponent(from.container)}/archive?path=${encodeURIComponent(from.path)}`);
        if ((res.statusCode ?? 500) >= 400) throw new GantryError("NOT_FOUND", `Error response from daemon: ${await readAll(res)}`);
        const destIsDir = existsSync(dest) && statSync(dest).isDirectory();
        const target = destIsDir ? dest : dirname(resolve(dest));
        const tar = spawn("tar", ["-x", "-f", "-", "-C", target, ...(destIsDir ? [] : [`--transform=s|^${basename(from.path)}|${basename(dest)}|`])], { stdio: ["pipe", "inherit", "inherit"] });
        res.pipe(tar.stdin);
        await new Promise((r) => tar.on("close", r));
      } else if (to && !from) {
        const tar = spawn("tar", ["-c", "-f", "-", "-C", dirname(resolve(src)), basename(src)], { stdio: ["ignore", "pipe", "inherit"] });
        const res = await client.raw("PUT", `/containers/${encodeURIComponent(to.container)}/archive?path=${encodeURIComponent(to.path)}`, tar.stdout, { "Content-Type": "application/x-tar" });
        const text = await readAll(res);
        if ((res.statusCode ?? 500) >= 400) throw new GantryError("INVALID_ARGUMENT", `Error response from daemon: ${text}`);
      } else throw invalidArgument("copying between containers or between host paths is not supported: give exactly one CONTAINER:PATH");
    });

  program
    .command("events")
    .description("Stream engine events")
    .option("--since <t>", "unix time")
    .option("--until <t>", "unix time")
    .option("-f, --filter <k=v>", "filter", collect, [])
    .option("--format <template>", "Go-template subset")
    .action(async (o: { since?: string; until?: string; filter: string[]; format?: string }, cmd: Command) => {
      const q = new URLSearchParams();
      if (o.since) q.set("since", o.since);
      if (o.until) q.set("until", o.until);
      let path = `/events?${q}`;
      if (o.filter.length) path += `&filters=${parseFilters(o.filter)}`;
      const res = await clientOf(cmd).raw("GET", path);
      let buf = "";
      await new Promise<void>((done) => {
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const ev = JSON.parse(buf.slice(0, nl)) as Dict;
            buf = buf.slice(nl + 1);
            if (o.format) out(renderTemplate(o.format, ev));
            else {
              const attrs = Object.entries(((ev.Actor as Dict).Attributes as Record<string, string>) ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
              out(`${new Date(Number(ev.timeNano) / 1e6).toISOString()} ${String(ev.Type)} ${String(ev.Action)} ${String((ev.Actor as Dict).ID)} (${attrs})`);
            }
          }
        });
        res.on("end", done);
      });
    });

  program
    .command("info")
    .description("System-wide information from the daemon")
    .option("-f, --format <template>", "Go-template subset")
    .action(async (o: { format?: string }, cmd: Command) => {
      const info = await clientOf(cmd).call<Dict>("GET", "/info");
      if (o.format) {
        out(renderTemplate(o.format, info));
        return;
      }
      for (const k of ["ServerVersion", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver", "CgroupDriver", "CgroupVersion", "KernelVersion", "NCPU", "MemTotal", "DockerRootDir", "DefaultRuntime"]) {
        out(`${k}: ${String(info[k])}`);
      }
    });

  program
    .command("version")
    .description("Client and daemon versions")
    .action(async (_o: Dict, cmd: Command) => {
      out(`Client: gantry 0.1.0 (API 1.50)`);
      const v = await clientOf(cmd).call<Dict>("GET", "/version");
      out(`Server: ${String((v.Platform as Dict).Name)} ${String(v.Version)} (API ${String(v.ApiVersion)}, minimum ${String(v.MinAPIVersion)}), kernel ${String(v.KernelVersion)}`);
    });

  const system = program.commands.find((c) => c.name() === "system") ?? program.command("system").description("Manage the engine");
  system
    .command("prune")
    .description("Remove stopped containers and dangling image content")
    .option("-f, --force", "do not prompt")
    .option("-a, --all", "all unused images too")
    .action(async (_o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      const c = await client.call<{ ContainersDeleted: string[] | null }>("POST", "/containers/prune");
      out("Deleted Containers:");
      for (const id of c.ContainersDeleted ?? []) out(id);
      const i = await client.call<{ SpaceReclaimed: number }>("POST", "/images/prune");
      out(`\nTotal reclaimed space: ${fmtBytes(i.SpaceReclaimed ?? 0)}`);
    });

  program
    .command("ns")
    .description("Show a container's namespaces (like ls -l /proc/PID/ns) and which other containers share each")
    .argument("<container>")
    .action(async (ref: string, _o: Dict, cmd: Command) => {
      const client = clientOf(cmd);
      const info = await inspect(client, ref);
      const pid = Number((info.State as Dict).Pid);
      if (!pid) throw new GantryError("CONFLICT", `container ${ref} is not running`);
      const others = (await client.call<Dict[]>("GET", "/containers/json")).filter((c) => c.Id !== info.Id);
      const otherNs = await Promise.all(
        others.map(async (c) => ({ name: (c.Names as string[])[0]!.slice(1), ns: ((await inspect(client, String(c.Id))).Gantry as Dict).Namespaces as Record<string, string> })),
      );
      const ns = (info.Gantry as Dict).Namespaces as Record<string, string>;
      out(`namespaces of ${String(info.Name).slice(1)} (pid ${pid}):`);
      for (const n of NS_ORDER) {
        const link = ns[n];
        if (!link) continue;
        let host = "";
        try {
          host = readlinkSync(`/proc/self/ns/${n}`) === link ? "  [host]" : "";
        } catch {
          host = "";
        }
        const sharers = otherNs.filter((o) => o.ns[n] === link).map((o) => o.name);
        out(`lrwxrwxrwx 1 root root 0 ${n.padEnd(18)} -> ${link.padEnd(20)}${host}${sharers.length ? `  shared with: ${sharers.join(", ")}` : ""}`);
      }
    });
}
