// Events about pods, as the kubelet records them (source component "kubelet", the node as
// host): Pulled, Created, Started, Killing, BackOff, Failed, Unhealthy. Best effort: a failed
// write is logged, never retried, and never fails a sync. A repeat of an event (same pod,
// container, type, reason and message — a probe failing every period) updates the first one's
// count and lastTimestamp instead of making another object, as client-go's event correlator
// does; the agent remembers the newest repeats only (a bounded map).
import { randomBytes } from "node:crypto";
import type { Clock } from "../../common/clock.ts";
import type { Client } from "../client/index.ts";
import { EVENTS } from "./api-refs.ts";
import type { Pod } from "./pod-types.ts";

/** How many distinct events the recorder remembers for aggregation. */
const REMEMBERED = 4096;

export class EventRecorder {
  /** Per event: its object's name, its count, and the last write to it (updates go in order, after the create). */
  private readonly seen = new Map<string, { name: string; count: number; written: Promise<void> }>();

  constructor(
    private readonly client: Client,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly log: (m: string) => void,
  ) {}

  pod(pod: Pod, type: "Normal" | "Warning", reason: string, message: string, container?: string): void {
    const now = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    const ns = pod.metadata.namespace ?? "default";
    const key = JSON.stringify([ns, pod.metadata.uid, container ?? "", type, reason, message]);
    const prior = this.seen.get(key);
    if (prior) {
      prior.count++;
      this.seen.delete(key); // re-inserted: the map's order is how recently each was seen
      this.seen.set(key, prior);
      const count = prior.count;
      prior.written = prior.written
        .then(() => this.client.resource(EVENTS).patch(ns, prior.name, "merge", { count, lastTimestamp: now }))
        .then(() => undefined)
        .catch((err: unknown) => {
          this.seen.delete(key); // gone (or never made): the next repeat makes a new one
          this.log(`event ${reason} for ${ns}/${pod.metadata.name}: ${(err as Error).message}`);
        });
      return;
    }
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString("hex")}`, namespace: ns },
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        namespace: ns,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        ...(container ? { fieldPath: `spec.containers{${container}}` } : {}),
      },
      reason,
      message,
      type,
      source: { component: "kubelet", host: this.node },
      reportingComponent: "kubelet",
      reportingInstance: this.node,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    // The remembered promise resolves to nothing: holding the created Event (the server's
    // answer, ~2 kB) for each of up to 4,096 remembered events was half a megabyte with 100 pods.
    const written = this.client
      .resource(EVENTS)
      .create(ns, event)
      .then(
        () => undefined,
        (err: unknown) => {
          this.seen.delete(key);
          this.log(`event ${reason} for ${ns}/${pod.metadata.name}: ${(err as Error).message}`);
        },
      );
    this.seen.set(key, { name: event.metadata.name, count: 1, written });
    if (this.seen.size > REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
  }
}
