// Time, passed in. Everything that waits (a work queue's back-off, an informer's relist
// back-off, leases, probe periods, CronJob schedules) asks a Clock instead of calling
// Date.now/setTimeout itself, so tests drive time with a FakeClock and never sleep.

/** A scheduled call; cancel() is safe to call more than once, and after it fired. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls fn once, ms from now. */
  after(ms: number, fn: () => void): Timer;
  /** Calls fn every ms until cancelled (a ticker). The first call is ms from now. */
  every(ms: number, fn: () => void): Timer;
  /** Resolves ms from now; an aborted signal rejects it at once with the signal's reason. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal!.reason);
    };
    const timer = clock.after(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The wall clock. Its timers keep the process alive as setTimeout's do: owners cancel them on stop. */
export const realClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, Math.max(1, ms));
    return { cancel: () => clearInterval(t) };
  },
  sleep(ms, signal) {
    return sleepWith(realClock, ms, signal);
  },
};

interface FakeTimer {
  due: number;
  seq: number;
  fn: () => void;
  /** Set for tickers: rescheduled this far after each call. */
  period?: number;
}

/** Lets promise continuations and I/O callbacks queued so far run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A clock that moves only when a test says so. advance() fires due timers in time order
 * (equal times in the order they were set), letting each one's continuations run before
 * the next, so `await clock.sleep(a); await clock.sleep(b)` completes within advance(a + b).
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  after(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, undefined);
  }

  every(ms: number, fn: () => void): Timer {
    if (!(ms > 0)) throw new RangeError(`a ticker's period must be positive, not ${ms}`);
    return this.schedule(ms, fn, ms);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** How many timers are waiting. */
  pending(): number {
    return this.timers.length;
  }

  /** When the earliest waiting timer is due, if any. */
  nextDue(): number | undefined {
    return this.timers[0]?.due;
  }

  /** Moves time forward by ms, firing every timer that comes due on the way. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`a clock cannot go back (advance ${ms})`);
    const target = this.current + ms;
    await turn();
    for (let t = this.timers[0]; t && t.due <= target; t = this.timers[0]) {
      this.timers.shift();
      this.current = Math.max(this.current, t.due);
      if (t.period !== undefined) {
        // A ticker stays the same entry, due one period later.
        t.due += t.period;
        t.seq = this.seq++;
        this.insert(t);
      }
      t.fn();
      await turn();
    }
    this.current = target;
  }

  /** Advances to the earliest waiting timer and fires it (and any due at the same time). */
  async advanceToNext(): Promise<boolean> {
    const due = this.nextDue();
    if (due === undefined) return false;
    await this.advance(Math.max(0, due - this.current));
    return true;
  }

  private schedule(ms: number, fn: () => void, period: number | undefined): Timer {
    const t: FakeTimer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, period };
    this.insert(t);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== t)) };
  }

  private insert(t: FakeTimer): void {
    const i = this.timers.findIndex((x) => x.due > t.due || (x.due === t.due && x.seq > t.seq));
    if (i < 0) this.timers.push(t);
    else this.timers.splice(i, 0, t);
  }
}
