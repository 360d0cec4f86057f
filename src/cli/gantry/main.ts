// `gantry`: the user's CLI. Each command family lives in its own module that registers its
// subcommands on the program; this file only wires them and prints errors.
import { Command } from "commander";
import { describeError, GantryError } from "../../common/errors.ts";
import { registerServerCommand } from "./server-command.ts";
import { registerAgentCommand } from "./agent-command.ts";
import { registerImageCommands } from "./image-commands.ts";
import { registerDaemonCommand } from "./daemon-command.ts";
import { registerContainerCommands } from "./container-commands.ts";
import { registerBuildCommand } from "./build-command.ts";
import { registerClusterCommands } from "./cluster-command.ts";
import { StreamError } from "../../engine/index.ts";

const program = new Command("gantry").description("Gantry: containers on namespaces and cgroups").version("0.1.0");
program.showHelpAfterError();

// Command modules register here (one import + one call each), e.g.:
//   import { registerImageCommands } from "./image-commands.ts"; registerImageCommands(program);

registerServerCommand(program);
registerAgentCommand(program);
registerImageCommands(program);
registerDaemonCommand(program);
registerContainerCommands(program);
registerBuildCommand(program);
registerClusterCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`gantry: ${describeError(err)}`);
  // A failure the daemon reported mid-stream (a pull, a push, a build's RUN) exits as docker
  // does: with the step's exit code, else 1.
  if (err instanceof StreamError) process.exit(err.exitCode || 1);
  process.exit(err instanceof GantryError && err.code === "NOT_FOUND" ? 1 : 125);
});
