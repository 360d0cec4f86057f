// gantry-runtime: an OCI runtime with runc's command line. Parses argv, calls one
// Runtime method, prints the result. Unsupported options are refused by name.
import { appendFileSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { childProcess } from "../../common/lazy-builtins.ts";
import { describeError, GantryError } from "../../common/errors.ts";
import { Runtime, OCI_VERSION, DEFAULT_ROOT, type OciProcess, defaultSpec, CAPABILITIES, parseProcessSpec } from "../../runtime/index.ts";
import { parseCommandLine, type CommandSpec, type OptionSpec, type Values } from "./args.ts";

const globalOptions: Record<string, OptionSpec> = {
  root: { type: "string", default: DEFAULT_ROOT, help: "directory for container state" },
  log: { type: "string", help: "append errors and warnings to this file" },
  "log-format": { type: "string", default: "text", help: "log format: text or json" },
  debug: { type: "boolean", help: "log more" },
  "systemd-cgroup": { type: "boolean", help: "use systemd to manage cgroups (not supported: refused)" },
  rootless: { type: "string", help: 'rootless mode: only "false" is supported' },
  criu: { type: "string", help: "checkpoint/restore (not supported: refused)" },
  version: { type: "boolean", short: "v", help: "print the version" },
  help: { type: "boolean", short: "h", help: "print this help" },
};

type Action = (operands: string[], o: Values) => void | Promise<void>;
const commands: (CommandSpec & { action: Action })[] = [];
function command(spec: Omit<CommandSpec, "options"> & { options?: Record<string, OptionSpec> }, action: Action): void {
  commands.push({ ...spec, options: { ...spec.options, help: { type: "boolean", short: "h", help: "print this command's help" } }, action });
}

let globals: Values = {};
const str = (v: Values[string]) => (typeof v === "string" ? v : undefined);
const list = (v: Values[string]) => (Array.isArray(v) ? v : []);

function log(level: "error" | "warning", msg: string): void {
  const file = str(globals.log);
  if (!file) return;
  const line =
    globals["log-format"] === "json"
      ? JSON.stringify({ level, msg, time: new Date().toISOString() }) + "\n"
      : `time="${new Date().toISOString()}" level=${level} msg="${msg}"\n`;
  try {
    appendFileSync(file, line);
  } catch {
    /* logging must never mask the real error */
  }
}

function runtime(): Runtime {
  if (globals["systemd-cgroup"]) {
    throw new GantryError("UNSUPPORTED_OPTION", "--systemd-cgroup is not supported: Gantry manages cgroupfs directly", {
      hint: "configure your engine to use the cgroupfs cgroup manager",
    });
  }
  if (globals.criu) throw new GantryError("UNSUPPORTED_OPTION", "--criu: checkpoint/restore is not supported");
  const rootless = str(globals.rootless);
  if (rootless && rootless !== "false" && rootless !== "auto") {
    throw new GantryError("UNSUPPORTED_OPTION", `--rootless ${rootless}: rootless mode is not supported`);
  }
  return new Runtime(str(globals.root)!, (m) => {
    process.stderr.write(`gantry-runtime: warning: ${m}\n`);
    log("warning", m);
  });
}

const int = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new GantryError("INVALID_ARGUMENT", `${what}: not a number: ${v}`);
  return Number(v);
};

const bundleOption: OptionSpec = { type: "string", short: "b", default: ".", help: "bundle directory" };
const createOptions: Record<string, OptionSpec> = {
  bundle: bundleOption,
  "pid-file": { type: "string", help: "write the container's pid here" },
  "console-socket": { type: "string", help: "unix socket receiving the pty master (process.terminal)" },
  "no-pivot": { type: "boolean", help: "use chroot instead of pivot_root" },
  "no-new-keyring": { type: "boolean", help: "accepted: Gantry never creates a session keyring" },
  "preserve-fds": { type: "string", help: "pass N extra fds (from 3) to the container" },
};

