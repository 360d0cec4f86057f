// gantry-runtime: an OCI runtime with runc's command line. Parses argv, calls one
// Runtime method, prints the result. Unsupported options are refused by name.
import { appendFileSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { Command, Option } from "commander";
import { describeError, GantryError } from "../../common/errors.ts";
import { Runtime, OCI_VERSION } from "../../runtime/runtime.ts";
import { DEFAULT_ROOT } from "../../runtime/state.ts";
import type { OciProcess } from "../../runtime/spec/oci.ts";
import { defaultSpec } from "../../runtime/default-spec.ts";
import { CAPABILITIES } from "../../runtime/plan/linux-constants.ts";
import { spawnSync } from "node:child_process";

interface GlobalOpts {
  root: string;
  log?: string;
  logFormat: "text" | "json";
  debug?: boolean;
  systemdCgroup?: boolean;
  rootless?: string;
}

const program = new Command("gantry-runtime")
  .description("Gantry's OCI runtime (runc-compatible command line)")
  .version(`gantry-runtime 0.1.0\nspec: ${OCI_VERSION}`, "-v, --version")
  .option("--root <dir>", "directory for container state", DEFAULT_ROOT)
  .option("--log <file>", "append errors and warnings to this file")
  .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
  .option("--debug", "log more")
  .option("--systemd-cgroup", "use systemd to manage cgroups (not supported: refused)")
  .option("--rootless <value>", "rootless mode: only \"false\" is supported")
  .option("--criu <path>", "checkpoint/restore (not supported: refused)")
  .showHelpAfterError()
  .enablePositionalOptions()
  .exitOverride();

function globals(): GlobalOpts {
  return program.opts() as GlobalOpts;
}

function log(level: "error" | "warning", msg: string): void {
  const g = globals();
  if (!g.log) return;
  const line =
    g.logFormat === "json"
      ? JSON.stringify({ level, msg, time: new Date().toISOString() }) + "\n"
      : `time="${new Date().toISOString()}" level=${level} msg="${msg}"\n`;
  try {
    appendFileSync(g.log, line);
  } catch {
    /* logging must never mask the real error */
  }
}

function runtime(): Runtime {
  const g = globals();
  if (g.systemdCgroup) {
    throw new GantryError("UNSUPPORTED_OPTION", "--systemd-cgroup is not supported: Gantry manages cgroupfs directly", {
      hint: "configure your engine to use the cgroupfs cgroup manager",
    });
  }
  if ((program.opts() as { criu?: string }).criu) throw new GantryError("UNSUPPORTED_OPTION", "--criu: checkpoint/restore is not supported");
  if (g.rootless && g.rootless !== "false" && g.rootless !== "auto") {
    throw new GantryError("UNSUPPORTED_OPTION", `--rootless ${g.rootless}: rootless mode is not supported`);
  }
  return new Runtime(g.root, (m) => {
    process.stderr.write(`gantry-runtime: warning: ${m}\n`);
    log("warning", m);
  });
}

const int = (v: string) => {
  if (!/^\d+$/.test(v)) throw new GantryError("INVALID_ARGUMENT", `not a number: ${v}`);
  return Number(v);
};
const collect = (v: string, prev: string[]) => [...prev, v];

program
  .command("create")
  .description("create a container from a bundle, stopped before the user's program runs")
  .option("-b, --bundle <dir>", "bundle directory", ".")
  .option("--pid-file <file>", "write the container's pid here")
  .option("--console-socket <path>", "unix socket receiving the pty master (process.terminal)")
  .option("--no-pivot", "use chroot instead of pivot_root")
  .option("--no-new-keyring", "accepted: Gantry never creates a session keyring")
  .option("--preserve-fds <n>", "pass N extra fds (from 3) to the container", int)
  .argument("<id>")
  .action(async (id: string, o) => {
    await runtime().create(id, { bundle: o.bundle, pidFile: o.pidFile, consoleSocket: o.consoleSocket, noPivot: o.pivot === false, preserveFds: o.preserveFds });
  });

program
  .command("start")
  .description("start a created container")
  .argument("<id>")
  .action(async (id: string) => runtime().start(id));

program
  .command("state")
  .description("print the OCI state of a container")
  .argument("<id>")
  .action((id: string) => {
    process.stdout.write(JSON.stringify(runtime().stateOf(id), null, 2) + "\n");
  });

program
  .command("kill")
  .description("send a signal (default SIGTERM) to the container's init, or with --all to every process")
  .option("-a, --all", "signal every process in the container")
  .argument("<id>")
  .argument("[signal]", "signal name or number", "SIGTERM")
  .action((id: string, signal: string, o) => runtime().kill(id, signal, !!o.all));

program
  .command("delete")
  .description("delete a stopped (or, with --force, any) container and everything it holds")
  .option("-f, --force", "kill it first if it is running")
  .argument("<id>")
  .action(async (id: string, o) => runtime().delete(id, !!o.force));

program
  .command("pause")
  .description("freeze every process of the container")
  .argument("<id>")
  .action(async (id: string) => runtime().pause(id));

program
  .command("resume")
  .description("thaw a paused container")
  .argument("<id>")
  .action(async (id: string) => runtime().resume(id));

program
  .command("ps")
  .description("list the processes of a container")
  .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
  .argument("<id>")
  .argument("[psArgs...]", "arguments for ps(1)", ["-ef"])
  .action((id: string, psArgs: string[], o) => {
    const pids = runtime().pids(id);
    if (o.format === "json") {
      process.stdout.write(JSON.stringify(pids) + "\n");
      return;
    }
    const out = spawnSync("ps", psArgs.length ? psArgs : ["-ef"], { encoding: "utf8" });
    if (out.status !== 0) throw new GantryError("INVALID_ARGUMENT", `ps ${psArgs.join(" ")}: ${out.stderr.trim()}`);
    const lines = out.stdout.split("\n");
    const header = lines[0] ?? "";
    const pidCol = header.trim().split(/\s+/).indexOf("PID");
    if (pidCol < 0) throw new GantryError("INVALID_ARGUMENT", "ps output has no PID column");
    const wanted = new Set(pids);
    const rows = lines.slice(1).filter((l) => l.trim() && wanted.has(Number(l.trim().split(/\s+/)[pidCol])));
    process.stdout.write([header, ...rows].join("\n") + "\n");
  });

program
  .command("list")
  .alias("ls")
  .description("list containers")
  .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
  .option("-q, --quiet", "print only ids")
  .action((o) => {
    const items = runtime().list();
    if (o.quiet) {
      for (const { rec } of items) process.stdout.write(rec.id + "\n");
      return;
    }
    if (o.format === "json") {
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
  });

program
  .command("events")
  .description("print container events (stats every interval, OOM kills) as JSON lines")
  .option("--stats", "print one stats event and exit")
  .option("--interval <duration>", "stats interval, e.g. 5s", "5s")
  .argument("<id>")
  .action(async (id: string, o) => {
    const rt = runtime();
    const emit = () => process.stdout.write(JSON.stringify({ type: "stats", id, data: rt.stats(id) }) + "\n");
    if (o.stats) {
      emit();
      return;
    }
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(o.interval);
    if (!m) throw new GantryError("INVALID_ARGUMENT", `--interval: invalid duration ${o.interval}`);
    const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60000 : 1000);
    let ooms = rt.oomKillCount(id);
    for (;;) {
      const st = rt.stateOf(id);
      if (st.status === "stopped") return;
      const now = rt.oomKillCount(id);
      if (now > ooms) process.stdout.write(JSON.stringify({ type: "oom", id }) + "\n");
      ooms = now;
      emit();
      await new Promise((r) => setTimeout(r, ms));
    }
  });

program
  .command("spec")
  .description("write a default config.json into the bundle")
  .option("-b, --bundle <dir>", "bundle directory", ".")
  .option("--rootless", "a spec for a user namespace mapped to the caller")
  .action((o) => {
    const file = `${o.bundle}/config.json`;
    if (existsSync(file)) throw new GantryError("ALREADY_EXISTS", `${file} already exists; remove it first`);
    writeFileSync(file, JSON.stringify(defaultSpec({ rootless: !!o.rootless }), null, 2) + "\n");
  });

program
  .command("features")
  .description("print what this runtime supports (runc's features JSON)")
  .action(() => {
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

program
  .command("run")
  .description("create and start a container; without --detach wait for it and delete it")
  .option("-b, --bundle <dir>", "bundle directory", ".")
  .option("-d, --detach", "return once it is running")
  .option("--pid-file <file>", "write the container's pid here")
  .option("--console-socket <path>", "unix socket receiving the pty master")
  .option("--no-pivot", "use chroot instead of pivot_root")
  .option("--no-new-keyring", "accepted: Gantry never creates a session keyring")
  .option("--keep", "do not delete the container after it exits")
  .option("--preserve-fds <n>", "pass N extra fds (from 3) to the container", int)
  .argument("<id>")
  .action(async (id: string, o) => {
    const rt = runtime();
    const target: { pid?: number } = {};
    forwardSignals(() => target.pid);
    const created = await rt.create(id, {
      bundle: o.bundle,
      pidFile: o.pidFile,
      consoleSocket: o.consoleSocket,
      noPivot: o.pivot === false,
      preserveFds: o.preserveFds,
      foreground: !o.detach,
    });
    target.pid = created.pid;
    try {
      await rt.start(id);
    } catch (err) {
      await rt.delete(id, true).catch(() => {});
      throw err;
    }
    if (o.detach) return;
    const { code } = await created.exited!;
    if (!o.keep) await rt.delete(id, true);
    process.exitCode = code;
  });

program
  .command("exec")
  .description("run a new process inside a container")
  .option("-t, --tty", "allocate a pty")
  .option("-d, --detach", "do not wait for the process")
  .option("-p, --process <file>", "process.json with the process to run")
  .option("--pid-file <file>", "write the process's pid here")
  .option("--console-socket <path>", "unix socket receiving the pty master")
  .option("--cwd <dir>", "working directory")
  .option("-e, --env <VAR=value>", "environment variable (repeatable)", collect, [])
  .option("-u, --user <uid[:gid]>", "user to run as")
  .option("-g, --additional-gids <gid>", "additional group (repeatable)", collect, [])
  .option("-c, --cap <CAP>", "add a capability (repeatable)", collect, [])
  .option("--no-new-privs", "set no_new_privs")
  .option("--preserve-fds <n>", "pass N extra fds (from 3)", int)
  .passThroughOptions()
  .option("--apparmor <profile>", "AppArmor profile (not available: refused)")
  .option("--process-label <label>", "SELinux label (not available: refused)")
  .argument("<id>")
  .argument("[command...]")
  .action(async (id: string, command: string[], o) => {
    if (o.apparmor) throw new GantryError("UNSUPPORTED_OPTION", "--apparmor: AppArmor is not available on this host");
    if (o.processLabel) throw new GantryError("UNSUPPORTED_OPTION", "--process-label: SELinux is not available on this host");
    const rt = runtime();
    let proc: OciProcess;
    if (o.process) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(o.process, "utf8"));
      } catch (err) {
        throw new GantryError("INVALID_SPEC", `--process ${o.process}: ${(err as Error).message}`);
      }
      const { parseProcess } = await import("../../runtime/spec/parse.ts");
      proc = parseProcess(json, `--process ${o.process}`);
    } else {
      if (!command.length) throw new GantryError("INVALID_ARGUMENT", "exec: give a command or --process FILE");
      const base = rt.configOf(id).process;
      if (!base) throw new GantryError("INVALID_ARGUMENT", `exec: container ${id} has no process in its config.json to start from; give --process FILE`);
      proc = structuredClone(base);
      proc.args = command;
      proc.terminal = !!o.tty;
      if (o.cwd) proc.cwd = o.cwd;
      if (o.env.length) proc.env = [...(proc.env ?? []), ...o.env];
      if (o.user) {
        const [u, g] = String(o.user).split(":");
        proc.user = { ...proc.user, uid: int(u!), gid: g !== undefined ? int(g) : proc.user.gid };
      }
      if (o.additionalGids.length) proc.user.additionalGids = o.additionalGids.map(int);
      if (o.cap.length) {
        const caps = proc.capabilities ?? {};
        for (const set of ["bounding", "effective", "permitted"] as const) caps[set] = [...new Set([...(caps[set] ?? []), ...o.cap])];
        proc.capabilities = caps;
      }
      if (o.newPrivs === false) proc.noNewPrivileges = true;
    }
    if (o.tty) proc.terminal = true;
    const target: { pid?: number } = {};
    forwardSignals(() => target.pid);
    const r = await rt.exec(id, { process: proc, detach: !!o.detach, pidFile: o.pidFile, consoleSocket: o.consoleSocket, preserveFds: o.preserveFds });
    target.pid = r.pid;
    if (r.exited) process.exitCode = (await r.exited).code;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; exitCode?: number };
  if (typeof e.code === "string" && e.code.startsWith("commander.")) {
    // help/version print and exit 0; usage errors were already printed by commander
    process.exit(e.exitCode ?? 1);
  }
  const msg = describeError(err);
  log("error", msg);
  process.stderr.write(`gantry-runtime: ${msg}\n`);
  process.exit(1);
});
