// One watcher's outbound queue. Backends push events as they learn of them (possibly inside
// a write or a read transaction); the caller's callbacks always run later, in a microtask,
// in push order, so a callback can never re-enter the backend mid-transaction and watch()
// returns its handle before the first event arrives. A handler that throws ends its own
// watch with an INTERNAL error; other watchers are unaffected.
import { GantryError } from "../../common/errors.ts";
import type { WatchEvent } from "./types.ts";

export class WatchDelivery {
  private queue: WatchEvent[] = [];
  private scheduled = false;
  cancelled = false;

  constructor(
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onError: (err: GantryError) => void,
  ) {}

  push(e: WatchEvent): void {
    if (this.cancelled) return;
    this.queue.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Ends the watch with an error, after the events already queued. */
  fail(err: GantryError): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const pending = this.queue;
    this.queue = [];
    queueMicrotask(() => {
      for (const e of pending) this.onEvent(e);
      this.onError(err);
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const e of batch) {
      if (this.cancelled) return;
      try {
        this.onEvent(e);
      } catch (err) {
        // The rest of the batch cannot be delivered in order any more: end this watch (its
        // owner relists and watches again) rather than the whole process.
        this.cancelled = true;
        this.onError(
          new GantryError("INTERNAL", `a watch handler failed on ${e.type} ${e.object.key}: ${String(err)}`, {
            cause: err,
          }),
        );
        return;
      }
    }
  }
}
