// Questions about a container's State.Status, asked by name instead of by comparing strings
// at each place (the state machine is drawn at the top of engine.ts): which states have a
// process, which count as up.
import type { ContainerStatus } from "./container-store.ts";

/** A process exists (possibly frozen): running or paused. What exec, top, resize, stop,
 * stats and `start` (a 304) ask. */
export const hasProcess = (s: ContainerStatus): boolean => s === "running" || s === "paused";

/** Up in Docker's sense: has a process or is about to get one again. `ps` without -a lists
 * these, `rm` without -f refuses them, `wait not-running` waits for them. */
export const isUp = (s: ContainerStatus): boolean => hasProcess(s) || s === "restarting";

