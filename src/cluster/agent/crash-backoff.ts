// CrashLoopBackOff: the delay before a failed container is started again, as kubelet keeps
// it (client-go flowcontrol.Backoff keyed by pod and container): the first restart is at
// once, then 10 s, doubling to 5 min; a key untouched for twice the maximum starts over.
// Times come from the injected clock.
import type { Clock } from "../../common/clock.ts";

export const INITIAL_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 300_000;

interface Entry {
  delayMs: number;
  lastUpdate: number;
}

export class CrashBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    readonly initialMs = INITIAL_BACKOFF_MS,
    readonly maxMs = MAX_BACKOFF_MS,
  ) {}

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.clock.now() - e.lastUpdate > 2 * this.maxMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** How long until a container that failed at eventMs may start again (0: now). */
  remainingMs(key: string, eventMs: number): number {
    const e = this.live(key);
    if (!e) return 0;
    return Math.max(0, eventMs + e.delayMs - this.clock.now());
  }

  /** The current delay of a key (for the CrashLoopBackOff message). */
  delayMs(key: string): number {
    return this.live(key)?.delayMs ?? 0;
  }

  /** A restart is happening: the next failure waits longer. */
  next(key: string): void {
    const e = this.live(key);
    this.entries.set(key, { delayMs: e ? Math.min(e.delayMs * 2, this.maxMs) : this.initialMs, lastUpdate: this.clock.now() });
  }

  /** Drops every key of a pod that is gone. */
  forgetPod(uid: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(`${uid}/`)) this.entries.delete(k);
  }
}

/** "10s", "2m40s", "5m0s": Go's Duration.String for whole seconds, as the message shows it. */
export function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
}
