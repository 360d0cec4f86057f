// One full garbage collection once the pod workers have gone quiet after a burst of work.
//
// Starting pods allocates a great deal that is garbage a moment later (engine records and
// their JSON, API bodies, spawn arguments); V8 collects the young generation as it goes but
// leaves what reached the old generation on its pages until a full collection, and its memory
// reducer makes that one only ~8 s after the last full GC, once allocation has slowed. A node
// agent that had just started 100 pods (bench/cluster/pod-startup) thus held ~5 MB of garbage
// pages for several seconds (RSS 69 MB 2 s after the last pod ran, 63-64 MB 12 s later).
// A full GC of the agent's ~15 MB heap takes 10-30 ms of CPU (--trace-gc): it is made once the
// workers have been idle quietMs, and only when the heap has grown minGrowthBytes since the
// last one — after a burst, not after every periodic resync (10 s) of a node with few pods.
//
// The collection is two full GCs in a row. V8 picks the pages to compact (evacuate, then give
// back) at the start of a full GC from what each page held after the previous one, so the
// first, which finds the burst's garbage, leaves its pages committed (--trace-gc in the
// pod-startup bench: 20.8 MB used of 23.7 committed → 13.2 of 23.0), and only the next full GC
// compacts the now sparse pages (~6 MB at most under --optimize-for-size). Without the second,
// that waited for V8's memory reducer, which runs 8 s after the last full GC (→ 15.0 MB
// committed). Compacting every page instead (--compact-on-every-full-gc) copies the whole live
// heap at once and raised the agent's peak by 10 MB (ARCHITECTURE, the agent's memory).
//
// The collection needs V8's gc() (node --expose-gc; bin/gantry gives it to `gantry agent`).
// Without it this does nothing: an agent inside `gantry server`, or under node without the flag.
import type { Clock, Timer } from "../../common/clock.ts";

/** How long the workers must have been idle before the collection. */
export const QUIET_MS = 500;
/** How much the heap must have grown since the last collection for another. */
export const MIN_GROWTH_BYTES = 2 * 1024 * 1024;

export interface QuietCollectorOptions {
  clock: Clock;
  quietMs?: number;
  minGrowthBytes?: number;
  /** The collection (default: V8's gc() twice, when exposed). */
  collect?: () => void;
  /** Bytes of JavaScript heap in use (default: process.memoryUsage().heapUsed). */
  heapUsed?: () => number;
}

export class QuietCollector {
  private readonly quietMs: number;
  private readonly collect: (() => void) | undefined;
  private readonly heapUsed: () => number;
  /** Heap in use after the last collection. */
  private usedAfter = 0;
  private inFlight = 0;
  private lastEnd = 0;
  /** Work ended since the last collection. */
  private dirty = false;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly o: QuietCollectorOptions) {
    this.quietMs = o.quietMs ?? QUIET_MS;
    const gc = (globalThis as { gc?: () => void }).gc;
    this.collect =
      o.collect ??
      (gc &&
        (() => {
          gc();
          gc();
        }));
    this.heapUsed = o.heapUsed ?? (() => process.memoryUsage().heapUsed);
  }

  /** A unit of work starts (a pod's sync). */
  begin(): void {
    this.inFlight++;
  }

  /** It ended: the collection comes once no work has run for quietMs. */
  end(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.lastEnd = this.o.clock.now();
    this.dirty = true;
    if (!this.timer && this.collect && !this.stopped) this.arm(this.quietMs);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.o.clock.after(ms, () => {
      this.timer = undefined;
      const idle = this.o.clock.now() - this.lastEnd;
      if (this.inFlight > 0 || idle < this.quietMs) return this.arm(this.inFlight > 0 ? this.quietMs : this.quietMs - idle);
      if (!this.dirty) return;
      this.dirty = false;
      if (this.heapUsed() - this.usedAfter < (this.o.minGrowthBytes ?? MIN_GROWTH_BYTES)) return;
      this.collect!();
      this.usedAfter = this.heapUsed();
    });
  }
}
