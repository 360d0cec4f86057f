// One scheduling attempt (kube-scheduler's schedulePod): run every filter over the nodes,
// from where the last attempt stopped, until enough feasible nodes are found
// (percentageOfNodesToScore: for big clusters not every node is looked at); score the
// feasible ones with every score plugin, normalise, weight and add; pick the best, ties
// broken at random. A pod that fits nowhere gets a Diagnosis, which names each node's
// reason (fit-error.ts) and tells preemption which nodes might be helped.
import type { Diagnosis } from "./fit-error.ts";
import { MAX_NODE_SCORE, type NodeFilter, type Snapshot, type Status } from "./framework.ts";
import type { NodeInfo, PodInfo } from "./node-info.ts";
import { defaultProfile, type Profile } from "./plugins/index.ts";

export interface ScheduleOptions {
  profile?: Profile;
  /** Percent of nodes to find feasible before scoring; 0 = kube-scheduler's adaptive default. */
  percentageOfNodesToScore?: number;
  /** Where in the node list the search starts (the caller rotates it between attempts). */
  startIndex?: number;
  /** 0 ≤ random() < 1, for breaking ties. */
  random?: () => number;
  /** Pods nominated to each node (by an earlier preemption) that hold their room for themselves. */
  nominatedPods?: (nodeName: string) => readonly PodInfo[];
}

export type ScheduleResult =
  | { node: string; feasibleNodes: number; evaluatedNodes: number; nextStartIndex: number }
  | { node?: undefined; diagnosis: Diagnosis; nextStartIndex: number };

const MIN_FEASIBLE_NODES_TO_FIND = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE = 5;

/** numFeasibleNodesToFind: all nodes below 100; else 50% less 1% per 125 nodes, at least 5%, and never fewer than 100. */
export function feasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  let pct = percentage;
  if (pct <= 0) pct = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE, 50 - Math.trunc(numAllNodes / 125));
  if (pct >= 100) return numAllNodes;
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.trunc((numAllNodes * pct) / 100));
}

/** The filters of a profile, prepared for one pod: a PreFilter refusal, or one function that runs them all on a node. */
export function prepareFilters(pod: PodInfo, snapshot: Snapshot, profile: Profile = defaultProfile): { rejected: Status } | { filter: NodeFilter } {
  const filters: NodeFilter[] = [];
  for (const plugin of profile.filters) {
    const prepared = plugin.prepareFilter(pod, snapshot);
    if (prepared === undefined) continue;
    if (typeof prepared !== "function") return { rejected: prepared };
    filters.push(prepared);
  }
  return {
    filter(node) {
      for (const f of filters) {
        const s = f(node);
        if (s) return s;
      }
      return undefined;
    },
  };
}

/** The node with room held for pods nominated to it that are at least as important as pod. */
function withNominated(pod: PodInfo, node: NodeInfo, nominated: readonly PodInfo[] | undefined): NodeInfo {
  const holders = (nominated ?? []).filter((p) => p.key !== pod.key && p.priority >= pod.priority && !node.pods.has(p.key));
  if (!holders.length) return node;
  const copy = node.clone();
  for (const p of holders) copy.addPod(p);
  return copy;
}

/** Scores the feasible nodes: each plugin's normalised 0..100 score times its weight, summed. */
export function scoreNodes(pod: PodInfo, feasible: readonly NodeInfo[], snapshot: Snapshot, profile: Profile = defaultProfile): number[] {
  const total = new Array<number>(feasible.length).fill(0);
  for (const plugin of profile.scores) {
    const scorer = plugin.prepareScore(pod, feasible, snapshot);
    if (!scorer) continue;
    const scores = feasible.map((n) => scorer.score(n));
    scorer.normalize?.(scores, feasible);
    for (let i = 0; i < scores.length; i++) total[i]! += Math.max(0, Math.min(MAX_NODE_SCORE, scores[i]!)) * plugin.weight;
  }
  return total;
}

export function schedule(pod: PodInfo, snapshot: Snapshot, opts: ScheduleOptions = {}): ScheduleResult {
  const profile = opts.profile ?? defaultProfile;
  const nodes = snapshot.nodes;
  const start = nodes.length ? (opts.startIndex ?? 0) % nodes.length : 0;
  const diagnosis: Diagnosis = { numAllNodes: nodes.length, nodeStatuses: new Map() };
  if (!nodes.length) return { diagnosis, nextStartIndex: 0 };
  const prepared = prepareFilters(pod, snapshot, profile);
  if ("rejected" in prepared) {
    diagnosis.preFilterMessage = prepared.rejected.reasons.join(", ");
    for (const n of nodes) diagnosis.nodeStatuses.set(n.name, prepared.rejected);
    return { diagnosis, nextStartIndex: start };
  }
  const check = (n: NodeInfo) => prepared.filter(withNominated(pod, n, opts.nominatedPods?.(n.name)));

  // A pod nominated by an earlier preemption tries its node first.
  const nominated = pod.pod.status?.nominatedNodeName;
  const nominatedNode = nominated ? snapshot.get(nominated) : undefined;
  if (nominatedNode && !check(nominatedNode)) return { node: nominatedNode.name, feasibleNodes: 1, evaluatedNodes: 1, nextStartIndex: start };

  const want = feasibleNodesToFind(nodes.length, opts.percentageOfNodesToScore);
  const feasible: NodeInfo[] = [];
  let evaluated = 0;
  for (; evaluated < nodes.length && feasible.length < want; evaluated++) {
    const node = nodes[(start + evaluated) % nodes.length]!;
    const status = check(node);
    if (status) diagnosis.nodeStatuses.set(node.name, status);
    else feasible.push(node);
  }
  const nextStartIndex = (start + evaluated) % nodes.length;
  if (!feasible.length) return { diagnosis, nextStartIndex };
  if (feasible.length === 1) return { node: feasible[0]!.name, feasibleNodes: 1, evaluatedNodes: evaluated, nextStartIndex };
  const scores = scoreNodes(pod, feasible, snapshot, profile);
  return { node: selectHost(feasible, scores, opts.random ?? Math.random).name, feasibleNodes: feasible.length, evaluatedNodes: evaluated, nextStartIndex };
}

/** The highest score wins; among equals each has the same chance (reservoir sampling, as selectHost). */
function selectHost(nodes: readonly NodeInfo[], scores: readonly number[], random: () => number): NodeInfo {
  let best = 0;
  let ties = 1;
  for (let i = 1; i < nodes.length; i++) {
    if (scores[i]! > scores[best]!) {
      best = i;
      ties = 1;
    } else if (scores[i] === scores[best]) {
      ties++;
      if (Math.floor(random() * ties) === 0) best = i;
    }
  }
  return nodes[best]!;
}
