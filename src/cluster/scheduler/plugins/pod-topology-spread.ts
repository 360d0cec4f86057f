// PodTopologySpread: a pod's topologySpreadConstraints bound how unevenly the pods their
// selector matches may spread over topology domains. skew = the pods matching in the
// candidate's domain (+1 if the pod matches itself) − the fewest in any domain; a
// DoNotSchedule constraint refuses nodes where skew would pass maxSkew, a ScheduleAnyway
// one scores domains with fewer matching pods higher (weight 2). Pods without constraints
// get the system defaults (ScheduleAnyway; maxSkew 3 over hostnames, 5 over zones) with
// their workload's selector: the spreading of a ReplicaSet's or StatefulSet's pods.
// Domains count only nodes the pod could use by its node affinity (nodeAffinityPolicy
// Honor) and, with nodeTaintsPolicy Honor, only nodes whose taints it tolerates.
import type { LabelSelector, LabelSelectorRequirement, Pod, TopologySpreadConstraint } from "../_types.ts";
import { selectorMatches } from "../selectors.ts";
import { MAX_NODE_SCORE, unresolvable, unschedulable, type FilterPlugin, type ScorePlugin, type Snapshot } from "../framework.ts";
import type { NodeInfo, PodInfo } from "../node-info.ts";
import { requiredNodeAffinityMatches } from "./node-affinity.ts";
import { firstUntoleratedTaint } from "./taint-toleration.ts";

const NAME = "PodTopologySpread";
const HOSTNAME = "kubernetes.io/hostname";
const ZONE = "topology.kubernetes.io/zone";

interface Constraint {
  maxSkew: number;
  topologyKey: string;
  selector: LabelSelector | null;
  minDomains: number;
  honorAffinity: boolean;
  honorTaints: boolean;
}

function compile(pod: Pod, c: TopologySpreadConstraint): Constraint {
  let selector: LabelSelector | null = c.labelSelector ?? null;
  const labels = pod.metadata.labels ?? {};
  const extra: LabelSelectorRequirement[] = (c.matchLabelKeys ?? []).filter((k) => labels[k] !== undefined).map((key) => ({ key, operator: "In", values: [labels[key]!] }));
  if (selector && extra.length) selector = { ...selector, matchExpressions: [...(selector.matchExpressions ?? []), ...extra] };
  return {
    maxSkew: c.maxSkew,
    topologyKey: c.topologyKey,
    selector,
    minDomains: c.minDomains ?? 1,
    honorAffinity: (c.nodeAffinityPolicy ?? "Honor") === "Honor",
    honorTaints: c.nodeTaintsPolicy === "Honor",
  };
}

/** The pod's own constraints with one whenUnsatisfiable, or (for ScheduleAnyway, when it has none) the system defaults. */
function constraintsOf(pod: PodInfo, when: "DoNotSchedule" | "ScheduleAnyway", snapshot: Snapshot): { list: Constraint[]; systemDefaulted: boolean } {
  const own = pod.pod.spec?.topologySpreadConstraints ?? [];
  if (own.length) return { list: own.filter((c) => c.whenUnsatisfiable === when).map((c) => compile(pod.pod, c)), systemDefaulted: false };
  if (when === "DoNotSchedule") return { list: [], systemDefaulted: false };
  const selector = snapshot.workloadSelector?.(pod.pod);
  if (!selector) return { list: [], systemDefaulted: true };
  const dflt = (maxSkew: number, topologyKey: string): Constraint => ({ maxSkew, topologyKey, selector, minDomains: 1, honorAffinity: true, honorTaints: false });
  return { list: [dflt(3, HOSTNAME), dflt(5, ZONE)], systemDefaulted: true };
}

/** Pods on the node the constraint counts: in the pod's namespace, matched by the selector, not terminating. */
function countMatching(node: NodeInfo, c: Constraint, namespace: string): number {
  if (!c.selector) return 0;
  let n = 0;
  for (const p of node.pods.values()) {
    if (p.namespace === namespace && !p.pod.metadata.deletionTimestamp && selectorMatches(c.selector, p.labels)) n++;
  }
  return n;
}

/** Whether a node counts for the constraint's domains (its node affinity and taint policies). */
function nodeCounts(pod: PodInfo, c: Constraint, node: NodeInfo): boolean {
  if (c.honorAffinity && !requiredNodeAffinityMatches(pod.pod, node.node)) return false;
  if (c.honorTaints && firstUntoleratedTaint(node.node.spec?.taints ?? [], pod.pod.spec?.tolerations ?? [])) return false;
  return true;
}

