// What the engine holds for one container while the daemon runs, in one object instead of a
// map per concern keyed by id: the `wait` callers, the hooks that must attach before its
// process runs, the timer of a pending restart, the watch on its exit file, its health
// check loop, and whether a start, exit or removal is working on it. Nothing here is on
// disk: a restarted daemon builds it again from the records (restore()).
import type { FSWatcher } from "node:fs";
import type { Timer } from "../common/clock.ts";
import type { HealthMonitor } from "./health/monitor.ts";

export type WaitCondition = "not-running" | "next-exit" | "removed";

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

export interface Waiter {
  condition: WaitCondition;
  resolve: (r: WaitResult) => void;
}

/** Something that must connect to the monitor's attach socket before the process runs. */
export type PreStartHook = ((attachSocket: string) => Promise<void>) & { abort?: () => void };

export class ContainerSupervisor {
  waiters: Waiter[] = [];
  preStart: PreStartHook[] = [];
  /** The restart policy's pending start (the container is restarting). */
  restartTimer: Timer | undefined;
  /** The inotify watch on the container's directory for its exit file (while it runs). */
  exitWatcher: FSWatcher | undefined;
  /** The health check loop while the container runs (health/checks.ts). */
  health: HealthMonitor | undefined;
  /** A start, an exit's handling or a removal is under way: the others wait their turn. */
  busy = false;

  /** Cancels a pending restart; whether there was one. */
  cancelRestart(): boolean {
    const had = this.restartTimer !== undefined;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    return had;
  }

  /** Hands out (and forgets) the hooks queued for the next start. */
  takePreStart(): PreStartHook[] {
    const hooks = this.preStart;
    this.preStart = [];
    return hooks;
  }

  stopWatchingExit(): void {
    this.exitWatcher?.close();
    this.exitWatcher = undefined;
  }

  /** Holds nothing: the engine may forget it. */
  get idle(): boolean {
    return !this.busy && !this.restartTimer && !this.exitWatcher && !this.health && this.waiters.length === 0 && this.preStart.length === 0;
  }
}

/** The supervisors of the engine's containers, made on first use and dropped when idle. */
export class Supervisors {
  private readonly byId = new Map<string, ContainerSupervisor>();

  of(id: string): ContainerSupervisor {
    let s = this.byId.get(id);
    if (!s) this.byId.set(id, (s = new ContainerSupervisor()));
    return s;
  }

  /** The container's supervisor if it has one (asking creates none). */
  peek(id: string): ContainerSupervisor | undefined {
    return this.byId.get(id);
  }

  /** Forgets the container's supervisor once it holds nothing. */
  release(id: string): void {
    if (this.byId.get(id)?.idle) this.byId.delete(id);
  }

  all(): IterableIterator<ContainerSupervisor> {
    return this.byId.values();
  }
}