command({ name: "create", help: "create a container from a bundle, stopped before the user's program runs", operands: ["<id>"], options: createOptions }, async ([id], o) => {
  await runtime().create(id!, {
    bundle: str(o.bundle)!,
    pidFile: str(o["pid-file"]),
    consoleSocket: str(o["console-socket"]),
    noPivot: !!o["no-pivot"],
    preserveFds: int(str(o["preserve-fds"]), "--preserve-fds"),
  });
});

command({ name: "start", help: "start a created container", operands: ["<id>"] }, async ([id]) => runtime().start(id!));

command({ name: "state", help: "print the OCI state of a container", operands: ["<id>"] }, ([id]) => {
  process.stdout.write(JSON.stringify(runtime().stateOf(id!), null, 2) + "\n");
});

command(
  {
    name: "kill",
    help: "send a signal (default SIGTERM) to the container's init, or with --all to every process",
    operands: ["<id>", "[signal]"],
    options: { all: { type: "boolean", short: "a", help: "signal every process in the container" } },
  },
  ([id, signal], o) => runtime().kill(id!, signal ?? "SIGTERM", !!o.all),
);

command(
  {
    name: "delete",
    help: "delete a stopped (or, with --force, any) container and everything it holds",
    operands: ["<id>"],
    options: { force: { type: "boolean", short: "f", help: "kill it first if it is running" } },
  },
  async ([id], o) => runtime().delete(id!, !!o.force),
);

command({ name: "pause", help: "freeze every process of the container", operands: ["<id>"] }, async ([id]) => runtime().pause(id!));
command({ name: "resume", help: "thaw a paused container", operands: ["<id>"] }, async ([id]) => runtime().resume(id!));

function format(o: Values): "table" | "json" {
  const f = str(o.format);
  if (f !== "table" && f !== "json") throw new GantryError("INVALID_ARGUMENT", `--format must be table or json, not ${f}`);
  return f;
}
const formatOption: OptionSpec = { type: "string", short: "f", default: "table", help: "table or json" };

command(
  { name: "ps", help: "list the processes of a container", operands: ["<id>", "[ps-args...]"], options: { format: formatOption }, stopAtFirstOperand: true },
  ([id, ...psArgs], o) => {
    const pids = runtime().pids(id!);
    if (format(o) === "json") {
      process.stdout.write(JSON.stringify(pids) + "\n");
      return;
    }
    const out = childProcess().spawnSync("ps", psArgs.length ? psArgs : ["-ef"], { encoding: "utf8" });
    if (out.status !== 0) throw new GantryError("INVALID_ARGUMENT", `ps ${psArgs.join(" ")}: ${out.stderr.trim()}`);
    const lines = out.stdout.split("\n");
    const header = lines[0] ?? "";
    const pidCol = header.trim().split(/\s+/).indexOf("PID");
    if (pidCol < 0) throw new GantryError("INVALID_ARGUMENT", "ps output has no PID column");
    const wanted = new Set(pids);
    const rows = lines.slice(1).filter((l) => l.trim() && wanted.has(Number(l.trim().split(/\s+/)[pidCol])));
    process.stdout.write([header, ...rows].join("\n") + "\n");
  },
);

command(
  { name: "list", aliases: ["ls"], help: "list containers", operands: [], options: { format: formatOption, quiet: { type: "boolean", short: "q", help: "print only ids" } } },
  (_, o) => {
    const items = runtime().list();
    if (o.quiet) {
      for (const { rec } of items) process.stdout.write(rec.id + "\n");
      return;
    }
    if (format(o) === "json") {
      const json = items.map(({ rec, status }) => ({
        ociVersion: OCI_VERSION,
        id: rec.id,
        pid: status === "stopped" ? 0 : rec.pid,
        status,
        bundle: rec.bundle,
        rootfs: rec.rootfs,
        created: rec.created,
        annotations: rec.config.annotations ?? {},
        owner: rec.owner,
      }));
      process.stdout.write(JSON.stringify(json) + "\n");
      return;
    }
    const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
    for (const { rec, status } of items) rows.push([rec.id, String(status === "stopped" ? 0 : rec.pid), status, rec.bundle, rec.created, rec.owner]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]! + 3)).join("").trimEnd() + "\n");
  },
);

