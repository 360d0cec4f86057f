// Docker's container verbs as a client of `gantry daemon` (-H unix:///path.sock or
// GANTRY_HOST). Each family lives in containers/: run (run, create), lifecycle (start, stop,
// restart, kill, rm, pause, unpause, wait, rename, system prune), io (logs, attach, exec, cp,
// export) and inspect (inspect, ps, port, top, stats, diff, events, info, version, ns). Flags
// are Docker's; every verb goes through the typed engine clients (src/engine).
import { Option, type Command } from "commander";
import { registerInspectCommands } from "./containers/inspect.ts";
import { registerExplainCommand } from "./containers/explain.ts";
import { registerIoCommands } from "./containers/io.ts";
import { registerLifecycleCommands } from "./containers/lifecycle.ts";
import { registerRunCommands } from "./containers/run.ts";

export function registerContainerCommands(program: Command): void {
  // Docker's grammar: options after the image (or the container, for exec) belong to the
  // command run inside, so program options must come before the verb (gantry -H S run …).
  program.enablePositionalOptions();
  if (!program.options.some((opt) => opt.long === "--host")) {
    program.addOption(new Option("-H, --host <socket>", "daemon socket (unix:///run/gantry/gantry.sock; $GANTRY_HOST)"));
  }
  registerRunCommands(program);
  registerLifecycleCommands(program);
  registerIoCommands(program);
  registerInspectCommands(program);
  registerExplainCommand(program);
}
