// The scheduling framework's shapes (pkg/scheduler/framework): a snapshot of the cluster
// for one scheduling attempt, and plugins. A plugin is prepared once per pod and attempt
// (its PreFilter/PreScore work: counting pods per topology domain, parsing terms) and then
// asked about each node. A filter answers undefined when the pod fits, or a Status whose
// reasons are Kubernetes' own words; a score plugin answers 0..100 per node after
// normalising over every feasible node.
import type { LabelSelector, Labels, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from "./_types.ts";
import type { NodeInfo, PodInfo } from "./node-info.ts";

export const MAX_NODE_SCORE = 100;

/**
 * Unschedulable: the pod might fit if pods were removed (preemption may help);
 * UnschedulableAndUnresolvable: no removal of pods would help (a taint, a selector).
 */
export type StatusCode = "Unschedulable" | "UnschedulableAndUnresolvable";

export interface Status {
  code: StatusCode;
  reasons: string[];
  plugin: string;
}

export const unschedulable = (plugin: string, ...reasons: string[]): Status => ({ code: "Unschedulable", reasons, plugin });
export const unresolvable = (plugin: string, ...reasons: string[]): Status => ({ code: "UnschedulableAndUnresolvable", reasons, plugin });

/** What one scheduling attempt sees of the cluster. */
export interface Snapshot {
  /** Every node, in a stable order. */
  readonly nodes: readonly NodeInfo[];
  get(nodeName: string): NodeInfo | undefined;
  /** Nodes with at least one pod that has pod (anti-)affinity terms (InterPodAffinity's shortcut). */
  readonly nodesWithAffinityPods?: readonly NodeInfo[];
  /** A namespace's labels (for namespaceSelector in affinity terms); undefined when unknown. */
  namespaceLabels?(namespace: string): Labels | undefined;
  persistentVolumeClaim?(namespace: string, name: string): PersistentVolumeClaim | undefined;
  persistentVolume?(name: string): PersistentVolume | undefined;
  /** Every PersistentVolume, for claims whose class waits for the first consumer. */
  persistentVolumes?(): readonly PersistentVolume[];
  storageClass?(name: string): StorageClass | undefined;
  /**
   * The selector of the workload a pod belongs to (the Services, ReplicaSets and
   * StatefulSets that select it), for the default spreading; undefined when none.
   */
  workloadSelector?(pod: Pod): LabelSelector | undefined;
}

/** A filter for one pod and attempt: undefined when the pod fits on the node. */
export type NodeFilter = (node: NodeInfo) => Status | undefined;

export interface FilterPlugin {
  readonly name: string;
  /**
   * PreFilter: returns the per-node filter, or a Status that rejects the pod on every node
   * (an unbound claim), or undefined when the plugin has nothing to check for this pod.
   */
  prepareFilter(pod: PodInfo, snapshot: Snapshot): NodeFilter | Status | undefined;
}

export interface NodeScorer {
  score(node: NodeInfo): number;
  /** Scales raw scores (index-aligned with the nodes scored) into 0..MAX_NODE_SCORE, in place. */
  normalize?(scores: number[], nodes: readonly NodeInfo[]): void;
}

export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** PreScore over the feasible nodes; undefined skips the plugin (its score is 0 everywhere). */
  prepareScore(pod: PodInfo, feasible: readonly NodeInfo[], snapshot: Snapshot): NodeScorer | undefined;
}

/** DefaultNormalizeScore: the highest raw score becomes MAX_NODE_SCORE; reverse turns that upside down. */
export function defaultNormalizeScore(scores: number[], reverse: boolean): void {
  const max = Math.max(0, ...scores);
  for (let i = 0; i < scores.length; i++) {
    if (max === 0) {
      if (reverse) scores[i] = MAX_NODE_SCORE;
      continue;
    }
    const s = Math.trunc((MAX_NODE_SCORE * scores[i]!) / max);
    scores[i] = reverse ? MAX_NODE_SCORE - s : s;
  }
}
