// What the scheduler knows about one node: the Node, the pods bound (or assumed bound) to
// it, and running sums kept as pods come and go (framework.NodeInfo), so filters and
// scores never add up a node's pods again. PodInfo holds what is computed once per pod.
import type { Labels, Node, Pod, PodAffinityTerm, WeightedPodAffinityTerm } from "./_types.ts";
import { addResources, emptyResources, podRequests, toResources, type Resources } from "./requests.ts";
import { quantityValue } from "../../common/quantity.ts";

export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

export class PodInfo {
  readonly key: string;
  readonly requests: Resources;
  /** Requests with the scoring defaults for containers that ask for no cpu or memory. */
  readonly nonZeroRequests: Resources;
  readonly hostPorts: HostPort[];
  readonly priority: number;
  readonly requiredAffinity: readonly PodAffinityTerm[];
  readonly requiredAntiAffinity: readonly PodAffinityTerm[];
  readonly preferredAffinity: readonly WeightedPodAffinityTerm[];
  readonly preferredAntiAffinity: readonly WeightedPodAffinityTerm[];

  constructor(readonly pod: Pod) {
    const { namespace = "", name = "" } = pod.metadata;
    this.key = `${namespace}/${name}`;
    this.requests = podRequests(pod);
    this.nonZeroRequests = podRequests(pod, { nonZero: true });
    this.hostPorts = [];
    for (const c of pod.spec?.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (p.hostPort && p.hostPort > 0) this.hostPorts.push({ ip: p.hostIP || "0.0.0.0", protocol: p.protocol || "TCP", port: p.hostPort });
      }
    }
    this.priority = pod.spec?.priority ?? 0;
    const a = pod.spec?.affinity;
    this.requiredAffinity = a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    this.requiredAntiAffinity = a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    this.preferredAffinity = a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    this.preferredAntiAffinity = a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  }

  get namespace(): string {
    return this.pod.metadata.namespace ?? "";
  }

  get labels(): Labels {
    return this.pod.metadata.labels ?? {};
  }

  get hasAffinity(): boolean {
    return this.requiredAffinity.length + this.requiredAntiAffinity.length + this.preferredAffinity.length + this.preferredAntiAffinity.length > 0;
  }
}

export class NodeInfo {
  readonly pods = new Map<string, PodInfo>();
  readonly requested: Resources = emptyResources();
  readonly nonZeroRequested: Resources = emptyResources();
  allocatable: Resources = emptyResources();
  allowedPodCount = 0;
  /** Pods on the node with any pod (anti-)affinity term, and with a required anti-affinity term. */
  readonly podsWithAffinity = new Set<PodInfo>();
  readonly podsWithRequiredAntiAffinity = new Set<PodInfo>();
  private node_: Node;

  constructor(node: Node) {
    this.node_ = node;
    this.setNode(node);
  }

  get node(): Node {
    return this.node_;
  }

  get name(): string {
    return this.node_.metadata.name ?? "";
  }

  get labels(): Labels {
    return this.node_.metadata.labels ?? {};
  }

  setNode(node: Node): void {
    this.node_ = node;
    const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
    this.allocatable = toResources(alloc);
    this.allowedPodCount = quantityValue(alloc.pods);
  }

  addPod(p: PodInfo): void {
    if (this.pods.has(p.key)) this.removePod(p.key);
    this.pods.set(p.key, p);
    addResources(this.requested, p.requests);
    addResources(this.nonZeroRequested, p.nonZeroRequests);
    if (p.hasAffinity) this.podsWithAffinity.add(p);
    if (p.requiredAntiAffinity.length) this.podsWithRequiredAntiAffinity.add(p);
  }

  removePod(key: string): PodInfo | undefined {
    const p = this.pods.get(key);
    if (!p) return undefined;
    this.pods.delete(key);
    addResources(this.requested, p.requests, -1);
    addResources(this.nonZeroRequested, p.nonZeroRequests, -1);
    this.podsWithAffinity.delete(p);
    this.podsWithRequiredAntiAffinity.delete(p);
    return p;
  }

  /** Host ports in use on the node. */
  *usedPorts(): Iterable<HostPort> {
    for (const p of this.pods.values()) yield* p.hostPorts;
  }

  /** A copy whose pods can be removed without touching this one (preemption's what-if). */
  clone(): NodeInfo {
    const c = new NodeInfo(this.node_);
    for (const p of this.pods.values()) c.addPod(p);
    return c;
  }
}
