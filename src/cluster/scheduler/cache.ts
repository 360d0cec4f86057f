// The scheduler's view of the cluster, kept from informer events (kube-scheduler's cache):
// a NodeInfo per node with the pods bound to it, plus pods the scheduler has assumed bound
// while their binding is in flight, so the next pod already sees them. It is the Snapshot
// every attempt reads; attempts run one at a time and synchronously, so no copy is made.
import type { KubeObject } from "../client/index.ts";
import type { LabelSelector, LabelSelectorRequirement, Labels, Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from "./_types.ts";
import type { Snapshot } from "./framework.ts";
import { NodeInfo, PodInfo } from "./node-info.ts";
import { selectorMatches } from "./selectors.ts";

/** Read access to the informers' caches the snapshot needs besides nodes and pods. */
export interface Listers {
  namespace(name: string): KubeObject | undefined;
  pvc(namespace: string, name: string): KubeObject | undefined;
  pv(name: string): KubeObject | undefined;
  /** Every PersistentVolume (for claims whose binding waits for the scheduler); absent → none. */
  pvs?(): KubeObject[];
  storageClass?(name: string): KubeObject | undefined;
  services(namespace: string): KubeObject[];
  controller(kind: string, namespace: string, name: string): KubeObject | undefined;
}

const isTerminal = (p: Pod) => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";
const podKey = (p: Pod) => `${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`;

export class SchedulerCache implements Snapshot {
  private readonly infos = new Map<string, NodeInfo>();
  private ordered: NodeInfo[] | undefined;
  /** Where each placed pod is (bound or assumed). */
  private readonly placed = new Map<string, string>();
  /** Pods bound to nodes not (yet) known, by node. */
  private readonly orphans = new Map<string, Map<string, PodInfo>>();
  private readonly assumed = new Set<string>();
  /** Unbound pods nominated to a node by preemption, by node. */
  private readonly nominated = new Map<string, Map<string, PodInfo>>();

  constructor(private readonly listers: Listers) {}

  get nodes(): readonly NodeInfo[] {
    this.ordered ??= [...this.infos.values()];
    return this.ordered;
  }

  get(name: string): NodeInfo | undefined {
    return this.infos.get(name);
  }

  get nodesWithAffinityPods(): readonly NodeInfo[] {
    return this.nodes.filter((n) => n.podsWithAffinity.size > 0);
  }

  get podCount(): number {
    return this.placed.size;
  }

  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  setNode(node: Node): void {
    const name = node.metadata.name!;
    const info = this.infos.get(name);
    if (info) return info.setNode(node);
    const fresh = new NodeInfo(node);
    for (const p of this.orphans.get(name)?.values() ?? []) fresh.addPod(p);
    this.orphans.delete(name);
    this.infos.set(name, fresh);
    this.ordered = undefined;
  }

  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info) return;
    this.infos.delete(name);
    this.ordered = undefined;
    // Its pods stay known (they still exist) until they are deleted or the node returns.
    if (info.pods.size) this.orphans.set(name, new Map(info.pods));
  }

  /** A pod as the informer has it now: placed on its node when bound and not finished, else removed. */
  setPod(pod: Pod): void {
    const key = podKey(pod);
    this.clearNomination(key);
    const node = pod.spec?.nodeName;
    if (!node || isTerminal(pod)) {
      if (!this.assumed.has(key)) this.removePod(key);
      if (!node && pod.status?.nominatedNodeName && !pod.metadata.deletionTimestamp) this.nominate(pod);
      return;
    }
    this.assumed.delete(key);
    this.place(new PodInfo(pod), node);
  }

  removePod(key: string): void {
    this.assumed.delete(key);
    this.clearNomination(key);
    const node = this.placed.get(key);
    if (node === undefined) return;
    this.placed.delete(key);
    this.infos.get(node)?.removePod(key);
    this.orphans.get(node)?.delete(key);
  }

  /** Places a pod whose binding is in flight, as if bound. */
  assume(pod: PodInfo, node: string): void {
    const bound = new PodInfo({ ...pod.pod, spec: { ...pod.pod.spec, nodeName: node } });
    this.place(bound, node);
    this.assumed.add(pod.key);
  }

  /** The binding failed: the assumed pod leaves its node. */
  forget(key: string): void {
    if (this.assumed.has(key)) this.removePod(key);
  }

  nominatedPods(node: string): readonly PodInfo[] {
    const m = this.nominated.get(node);
    return m ? [...m.values()] : [];
  }

  private place(p: PodInfo, node: string): void {
    const was = this.placed.get(p.key);
    if (was !== undefined && was !== node) this.removePod(p.key);
    this.placed.set(p.key, node);
    const info = this.infos.get(node);
    if (info) info.addPod(p);
    else {
      let m = this.orphans.get(node);
      if (!m) this.orphans.set(node, (m = new Map()));
      m.set(p.key, p);
    }
  }

  private nominate(pod: Pod): void {
    const node = pod.status!.nominatedNodeName!;
    let m = this.nominated.get(node);
    if (!m) this.nominated.set(node, (m = new Map()));
    m.set(podKey(pod), new PodInfo(pod));
  }

  private clearNomination(key: string): void {
    for (const [node, m] of this.nominated) {
      if (m.delete(key) && m.size === 0) this.nominated.delete(node);
    }
  }

  // ---- Snapshot's other lookups, from the listers

  namespaceLabels(namespace: string): Labels | undefined {
    return this.listers.namespace(namespace)?.metadata.labels;
  }

  persistentVolumeClaim(namespace: string, name: string): PersistentVolumeClaim | undefined {
    return this.listers.pvc(namespace, name) as PersistentVolumeClaim | undefined;
  }

  persistentVolume(name: string): PersistentVolume | undefined {
    return this.listers.pv(name) as PersistentVolume | undefined;
  }

  persistentVolumes(): readonly PersistentVolume[] {
    return (this.listers.pvs?.() ?? []) as PersistentVolume[];
  }

  storageClass(name: string): StorageClass | undefined {
    return this.listers.storageClass?.(name) as StorageClass | undefined;
  }

  /**
   * The selector of the pod's workload (helper.DefaultSelector): the Services selecting it
   * and its controlling ReplicaSet or StatefulSet, all together.
   */
  workloadSelector(pod: Pod): LabelSelector | undefined {
    const ns = pod.metadata.namespace ?? "";
    const matchLabels: Record<string, string> = {};
    const matchExpressions: LabelSelectorRequirement[] = [];
    let found = false;
    for (const svc of this.listers.services(ns)) {
      const sel = (svc.spec as { selector?: Record<string, string> } | undefined)?.selector;
      if (sel && Object.keys(sel).length && selectorMatches({ matchLabels: sel }, pod.metadata.labels)) {
        Object.assign(matchLabels, sel);
        found = true;
      }
    }
    const owner = (pod.metadata.ownerReferences ?? []).find((r) => r.controller);
    if (owner && (owner.kind === "ReplicaSet" || owner.kind === "StatefulSet" || owner.kind === "ReplicationController")) {
      const ctl = this.listers.controller(owner.kind, ns, owner.name);
      const sel = (ctl?.spec as { selector?: LabelSelector | Record<string, string> } | undefined)?.selector;
      if (sel) {
        found = true;
        if (owner.kind === "ReplicationController") Object.assign(matchLabels, sel);
        else {
          Object.assign(matchLabels, (sel as LabelSelector).matchLabels ?? {});
          matchExpressions.push(...((sel as LabelSelector).matchExpressions ?? []));
        }
      }
    }
    return found ? { matchLabels, matchExpressions } : undefined;
  }
}