const hasAllKeys = (node: NodeInfo, cs: Constraint[]) => cs.every((c) => node.labels[c.topologyKey] !== undefined);

export const podTopologySpread: FilterPlugin & ScorePlugin = {
  name: NAME,
  weight: 2,
  prepareFilter(pod, snapshot) {
    const { list } = constraintsOf(pod, "DoNotSchedule", snapshot);
    if (!list.length) return undefined;
    // Matching pods per constraint per domain, over the nodes that count.
    const counts = list.map(() => new Map<string, number>());
    for (const node of snapshot.nodes) {
      if (!hasAllKeys(node, list)) continue;
      list.forEach((c, i) => {
        if (!nodeCounts(pod, c, node)) return;
        const domain = node.labels[c.topologyKey]!;
        counts[i]!.set(domain, (counts[i]!.get(domain) ?? 0) + countMatching(node, c, pod.namespace));
      });
    }
    const minMatch = list.map((c, i) => {
      const m = counts[i]!;
      // Fewer domains than minDomains: the global minimum is taken as 0.
      if (m.size < c.minDomains) return 0;
      return m.size ? Math.min(...m.values()) : 0;
    });
    const selfMatch = list.map((c) => (selectorMatches(c.selector, pod.labels) ? 1 : 0));
    return (node) => {
      for (let i = 0; i < list.length; i++) {
        const c = list[i]!;
        const domain = node.labels[c.topologyKey];
        if (domain === undefined) return unresolvable(NAME, "node(s) didn't match pod topology spread constraints (missing required label)");
        const skew = (counts[i]!.get(domain) ?? 0) + selfMatch[i]! - minMatch[i]!;
        if (skew > c.maxSkew) return unschedulable(NAME, "node(s) didn't match pod topology spread constraints");
      }
      return undefined;
    };
  },
  prepareScore(pod, feasible, snapshot) {
    const { list, systemDefaulted } = constraintsOf(pod, "ScheduleAnyway", snapshot);
    if (!list.length) return undefined;
    const requireAll = !systemDefaulted;
    const ignored = new Set<NodeInfo>();
    const domains = list.map(() => new Set<string>());
    for (const node of feasible) {
      if (requireAll && !hasAllKeys(node, list)) {
        ignored.add(node);
        continue;
      }
      list.forEach((c, i) => {
        const v = node.labels[c.topologyKey];
        if (v !== undefined) domains[i]!.add(v);
      });
    }
    // log(domains + 2): spreading over many domains weighs each pod less.
    const weights = domains.map((d) => Math.log(d.size + 2));
    // Pods per domain, over every node that counts (hostnames are counted on the node itself).
    const counts = list.map(() => new Map<string, number>());
    for (const node of snapshot.nodes) {
      if (requireAll && !hasAllKeys(node, list)) continue;
      list.forEach((c, i) => {
        if (c.topologyKey === HOSTNAME) return;
        const v = node.labels[c.topologyKey];
        if (v === undefined || !domains[i]!.has(v) || !nodeCounts(pod, c, node)) return;
        counts[i]!.set(v, (counts[i]!.get(v) ?? 0) + countMatching(node, c, pod.namespace));
      });
    }
    return {
      score(node) {
        if (ignored.has(node)) return 0;
        let s = 0;
        list.forEach((c, i) => {
          const v = node.labels[c.topologyKey];
          if (v === undefined) return;
          const n = c.topologyKey === HOSTNAME ? countMatching(node, c, pod.namespace) : (counts[i]!.get(v) ?? 0);
          s += n * weights[i]! + (c.maxSkew - 1);
        });
        return Math.round(s);
      },
      normalize(scores, nodes) {
        let min = Number.MAX_SAFE_INTEGER;
        let max = 0;
        nodes.forEach((n, i) => {
          if (ignored.has(n)) return;
          min = Math.min(min, scores[i]!);
          max = Math.max(max, scores[i]!);
        });
        nodes.forEach((n, i) => {
          if (ignored.has(n)) scores[i] = 0;
          else if (max === 0) scores[i] = MAX_NODE_SCORE;
          else scores[i] = Math.trunc((MAX_NODE_SCORE * (max + min - scores[i]!)) / max);
        });
      },
    };
  },
};
