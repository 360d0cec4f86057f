// A container's State.Status as a state machine: the transitions are the table below, each
// with a name; the engine changes a status only through `transition()`, so a move the table
// does not have (starting a container marked for removal, an exit of one that never ran) is
// an `IllegalTransitionError` instead of a record that says something impossible. Questions
// about a status (has it a process, is it up) are asked by name here too.
//
//   from \ to    running    paused   restarting  exited      removing
//   created       start                                        remove
//   running                  pause                 exit        remove
//   paused        unpause                          exit        remove
//   restarting    start                            endBackOff  remove
//   exited        start               backOff                  remove
//   dead                                                       remove
//   removing                                                   remove
//
//   created ─start─> running ─exit─> exited ─backOff─> restarting ─endBackOff─> exited ─start─> …
//                     pause ⇅ unpause
//                     paused ─exit─> exited
//
// `start` from restarting is a user's start during the back-off; the engine's own restart
// ends the back-off first (endBackOff) and starts from exited.
import { GantryError } from "../common/errors.ts";
import type { ContainerRecord, ContainerStatus } from "./container-store.ts";

const ALL: readonly ContainerStatus[] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];

/** Every legal transition: where it may start and where it leads. */
export const TRANSITIONS = {
  /** The process runs (docker start, run, a restart policy's start). */
  start: { from: ["created", "exited", "restarting"], to: "running" },
  /** Its process ended: noticed through the monitor's exit file, or its monitor's death. */
  exit: { from: ["running", "paused"], to: "exited" },
  /** Frozen (docker pause; or found frozen by a restarted daemon). */
  pause: { from: ["running"], to: "paused" },
  /** Thawed (docker unpause; or found running by a restarted daemon). */
  unpause: { from: ["paused"], to: "running" },
  /** The restart policy starts it again after a back-off. */
  backOff: { from: ["exited"], to: "restarting" },
  /** The back-off is over (the restart is due), cancelled (docker stop), or ends with the
   * daemon (restore); a start follows unless it was cancelled. */
  endBackOff: { from: ["restarting"], to: "exited" },
  /** docker rm: the record and everything of the container go (again, after a crash mid-removal). */
  remove: { from: ALL, to: "removing" },
} as const satisfies Record<string, { from: readonly ContainerStatus[]; to: ContainerStatus }>;

export type Transition = keyof typeof TRANSITIONS;

/** A transition the table does not have from the container's status (HTTP 409, as Docker answers). */
export class IllegalTransitionError extends GantryError {
  constructor(
    readonly containerId: string,
    readonly transition: Transition,
    readonly from: ContainerStatus,
    message?: string,
  ) {
    super("CONFLICT", message ?? `cannot ${transition} container ${containerId.slice(0, 12)}: it is ${from}`, {
      step: transition,
    });
    this.name = "IllegalTransitionError";
  }
}

/** Whether `t` may happen to a container that is `from`. */
export function canTransition(from: ContainerStatus, t: Transition): boolean {
  return (TRANSITIONS[t].from as readonly ContainerStatus[]).includes(from);
}

/** Throws IllegalTransitionError unless `t` may happen to `rec` now (`message`: Docker's words). */
export function assertTransition(rec: ContainerRecord, t: Transition, message?: (from: ContainerStatus) => string): void {
  const from = rec.State.Status;
  if (!canTransition(from, t)) throw new IllegalTransitionError(rec.Id, t, from, message?.(from));
}

/** Moves `rec` along `t` (the caller saves the record); throws IllegalTransitionError when illegal. */
export function transition(rec: ContainerRecord, t: Transition, message?: (from: ContainerStatus) => string): ContainerStatus {
  assertTransition(rec, t, message);
  rec.State.Status = TRANSITIONS[t].to;
  return rec.State.Status;
}

/** A process exists (possibly frozen): running or paused. What exec, top, resize, stop,
 * stats and `start` (a 304) ask. */
export const hasProcess = (s: ContainerStatus): boolean => s === "running" || s === "paused";

/** Up in Docker's sense: has a process or is about to get one again. `ps` without -a lists
 * these, `rm` without -f refuses them, `wait not-running` waits for them. */
export const isUp = (s: ContainerStatus): boolean => hasProcess(s) || s === "restarting";

/** Down for good until someone starts it: what `container prune` removes. */
export const isDown = (s: ContainerStatus): boolean => s === "created" || s === "exited" || s === "dead";
