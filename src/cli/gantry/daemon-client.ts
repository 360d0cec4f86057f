// The daemon a client verb talks to: -H (a program option, before the verb), else
// GANTRY_HOST, else unix:///run/gantry/gantry.sock — for container and image verbs alike.
import type { Command } from "commander";
import { ContainerClient, EngineClient, ImageClient } from "../../engine/index.ts";

export function clientOf(cmd: Command): EngineClient {
  const host = (cmd.optsWithGlobals() as { host?: string }).host;
  return new EngineClient(host || process.env.GANTRY_HOST || undefined);
}

export const imagesOf = (cmd: Command): ImageClient => new ImageClient(clientOf(cmd));
export const containersOf = (cmd: Command): ContainerClient => new ContainerClient(clientOf(cmd));
