// Records core/v1 Events about objects, as client-go's event recorder does: one Event per
// (object, type, reason, message), whose count and lastTimestamp go up when it repeats
// instead of a new Event each time; `kubectl describe` shows them with their source.
import { randomBytes } from "node:crypto";
import type { Clock } from "../../common/clock.ts";
import type { Client } from "./client.ts";
import type { KubeObject } from "./objects.ts";

const EVENTS = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };

export interface EventTarget {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export class EventRecorder {
  /** The Event already written for a repeat key, with its count. */
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(
    private readonly client: Client,
    /** The component named as the source ("default-scheduler"). */
    private readonly component: string,
    private readonly clock: Clock,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** Records an event; failures are logged, never thrown (an event is not worth a retry loop). */
  async record(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const namespace = target.metadata.namespace || "default";
    const key = `${target.metadata.uid}\0${type}\0${reason}\0${message}`;
    const now = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    const events = this.client.resource<KubeObject>(EVENTS);
    const prev = this.seen.get(key);
    try {
      if (prev) {
        prev.count++;
        await events.patch(prev.namespace, prev.name, "merge", { count: prev.count, lastTimestamp: now });
        return;
      }
      const name = `${target.metadata.name}.${randomBytes(8).toString("hex")}`;
      this.remember(key, { name, namespace, count: 1 });
      await events.create(namespace, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: { apiVersion: target.apiVersion ?? "v1", kind: target.kind ?? "Pod", namespace: target.metadata.namespace, name: target.metadata.name, uid: target.metadata.uid, resourceVersion: target.metadata.resourceVersion },
        reason,
        message,
        type,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      // A repeat whose Event was removed (TTL, namespace cleanup) starts a new one next time.
      this.seen.delete(key);
      this.log(`events: ${reason} for ${namespace}/${target.metadata.name}: ${(err as Error).message}`);
    }
  }

  /** Keeps the repeat index bounded (client-go keeps an LRU of 4096). */
  private remember(key: string, v: { name: string; namespace: string; count: number }): void {
    if (this.seen.size >= 4096) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, v);
  }
}
