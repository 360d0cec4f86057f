// Events about pods, as the kubelet records them (source component "kubelet", the node as
// host): Pulled, Created, Started, Killing, BackOff, Failed. Best effort: a failed write is
// logged, never retried, and never fails a sync.
import { randomBytes } from "node:crypto";
import type { Clock } from "../../common/clock.ts";
import type { Client } from "../client/index.ts";
import { EVENTS } from "./api-refs.ts";
import type { Pod } from "./pod-types.ts";

export class EventRecorder {
  constructor(
    private readonly client: Client,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly log: (m: string) => void,
  ) {}

  pod(pod: Pod, type: "Normal" | "Warning", reason: string, message: string, container?: string): void {
    const now = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    const ns = pod.metadata.namespace ?? "default";
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
    this.client
      .resource(EVENTS)
      .create(ns, event)
      .catch((err: unknown) => this.log(`event ${reason} for ${ns}/${pod.metadata.name}: ${(err as Error).message}`));
  }
}
