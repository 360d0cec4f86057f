// The daemon a client verb talks to: -H (a program option, before the verb), else
// GANTRY_HOST, else for an ordinary user their rootless daemon's $XDG_RUNTIME_DIR/gantry.sock
// when it exists (as rootless Docker's users set DOCKER_HOST), else unix:///run/gantry/gantry.sock
// — for container and image verbs alike.
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { ContainerClient, EngineClient, ImageClient, defaultClientSocket } from "../../engine/index.ts";

export function clientOf(cmd: Command): EngineClient {
  const host = (cmd.optsWithGlobals() as { host?: string }).host;
  const rootless = defaultClientSocket();
  return new EngineClient(host || process.env.GANTRY_HOST || (rootless && existsSync(rootless) ? `unix://${rootless}` : undefined));
}

export const imagesOf = (cmd: Command): ImageClient => new ImageClient(clientOf(cmd));
export const containersOf = (cmd: Command): ContainerClient => new ContainerClient(clientOf(cmd));
