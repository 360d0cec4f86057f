// The verbs that move bytes between the container and us: logs, attach, exec, cp and export.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { invalidArgument } from "../../../common/errors.ts";
import { demux, type ExecCreateBody } from "../../../engine/index.ts";
import { containersOf } from "../daemon-client.ts";
import { collect, sinceParam } from "./argv.ts";
import { followTerminalSize, pumpStream, restoreTerminal } from "./stdio.ts";

/** A `docker cp` operand: CONTAINER:PATH, or undefined for a host path. As in Docker, a
 * colon after a slash is part of a host path (/tmp/a:b, ./a:b): container names have none. */
export function containerPath(operand: string): { container: string; path: string } | undefined {
  const m = /^([^:/]+):(.*)$/.exec(operand);
  return m ? { container: m[1]!, path: m[2]! } : undefined;
}

export function registerIoCommands(program: Command): void {
  program
    .command("logs")
    .description("Fetch a container's logs")
    .option("-f, --follow", "follow")
    .option("-n, --tail <n>", "lines from the end", "all")
    .option("--since <time>", "since a unix time or duration (10m)")
    .option("-t, --timestamps", "show timestamps")
    .argument("<container>")
    .action(async (ref: string, o: { follow?: boolean; tail: string; since?: string; timestamps?: boolean }, cmd: Command) => {
      const containers = containersOf(cmd);
      const info = await containers.inspect(ref);
      const res = await containers.logs(info.Id, { follow: o.follow, tail: o.tail, timestamps: o.timestamps, since: o.since ? sinceParam(o.since) : undefined });
      await new Promise<void>((done) => {
        if (info.Config.Tty) res.on("data", (b: Buffer) => process.stdout.write(b));
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
      const containers = containersOf(cmd);
      const info = await containers.inspect(ref);
      const withStdin = o.stdin && !!info.Config.OpenStdin;
      const sock = await containers.attach(info.Id, { stdin: withStdin });
      await pumpStream(sock, !!info.Config.Tty, withStdin);
      restoreTerminal();
      const after = await containers.inspect(info.Id).catch(() => undefined);
      process.exit(Number(after?.State.ExitCode ?? 0));
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
    .action(async (ref: string, command: string[], o: { detach?: boolean; interactive?: boolean; tty?: boolean; env: string[]; user?: string; workdir?: string; privileged?: boolean }, cmd: Command) => {
      const containers = containersOf(cmd);
      const tty = !!o.tty;
      const body: ExecCreateBody = {
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
      const exec = await containers.execCreate(ref, body);
      if (o.detach) {
        await containers.execStartDetached(exec, { tty });
        return;
      }
      const sock = await containers.execStart(exec, { tty });
      if (tty) followTerminalSize((rows, columns) => containers.execResize(exec, rows, columns));
      await pumpStream(sock, tty, !!o.interactive);
      restoreTerminal();
      process.exit((await containers.execInspect(exec)).ExitCode ?? 126);
    });

  program
    .command("export")
    .description("Export a container's filesystem as a tar archive")
    .option("-o, --output <file>", "write to a file instead of standard output")
    .argument("<container>")
    .action(async (ref: string, o: { output?: string }, cmd: Command) => {
      const res = await containersOf(cmd).export(ref);
      await pipeline(res, o.output ? createWriteStream(o.output) : process.stdout);
    });

  program
    .command("cp")
    .description("Copy files between a container and the host (CONTAINER:PATH or PATH)")
    .argument("<src>")
    .argument("<dest>")
    .action(async (src: string, dest: string, _o: unknown, cmd: Command) => {
      const containers = containersOf(cmd);
      const from = containerPath(src);
      const to = containerPath(dest);
      if (from && !to) {
        const res = await containers.getArchive(from.container, from.path);
        const destIsDir = existsSync(dest) && statSync(dest).isDirectory();
        const target = destIsDir ? dest : dirname(resolve(dest));
        const tar = spawn("tar", ["-x", "-f", "-", "-C", target, ...(destIsDir ? [] : [`--transform=s|^${basename(from.path)}|${basename(dest)}|`])], { stdio: ["pipe", "inherit", "inherit"] });
        res.pipe(tar.stdin);
        await new Promise((r) => tar.on("close", r));
      } else if (to && !from) {
        const tar = spawn("tar", ["-c", "-f", "-", "-C", dirname(resolve(src)), basename(src)], { stdio: ["ignore", "pipe", "inherit"] });
        await containers.putArchive(to.container, to.path, tar.stdout);
      } else throw invalidArgument("copying between containers or between host paths is not supported: give exactly one CONTAINER:PATH");
    });
}
