// Events a controller records about the objects it acts on (client-go's EventRecorder, cut
// down): one core/v1 Event per call, named `<object>.<hex time>` as client-go names them, with
// the source component `kubectl describe` and `kubectl get events` show. Recording is best
// effort, as upstream: a failed write is logged and never fails the reconcile. Controllers
// await it, so an event is written before their reconcile ends (and tests see it then).
import type { Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import type { Client, KubeObject, ResourceRef } from "../client/index.ts";
import { rfc3339 } from "./_time.ts";
import { EVENTS } from "./_types.ts";

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  private seq = 0;

  constructor(
    private readonly client: Client,
    private readonly component: string,
    private readonly clock: Clock,
    private readonly log: (message: string) => void,
  ) {}

  /** Records an event about obj (of the kind ref names); resolves once written (or the failure logged). */
  async event(ref: ResourceRef, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const time = rfc3339(now);
    // Nanoseconds, as client-go's UnixNano; a counter keeps two events in one millisecond apart.
    const nanos = BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${obj.metadata.name}.${nanos.toString(16)}`, namespace: obj.metadata.namespace ?? "default" },
      involvedObject: { apiVersion: ref.group ? `${ref.group}/${ref.version}` : ref.version, kind: ref.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      reason,
      message,
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: "",
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    try {
      await this.client.resource(EVENTS).create(event.metadata.namespace, event);
    } catch (err) {
      this.log(`${this.component}: could not record event ${reason} on ${ref.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${describeError(err)}`);
    }
  }
}
