// The keyed work queue every controller runs on (client-go's rate-limited delaying queue).
// A key is queued at most once however often it is added; a key being processed is never
// handed to a second worker — added meanwhile, it is queued again when the first is done,
// so the newest state is always looked at. Failed keys come back after a back-off from the
// rate limiter; delays are timers on the injected clock.
import { realClock, type Clock, type Timer } from "../../common/clock.ts";
import { counter, gauge, histogram, WORKQUEUE_BUCKETS } from "../../common/metrics.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "./rate-limit.ts";

export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** Names the queue in client-go's workqueue_* metrics (the controller's name); unnamed queues are not measured. */
  name?: string;
}

// client-go's workqueue metrics (k8s.io/client-go/util/workqueue/metrics.go), per queue name.
const depthMetric = gauge({ name: "workqueue_depth", help: "Current depth of workqueue", labelNames: ["name"] });
const addsMetric = counter({ name: "workqueue_adds_total", help: "Total number of adds handled by workqueue", labelNames: ["name"] });
const retriesMetric = counter({ name: "workqueue_retries_total", help: "Total number of retries handled by workqueue", labelNames: ["name"] });
const queueDurationMetric = histogram({ name: "workqueue_queue_duration_seconds", help: "How long in seconds an item stays in workqueue before being requested.", labelNames: ["name"], buckets: WORKQUEUE_BUCKETS });
const workDurationMetric = histogram({ name: "workqueue_work_duration_seconds", help: "How long in seconds processing an item from workqueue takes.", labelNames: ["name"], buckets: WORKQUEUE_BUCKETS });

/** One queue's metric children, bound to its name once. */
class QueueMetrics {
  private readonly depth;
  private readonly adds;
  private readonly retries;
  private readonly queueDuration;
  private readonly workDuration;
  /** performance.now() when each queued key was added, and when each key in progress was handed out. */
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();

  constructor(name: string) {
    this.depth = depthMetric.labels(name);
    this.adds = addsMetric.labels(name);
    this.retries = retriesMetric.labels(name);
    this.queueDuration = queueDurationMetric.labels(name);
    this.workDuration = workDurationMetric.labels(name);
    this.depth.set(0);
  }

  added(key: string, depth: number): void {
    this.adds.inc();
    if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
    this.depth.set(depth);
  }

  taken(key: string, depth: number): void {
    const now = performance.now();
    const at = this.addedAt.get(key);
    if (at !== undefined) this.queueDuration.observe((now - at) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, now);
    this.depth.set(depth);
  }

  finished(key: string): void {
    const at = this.startedAt.get(key);
    if (at !== undefined) this.workDuration.observe((performance.now() - at) / 1000);
    this.startedAt.delete(key);
  }

  retried(): void {
    this.retries.inc();
  }
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  /** Keys waiting for a worker, in order. */
  private readonly queue: string[] = [];
  /** Keys that need processing (queued, or added again while being processed). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys waiting for a delay to pass: when each is due and its timer (the earliest wins). */
  private readonly waiting = new Map<string, { due: number; timer: Timer }>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly metrics: QueueMetrics | undefined;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter(this.clock);
    this.metrics = opts.name ? new QueueMetrics(opts.name) : undefined;
  }

  /** Queues key unless it is already queued; a key being processed is queued again when done. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.added(key, this.queue.length + (this.processing.has(key) ? 0 : 1));
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds key once ms have passed; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const due = this.clock.now() + ms;
    const prev = this.waiting.get(key);
    if (prev && prev.due <= due) return;
    prev?.timer.cancel();
    const timer = this.clock.after(ms, () => {
      this.waiting.delete(key);
      this.add(key);
      this.checkIdle();
    });
    this.waiting.set(key, { due, timer });
  }

  /** Adds key after the rate limiter's back-off: the way a failed key is retried. */
  addRateLimited(key: string): void {
    this.metrics?.retried();
    this.addAfter(key, this.limiter.when(key));
  }

  /** The key succeeded: its back-off starts again from the shortest. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** How many times in a row key has been retried. */
  retries(key: string): number {
    return this.limiter.retries(key);
  }

  /** The next key to process (which the caller must pass to done()), or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Processing of key finished (whatever the outcome); a key added meanwhile is queued again. */
  done(key: string): void {
    this.metrics?.finished(key);
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
    this.checkIdle();
  }

  /** Stops handing out keys: waiting workers get undefined, delayed keys are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) timer.cancel();
    this.waiting.clear();
    for (const g of this.getters.splice(0)) g(undefined);
    this.checkIdle();
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Keys queued and not yet handed out. */
  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting for a delay (back-off or addAfter). */
  get delayed(): number {
    return this.waiting.size;
  }

  /** Nothing queued, nothing being processed (delayed keys may still be waiting). */
  isIdle(): boolean {
    return this.queue.length === 0 && this.processing.size === 0;
  }

  /** Resolves the next time the queue is idle (at once if it is now). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) getter(this.take(key));
    else this.queue.push(key);
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    this.metrics?.taken(key, this.queue.length);
    return key;
  }

  private checkIdle(): void {
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }
}
