// The verbs that move containers through their life: start, stop, restart, kill, rm, pause,
// unpause, wait, update, rename and `system prune`. Each takes many containers as docker does: every
// one is tried, failures are printed, and the exit code is 1 if any failed.
import type { Command } from "commander";
import { GantryError } from "../../../common/errors.ts";
import { ImageClient } from "../../../engine/index.ts";
import { containersOf } from "../daemon-client.ts";
import { int } from "./argv.ts";
import { addResourceOptions, resourceFields, restartPolicyFlag, type ResourceFlags } from "./create-body.ts";
import { out } from "./output.ts";
import { fmtBytes } from "./rows.ts";
import { pumpStream, restoreTerminal } from "./stdio.ts";

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

export function registerLifecycleCommands(program: Command): void {
  program
    .command("start")
    .description("Start containers")
    .option("-a, --attach", "attach stdout/stderr")
    .option("-i, --interactive", "attach stdin")
    .argument("<containers...>")
    .action(async (refs: string[], o: { attach?: boolean; interactive?: boolean }, cmd: Command) => {
      const containers = containersOf(cmd);
      if (o.attach && refs.length === 1) {
        const ref = refs[0]!;
        const info = await containers.inspect(ref);
        const sock = await containers.attach(ref, { stdin: !!o.interactive });
        const { exited } = await containers.armWait(ref, "next-exit");
        const done = pumpStream(sock, !!info.Config.Tty, !!o.interactive);
        await containers.start(ref);
        const [result] = await Promise.all([exited, done]);
        restoreTerminal();
        process.exit(result.StatusCode);
      }
      await eachContainer(refs, async (r) => {
        await containers.start(r);
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
        const containers = containersOf(cmd);
        const opts = { timeout: int(o.timeout, "--timeout"), signal: o.signal };
        await eachContainer(refs, async (r) => {
          await (verb === "stop" ? containers.stop(r, opts) : containers.restart(r, opts));
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
      const containers = containersOf(cmd);
      await eachContainer(refs, async (r) => {
        await containers.kill(r, o.signal);
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
      const containers = containersOf(cmd);
      await eachContainer(refs, async (r) => {
        try {
          await containers.remove(r, { force: o.force, volumes: o.volumes });
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
      .action(async (refs: string[], _o: unknown, cmd: Command) => {
        const containers = containersOf(cmd);
        await eachContainer(refs, async (r) => {
          await (verb === "pause" ? containers.pause(r) : containers.unpause(r));
          out(r);
        });
      });
  }

  program
    .command("wait")
    .description("Block until containers stop, print their exit codes")
    .argument("<containers...>")
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const containers = containersOf(cmd);
      await eachContainer(refs, async (r) => {
        out(String((await containers.wait(r)).StatusCode));
      });
    });

  addResourceOptions(
    program
      .command("update")
      .description("Change containers' resource limits and restart policy (running ones at once)")
      .option("--restart <policy>", "restart policy: no, always, unless-stopped, on-failure[:N]"),
  )
    .argument("<containers...>")
    .action(async (refs: string[], o: ResourceFlags & { restart?: string }, cmd: Command) => {
      const body = { ...resourceFields(o), ...(o.restart ? { RestartPolicy: restartPolicyFlag(o.restart) } : {}) };
      if (!Object.values(body).some((v) => v !== 0 && v !== "" && v !== null)) throw new GantryError("INVALID_ARGUMENT", "you must provide one or more flags when using this command");
      const containers = containersOf(cmd);
      await eachContainer(refs, async (r) => {
        const { Warnings } = await containers.update(r, body);
        for (const w of Warnings ?? []) process.stderr.write(`${w}\n`);
        out(r);
      });
    });

  program
    .command("rename")
    .description("Rename a container")
    .argument("<container>")
    .argument("<new-name>")
    .action(async (ref: string, name: string, _o: unknown, cmd: Command) => {
      await containersOf(cmd).rename(ref, name);
    });

  const system = program.commands.find((c) => c.name() === "system") ?? program.command("system").description("Manage the engine");
  system
    .command("prune")
    .description("Remove stopped containers and dangling image content")
    .option("-f, --force", "do not prompt")
    .option("-a, --all", "all unused images too")
    .action(async (_o: unknown, cmd: Command) => {
      const containers = containersOf(cmd);
      const c = await containers.prune();
      out("Deleted Containers:");
      for (const id of c.ContainersDeleted ?? []) out(id);
      const i = await new ImageClient(containers.engine).prune();
      out(`\nTotal reclaimed space: ${fmtBytes(i.SpaceReclaimed ?? 0)}`);
    });
}
