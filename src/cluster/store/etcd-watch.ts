// One etcd watch over the store's whole key namespace, fanned out to every Store.watch()
// whose start revision it can serve (kube-apiserver's watch cache does the same). Without it
// each API watch is its own etcd watch and etcd sends every event once per watcher: with 100
// watchers that is 100 gRPC messages per write, and fan-out, not etcd, becomes the limit.
//
// The hub keeps the last RING_EVENTS (10,000) events. A watch from revision F can be served when every
// event after F is in the ring or still to come (F >= coveredFrom); it gets the ring's events
// after F at once, then live ones, with nothing in between because both happen in the same
// synchronous step of the hub. An older F falls back to a watch of its own (see etcd.ts).
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from "etcd3";
import type { GantryError } from "../../common/errors.ts";
import type { WatchDelivery } from "./_delivery.ts";
import type { WatchEvent } from "./types.ts";

/** Events kept for watches that start a little in the past (a list, then a watch). */
export const RING_EVENTS = 10_000;

interface Subscriber {
  prefix: string;
  /** Only events after this revision are delivered. */
  after: number;
  delivery: WatchDelivery;
}

export class EtcdWatchHub {
  private readonly watcher: Watcher;
  readonly ready: Promise<void>;
  private ring: WatchEvent[] = [];
  /** Every event after this revision is in the ring or not yet received. */
  private coveredFrom = Number.POSITIVE_INFINITY;
  private lastRevision = 0;
  private readonly subscribers = new Set<Subscriber>();
  private broken = false;

  constructor(
    client: Etcd3,
    range: { start: Buffer; end: Buffer },
    private readonly toEvent: (type: string, kv: IKeyValue, prevKv: IKeyValue | undefined) => WatchEvent,
    /** Turns the watch's failure into the error its subscribers get; called once. */
    explain: (err: unknown, lastRevision: number) => Promise<GantryError>,
    onBroken: () => void,
    private readonly ringEvents = RING_EVENTS,
  ) {
    // No start revision: etcd watches from now, and the creation answer names "now".
    this.watcher = client.watch().inRange(range).withPreviousKV().watcher();
    this.ready = new Promise((resolve, reject) => {
      this.watcher.once("connected", (res: IWatchResponse) => {
        this.lastRevision = Number(res.header.revision);
        this.coveredFrom = this.lastRevision;
        resolve();
      });
      this.watcher.on("error", (err: unknown) => {
        this.broken = true;
        onBroken();
        reject(err instanceof Error ? err : new Error(String(err)));
        void explain(err, this.lastRevision).then((e) => {
          for (const s of this.subscribers) s.delivery.fail(e);
          this.subscribers.clear();
        });
      });
    });
    this.ready.catch(() => {}); // a failure before anyone awaits is reported through explain
    this.watcher.on("data", (res: IWatchResponse) => this.receive(res));
  }

  private receive(res: IWatchResponse): void {
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      // The client resumes a broken stream after the last revision it saw; never deliver twice.
      if (rev <= this.lastRevision) continue;
      this.lastRevision = rev;
      const event = this.toEvent(ev.type, ev.kv, ev.prev_kv ?? undefined);
      this.ring.push(event);
      for (const s of this.subscribers) {
        if (rev > s.after && event.object.key.startsWith(s.prefix)) s.delivery.push(event);
      }
    }
    // Trim in batches so the copy is amortised.
    if (this.ring.length > this.ringEvents * 1.25) {
      const dropped = this.ring.length - this.ringEvents;
      this.coveredFrom = this.ring[dropped - 1]!.object.modRevision;
      this.ring = this.ring.slice(dropped);
    }
  }

  /**
   * Starts delivering events under prefix after revision from, or returns undefined when the
   * ring no longer holds all of them. Returns the detach function.
   */
  attach(prefix: string, from: number, delivery: WatchDelivery): (() => void) | undefined {
    if (this.broken || from < this.coveredFrom) return undefined;
    // The ring is in revision order; find the first event after from.
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ring[mid]!.object.modRevision <= from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.ring.length; i++) {
      const e = this.ring[i]!;
      if (e.object.key.startsWith(prefix)) delivery.push(e);
    }
    const sub: Subscriber = { prefix, after: Math.max(from, this.lastRevision), delivery };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  close(): void {
    this.broken = true;
    this.subscribers.clear();
    this.watcher.removeAllListeners();
    this.watcher.on("error", () => {});
    void this.watcher.cancel().catch(() => {});
  }
}
