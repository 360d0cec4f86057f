// The scheduling queue (kube-scheduler's PriorityQueue), on the injected clock:
// - active: pods to try now, most important first (priority, then the oldest);
// - back-off: pods that failed lately wait 1 s, doubling per failure up to 10 s;
// - unschedulable: pods that fit nowhere wait for the cluster to change — a node added or
//   changed, a pod deleted or bound — and are then moved back (to back-off if theirs has
//   not run out); none is kept longer than 5 minutes without a retry. No polling: only
//   events and back-off timers move pods.
// A pod that failed while a move happened during its attempt goes to back-off instead of
// unschedulable, so the change it might have needed is not missed.
import type { Clock, Timer } from "../../common/clock.ts";

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** An unschedulable pod is retried at least this often (podMaxInUnschedulablePodsDuration). */
  maxUnschedulableMs?: number;
}

type Place = "active" | "backoff" | "unschedulable" | "inflight";

interface Entry {
  key: string;
  priority: number;
  /** When the pod was first queued (ties go to the oldest). */
  since: number;
  attempts: number;
  lastFailure: number;
  place: Place;
  /** Bumped whenever the entry enters active, so stale heap slots are skipped. */
  gen: number;
  /** The move counter when the current attempt began. */
  cycle: number;
  timer?: Timer;
}

export class SchedulingQueue {
  private readonly entries = new Map<string, Entry>();
  /** The entries whose place is "unschedulable" (so a move does not walk every pod). */
  private readonly waiting = new Set<Entry>();
  private heap: { e: Entry; gen: number }[] = [];
  private waiters: ((key: string | undefined) => void)[] = [];
  private moves = 0;
  private closed = false;
  private readonly flushTimer: Timer;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private readonly maxUnschedulable: number;

  constructor(
    private readonly clock: Clock,
    opts: QueueOptions = {},
  ) {
    this.initialBackoff = opts.initialBackoffMs ?? 1000;
    this.maxBackoff = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulable = opts.maxUnschedulableMs ?? 5 * 60_000;
    this.flushTimer = clock.every(Math.min(30_000, this.maxUnschedulable), () => this.flushUnschedulable());
  }

  /** A pod to schedule (new, or changed): active unless it is being tried or backing off. */
  add(key: string, priority: number): void {
    const e = this.entries.get(key);
    if (!e) {
      const entry: Entry = { key, priority, since: this.clock.now(), attempts: 0, lastFailure: 0, place: "active", gen: 0, cycle: 0 };
      this.entries.set(key, entry);
      this.activate(entry);
      return;
    }
    e.priority = priority;
    // A changed pod may fit now: an unschedulable one is tried again (after its back-off).
    if (e.place === "unschedulable") this.moveOut(e);
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.timer?.cancel();
    this.waiting.delete(e);
    this.entries.delete(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The next pod to try, waiting for one; undefined once closed. */
  pop(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.closed) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The attempt bound the pod (or it is gone): forget it. */
  done(key: string): void {
    this.delete(key);
  }

  /** The pod fits nowhere: wait for a cluster change (or back off, if one came during the attempt). */
  unschedulable(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.failed(e);
    if (e.cycle < this.moves) this.backOff(e);
    else {
      e.place = "unschedulable";
      this.waiting.add(e);
    }
  }

  /** The attempt failed for another reason (an API error): retry after the back-off. */
  retry(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.failed(e);
    this.backOff(e);
  }

  /** The cluster changed in a way that may let waiting pods fit: move every unschedulable pod out. */
  moveAllUnschedulable(): void {
    this.moves++;
    for (const e of [...this.waiting]) this.moveOut(e);
  }

  /** Counts per place, for tests and logs. */
  stats(): Record<Place, number> {
    const s: Record<Place, number> = { active: 0, backoff: 0, unschedulable: 0, inflight: 0 };
    for (const e of this.entries.values()) s[e.place]++;
    return s;
  }

  close(): void {
    this.closed = true;
    this.flushTimer.cancel();
    for (const e of this.entries.values()) e.timer?.cancel();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private failed(e: Entry): void {
    e.attempts++;
    e.lastFailure = this.clock.now();
  }

  private backoffUntil(e: Entry): number {
    if (e.attempts === 0) return 0;
    return e.lastFailure + Math.min(this.maxBackoff, this.initialBackoff * 2 ** (e.attempts - 1));
  }

  private moveOut(e: Entry): void {
    if (this.clock.now() < this.backoffUntil(e)) this.backOff(e);
    else this.activate(e);
  }

  private backOff(e: Entry): void {
    this.waiting.delete(e);
    e.place = "backoff";
    e.timer?.cancel();
    e.timer = this.clock.after(Math.max(0, this.backoffUntil(e) - this.clock.now()), () => {
      e.timer = undefined;
      if (this.entries.get(e.key) === e && e.place === "backoff") this.activate(e);
    });
  }

  private flushUnschedulable(): void {
    const now = this.clock.now();
    for (const e of [...this.waiting]) if (now - e.lastFailure >= this.maxUnschedulable) this.activate(e);
  }

  private activate(e: Entry): void {
    this.waiting.delete(e);
    e.timer?.cancel();
    e.timer = undefined;
    e.place = "active";
    e.gen++;
    const w = this.waiters.shift();
    if (w) {
      // Someone waits: hand the most important active pod over (this one, or one queued before it).
      this.push(e);
      w(this.take());
      return;
    }
    this.push(e);
  }

  private before(a: Entry, b: Entry): boolean {
    return a.priority !== b.priority ? a.priority > b.priority : a.since < b.since;
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push({ e, gen: e.gen });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i]!.e, h[parent]!.e)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private take(): string | undefined {
    const h = this.heap;
    while (h.length) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && this.before(h[l]!.e, h[m]!.e)) m = l;
          if (r < h.length && this.before(h[r]!.e, h[m]!.e)) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m]!, h[i]!];
          i = m;
        }
      }
      const e = top.e;
      if (this.entries.get(e.key) !== e || e.place !== "active" || e.gen !== top.gen) continue;
      e.place = "inflight";
      e.cycle = this.moves;
      return e.key;
    }
    return undefined;
  }
}
