// `run` and `create`: the create body from Docker's flags, the image pulled when the daemon
// has none (as docker run does), and for a foreground run, our terminal attached before the
// start so no output is lost, the exit code passed on as ours.
import type { Command } from "commander";
import { GantryError } from "../../../common/errors.ts";
import { ImageClient, type ContainerClient } from "../../../engine/index.ts";
import { containersOf } from "../daemon-client.ts";
import { pullWithProgress } from "../image-commands.ts";
import { addCreateOptions, createBody, type CreateFlags } from "./create-body.ts";
import { out } from "./output.ts";
import { consoleSize, followTerminalSize, pumpStream, restoreTerminal } from "./stdio.ts";

async function createContainer(containers: ContainerClient, image: string, command: string[], o: CreateFlags): Promise<string> {
  const body = createBody(image, command, o, consoleSize(!!o.tty));
  let r: { Id: string; Warnings: string[] | null };
  try {
    r = await containers.create(body, { name: o.name });
  } catch (err) {
    if (!(err instanceof GantryError && err.code === "NOT_FOUND" && /No such image/.test(err.message))) throw err;
    process.stderr.write(`Unable to find image '${image}' locally\n`);
    // As docker run does: the pull's progress goes to stderr, stdout is the container's.
    await pullWithProgress(new ImageClient(containers.engine), image, {}, process.stderr);
    r = await containers.create(body, { name: o.name });
  }
  for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return r.Id;
}

/** docker run's exit codes when the start fails: 127 no such command, 126 not runnable,
 * 125 anything else (the daemon's). */
export function startFailureExitCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|is a directory/i.test(message)) return 126;
  return 125;
}

async function runCommand(image: string, command: string[], o: CreateFlags, containers: ContainerClient): Promise<void> {
  if (o.rm && o.detach === undefined) o.detach = false;
  const id = await createContainer(containers, image, command, o);
  if (o.detach) {
    await containers.start(id);
    out(id);
    return;
  }
  const tty = !!o.tty;
  const stdin = !!o.interactive;
  const sock = await containers.attach(id, { stdin });
  const { exited } = await containers.armWait(id, o.rm ? "removed" : "next-exit");
  const streamDone = pumpStream(sock, tty, stdin);
  try {
    await containers.start(id);
  } catch (err) {
    sock.destroy();
    restoreTerminal();
    const msg = (err as Error).message;
    process.stderr.write(`gantry: ${msg}\n`);
    process.exit(startFailureExitCode(msg));
  }
  if (tty) followTerminalSize((rows, columns) => containers.resize(id, rows, columns));
  const [result] = await Promise.all([exited, streamDone]);
  restoreTerminal();
  process.exit(result.StatusCode);
}

export function registerRunCommands(program: Command): void {
  addCreateOptions(program.command("run").description("Create and start a container").option("-d, --detach", "run in the background and print the ID"))
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions()
    .action((image: string, command: string[], o: CreateFlags, cmd: Command) => runCommand(image, command, o, containersOf(cmd)));

  addCreateOptions(program.command("create").description("Create a container"))
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions()
    .action(async (image: string, command: string[], o: CreateFlags, cmd: Command) => {
      o.detach = true;
      out(await createContainer(containersOf(cmd), image, command, o));
    });
}
