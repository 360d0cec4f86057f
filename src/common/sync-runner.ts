// A coalescing, single-flight runner of one level-triggered sync (what kube-proxy's
// BoundedFrequencyRunner does for its proxier): callers only say "the state changed"; a sync
// runs a moment later (so a burst of changes becomes one), never two at once (a change during
// a sync runs it once more after it), and a failed one is retried with back-off doubling from
// 500 ms to 30 s. Used by the node's service proxy and its NetworkPolicy enforcer.
//
//   request() ─► generation++ ─► timer (coalesce) ─► sync() ─ok─► waiters of generations ≤ the one it began at resolve
//                                   ▲  (a sync is running: once it ends)  └fail─► onError, timer (back-off) ─┘
import { realClock, type Clock, type Timer } from "./clock.ts";

export const SYNC_BACKOFF_MIN_MS = 500;
export const SYNC_BACKOFF_MAX_MS = 30_000;

export interface SyncRunnerOptions {
  /** Makes the world match the desired state; throws to be retried. */
  sync: () => Promise<void>;
  /** Delay between a request and its sync, so a burst of events becomes one sync. */
  coalesceMs?: number;
  clock?: Clock;
  /** Told of each failed sync and when it is retried (the caller logs, or forgets what it applied). */
  onError?: (err: unknown, retryInMs: number) => void;
}

export interface SyncRunner {
  /** The state changed: sync after delayMs (the coalescing delay unless given). */
  request(delayMs?: number): void;
  /** Requests a sync and resolves once one that began after this call has succeeded (or the runner stopped). */
  synced(delayMs?: number): Promise<void>;
  /** No sync starts any more; resolves after the running one ends. Waiters are released. */
  stop(): Promise<void>;
}

export function startSyncRunner(o: SyncRunnerOptions): SyncRunner {
  const clock = o.clock ?? realClock;
  let timer: Timer | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let backoffMs = 0;
  /** Each request bumps it; a waiter is served by a sync that began at or after its own. */
  let generation = 0;
  let waiters: { want: number; resolve: () => void }[] = [];

  const runOnce = async () => {
    const began = generation;
    try {
      await o.sync();
    } catch (err) {
      backoffMs = Math.min(Math.max(backoffMs * 2, SYNC_BACKOFF_MIN_MS), SYNC_BACKOFF_MAX_MS);
      o.onError?.(err, backoffMs);
      if (!stopped) request(backoffMs);
      return;
    }
    backoffMs = 0;
    const served = waiters.filter((w) => w.want <= began);
    waiters = waiters.filter((w) => w.want > began);
    for (const w of served) w.resolve();
  };

  function request(delayMs = o.coalesceMs ?? 20): void {
    generation++;
    if (stopped || timer) return;
    timer = clock.after(delayMs, () => {
      timer = undefined;
      if (running) {
        // A sync is in progress: run again once it ends, with what changed meanwhile.
        void running.then(() => request(0));
        return;
      }
      running = runOnce().finally(() => {
        running = undefined;
      });
    });
  }

  return {
    request,
    synced: (delayMs) =>
      new Promise<void>((resolve) => {
        if (stopped) return resolve();
        request(delayMs);
        waiters.push({ want: generation, resolve });
      }),
    async stop() {
      stopped = true;
      timer?.cancel();
      timer = undefined;
      await running;
      for (const w of waiters.splice(0)) w.resolve();
    },
  };
}
