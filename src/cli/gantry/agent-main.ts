// `gantry agent` on its own: the launcher (bin/gantry) runs this entry instead of main.ts for
// the agent command, so a node loads only the agent, the engine and the API client — not the
// API server, the image builder or the other commands (about 35 MB less RSS per node).
import { Command } from "commander";
import { describeError } from "../../common/errors.ts";
import { registerAgentCommand } from "./agent-command.ts";

const program = new Command("gantry").description("Gantry: containers on namespaces and cgroups").version("0.1.0");
program.showHelpAfterError();
registerAgentCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`gantry: ${describeError(err)}`);
  process.exit(125);
});