command(
  {
    name: "events",
    help: "print container events (stats every interval, OOM kills) as JSON lines",
    operands: ["<id>"],
    options: { stats: { type: "boolean", help: "print one stats event and exit" }, interval: { type: "string", default: "5s", help: "stats interval, e.g. 5s" } },
  },
  async ([id], o) => {
    const rt = runtime();
    const emit = () => process.stdout.write(JSON.stringify({ type: "stats", id, data: rt.stats(id!) }) + "\n");
    if (o.stats) {
      emit();
      return;
    }
    const interval = str(o.interval)!;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(interval);
    if (!m) throw new GantryError("INVALID_ARGUMENT", `--interval: invalid duration ${interval}`);
    const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60000 : 1000);
    let ooms = rt.oomKillCount(id!);
    for (;;) {
      const st = rt.stateOf(id!);
      if (st.status === "stopped") return;
      const now = rt.oomKillCount(id!);
      if (now > ooms) process.stdout.write(JSON.stringify({ type: "oom", id }) + "\n");
      ooms = now;
      emit();
      await new Promise((r) => setTimeout(r, ms));
    }
  },
);

command(
  {
    name: "spec",
    help: "write a default config.json into the bundle",
    operands: [],
    options: { bundle: bundleOption, rootless: { type: "boolean", help: "a spec for a user namespace mapped to the caller" } },
  },
  (_, o) => {
    const file = `${str(o.bundle)}/config.json`;
    if (existsSync(file)) throw new GantryError("ALREADY_EXISTS", `${file} already exists; remove it first`);
    writeFileSync(file, JSON.stringify(defaultSpec({ rootless: !!o.rootless }), null, 2) + "\n");
  },
);

command({ name: "features", help: "print what this runtime supports (runc's features JSON)", operands: [] }, () => {
  const features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable", "relatime", "noatime", "strictatime"],
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
      capabilities: Object.keys(CAPABILITIES),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: { enabled: true },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
  };
  process.stdout.write(JSON.stringify(features, null, 2) + "\n");
});

function forwardSignals(pid: () => number | undefined): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) {
    process.on(sig, () => {
      const p = pid();
      if (p) {
        try {
          process.kill(p, sig);
        } catch {
          /* gone */
        }
      }
    });
  }
}

command(
  {
    name: "run",
    help: "create and start a container; without --detach wait for it and delete it",
    operands: ["<id>"],
    options: {
      ...createOptions,
      detach: { type: "boolean", short: "d", help: "return once it is running" },
      keep: { type: "boolean", help: "do not delete the container after it exits" },
    },
  },
  async ([id], o) => {
    const rt = runtime();
    const target: { pid?: number } = {};
    forwardSignals(() => target.pid);
    const created = await rt.create(id!, {
      bundle: str(o.bundle)!,
      pidFile: str(o["pid-file"]),
      consoleSocket: str(o["console-socket"]),
      noPivot: !!o["no-pivot"],
      preserveFds: int(str(o["preserve-fds"]), "--preserve-fds"),
      foreground: !o.detach,
      start: true,
    });
    target.pid = created.pid;
    if (o.detach) return;
    const { code } = await created.exited!;
    if (!o.keep) await rt.delete(id!, true, created.created);
    process.exitCode = code;
  },
);

