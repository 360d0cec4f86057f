// node:child_process and node:net pull in streams, dgram and more: together ~10 ms of the
// runtime CLI's start-up, which most of its commands (and a `run` whose helper the launcher
// forked) never need. These load them on first use instead of at import.
import { createRequire } from "node:module";
import type * as ChildProcessModule from "node:child_process";
import type * as NetModule from "node:net";

const load = createRequire(import.meta.url);
let childProcessModule: typeof ChildProcessModule | undefined;
let netModule: typeof NetModule | undefined;

export function childProcess(): typeof ChildProcessModule {
  return (childProcessModule ??= load("node:child_process") as typeof ChildProcessModule);
}

export function net(): typeof NetModule {
  return (netModule ??= load("node:net") as typeof NetModule);
}