command(
  {
    name: "exec",
    help: "run a new process inside a container",
    operands: ["<id>", "[command...]"],
    stopAtFirstOperand: true,
    options: {
      tty: { type: "boolean", short: "t", help: "allocate a pty" },
      detach: { type: "boolean", short: "d", help: "do not wait for the process" },
      process: { type: "string", short: "p", help: "process.json with the process to run" },
      "pid-file": { type: "string", help: "write the process's pid here" },
      "console-socket": { type: "string", help: "unix socket receiving the pty master" },
      cwd: { type: "string", help: "working directory" },
      env: { type: "string", short: "e", multiple: true, default: [], help: "environment variable VAR=value (repeatable)" },
      user: { type: "string", short: "u", help: "user to run as, uid[:gid]" },
      "additional-gids": { type: "string", short: "g", multiple: true, default: [], help: "additional group (repeatable)" },
      cap: { type: "string", short: "c", multiple: true, default: [], help: "add a capability (repeatable)" },
      "no-new-privs": { type: "boolean", help: "set no_new_privs" },
      "preserve-fds": { type: "string", help: "pass N extra fds (from 3)" },
      apparmor: { type: "string", help: "AppArmor profile (not available: refused)" },
      "process-label": { type: "string", help: "SELinux label (not available: refused)" },
    },
  },
  async ([id, ...cmd], o) => {
    if (o.apparmor) throw new GantryError("UNSUPPORTED_OPTION", "--apparmor: AppArmor is not available on this host");
    if (o["process-label"]) throw new GantryError("UNSUPPORTED_OPTION", "--process-label: SELinux is not available on this host");
    const rt = runtime();
    let proc: OciProcess;
    const processFile = str(o.process);
    if (processFile) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(processFile, "utf8"));
      } catch (err) {
        throw new GantryError("INVALID_SPEC", `--process ${processFile}: ${(err as Error).message}`);
      }
      proc = await parseProcessSpec(json, `--process ${processFile}`);
    } else {
      if (!cmd.length) throw new GantryError("INVALID_ARGUMENT", "exec: give a command or --process FILE");
      const base = rt.configOf(id!).process;
      if (!base) throw new GantryError("INVALID_ARGUMENT", `exec: container ${id} has no process in its config.json to start from; give --process FILE`);
      proc = structuredClone(base);
      proc.args = cmd;
      proc.terminal = !!o.tty;
      const cwd = str(o.cwd);
      if (cwd) proc.cwd = cwd;
      const env = list(o.env);
      if (env.length) proc.env = [...(proc.env ?? []), ...env];
      const user = str(o.user);
      if (user) {
        const [u, g] = user.split(":");
        proc.user = { ...proc.user, uid: int(u, "--user")!, gid: g !== undefined ? int(g, "--user")! : proc.user.gid };
      }
      const gids = list(o["additional-gids"]);
      if (gids.length) proc.user.additionalGids = gids.map((g) => int(g, "--additional-gids")!);
      const caps = list(o.cap);
      if (caps.length) {
        const sets = proc.capabilities ?? {};
        for (const set of ["bounding", "effective", "permitted"] as const) sets[set] = [...new Set([...(sets[set] ?? []), ...caps])];
        proc.capabilities = sets;
      }
      if (o["no-new-privs"]) proc.noNewPrivileges = true;
    }
    if (o.tty) proc.terminal = true;
    const target: { pid?: number } = {};
    forwardSignals(() => target.pid);
    const r = await rt.exec(id!, {
      process: proc,
      detach: !!o.detach,
      pidFile: str(o["pid-file"]),
      consoleSocket: str(o["console-socket"]),
      preserveFds: int(str(o["preserve-fds"]), "--preserve-fds"),
    });
    target.pid = r.pid;
    if (r.exited) process.exitCode = (await r.exited).code;
  },
);

async function main(): Promise<void> {
  const parsed = parseCommandLine(process.argv.slice(2), globalOptions, commands, {
    name: "gantry-runtime",
    help: "Gantry's OCI runtime (runc-compatible command line)",
    version: `gantry-runtime 0.1.0\nspec: ${OCI_VERSION}`,
  });
  globals = parsed.globals;
  if (parsed.print !== undefined) {
    process.stdout.write(parsed.print + "\n");
    return;
  }
  const format = globals["log-format"];
  if (format !== "text" && format !== "json") throw new GantryError("INVALID_ARGUMENT", `--log-format must be text or json, not ${String(format)}`);
  const cmd = parsed.command as (typeof commands)[number];
  await cmd.action(parsed.operands, parsed.values);
}

main().catch((err: unknown) => {
  const msg = describeError(err);
  log("error", msg);
  process.stderr.write(`gantry-runtime: ${msg}\n`);
  process.exit(1);
});
