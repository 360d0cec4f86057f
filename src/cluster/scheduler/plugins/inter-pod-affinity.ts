// InterPodAffinity: pods placed by the pods already running, per topology domain (the
// nodes sharing a value of the term's topologyKey: one node for kubernetes.io/hostname, a
// zone for topology.kubernetes.io/zone).
// - Filter: the pod's required affinity terms each need a matching pod in the node's domain
//   (except the first pod of a group that matches its own terms); its required anti-affinity
//   terms forbid domains holding a matching pod; and a running pod's required anti-affinity
//   term that matches the incoming pod forbids that pod's domain.
// - Score: preferred terms, both ways (the pod's terms over running pods, running pods'
//   terms over the pod), add or subtract their weights per domain; running pods' required
//   affinity terms count with weight 1 (hardPodAffinityWeight). Weight 2 in the profile.
import type { LabelSelector, LabelSelectorRequirement, Labels, PodAffinityTerm, WeightedPodAffinityTerm } from "../_types.ts";
import { selectorMatches } from "../selectors.ts";
import { MAX_NODE_SCORE, unresolvable, unschedulable, type FilterPlugin, type ScorePlugin } from "../framework.ts";
import type { NodeInfo, PodInfo } from "../node-info.ts";

const NAME = "InterPodAffinity";
const HARD_POD_AFFINITY_WEIGHT = 1;

interface Term {
  topologyKey: string;
  selector: LabelSelector | null;
  namespaces: Set<string>;
  namespaceSelector: LabelSelector | null;
  weight: number;
}

interface CompiledTerms {
  requiredAffinity: Term[];
  requiredAntiAffinity: Term[];
  preferredAffinity: Term[];
  preferredAntiAffinity: Term[];
}

/** A term as the framework's AffinityTerm: matchLabelKeys/mismatchLabelKeys folded into the selector, the namespaces settled. */
function compileTerm(owner: PodInfo, t: PodAffinityTerm, weight: number): Term {
  let selector: LabelSelector | null = t.labelSelector ?? null;
  const extra: LabelSelectorRequirement[] = [];
  for (const key of t.matchLabelKeys ?? []) if (owner.labels[key] !== undefined) extra.push({ key, operator: "In", values: [owner.labels[key]!] });
  for (const key of t.mismatchLabelKeys ?? []) if (owner.labels[key] !== undefined) extra.push({ key, operator: "NotIn", values: [owner.labels[key]!] });
  if (selector && extra.length) selector = { ...selector, matchExpressions: [...(selector.matchExpressions ?? []), ...extra] };
  const namespaces = new Set(t.namespaces ?? []);
  // Neither namespaces nor a namespaceSelector: the term is about the owner's own namespace.
  if (namespaces.size === 0 && !t.namespaceSelector) namespaces.add(owner.namespace);
  return { topologyKey: t.topologyKey, selector, namespaces, namespaceSelector: t.namespaceSelector ?? null, weight };
}

const compiled = new WeakMap<PodInfo, CompiledTerms>();

function termsOf(p: PodInfo): CompiledTerms {
  let c = compiled.get(p);
  if (!c) {
    const weighted = (ts: readonly WeightedPodAffinityTerm[]) => ts.filter((w) => w.weight !== 0).map((w) => compileTerm(p, w.podAffinityTerm, w.weight));
    c = {
      requiredAffinity: p.requiredAffinity.map((t) => compileTerm(p, t, 1)),
      requiredAntiAffinity: p.requiredAntiAffinity.map((t) => compileTerm(p, t, 1)),
      preferredAffinity: weighted(p.preferredAffinity),
      preferredAntiAffinity: weighted(p.preferredAntiAffinity),
    };
    compiled.set(p, c);
  }
  return c;
}

type NamespaceLabels = (namespace: string) => Labels | undefined;

function termMatches(term: Term, pod: PodInfo, nsLabels: NamespaceLabels): boolean {
  const inNamespace = term.namespaces.has(pod.namespace) || (term.namespaceSelector !== null && selectorMatches(term.namespaceSelector, nsLabels(pod.namespace) ?? {}));
  return inNamespace && selectorMatches(term.selector, pod.labels);
}

/** Counts per topology pair ("key\0value"). */
class TopologyCounts extends Map<string, number> {
  add(node: NodeInfo, key: string, by: number): void {
    const value = node.labels[key];
    if (value === undefined) return;
    const pair = `${key}\0${value}`;
    this.set(pair, (this.get(pair) ?? 0) + by);
  }
  at(node: NodeInfo, key: string): number {
    const value = node.labels[key];
    return value === undefined ? 0 : (this.get(`${key}\0${value}`) ?? 0);
  }
}

export const interPodAffinity: FilterPlugin & ScorePlugin = {
  name: NAME,
  weight: 2,
  prepareFilter(pod, snapshot) {
    const nsLabels: NamespaceLabels = snapshot.namespaceLabels?.bind(snapshot) ?? (() => undefined);
    const own = termsOf(pod);
    // Running pods whose required anti-affinity keeps this pod out of their domain.
    const existingAnti = new TopologyCounts();
    for (const node of snapshot.nodesWithAffinityPods ?? snapshot.nodes) {
      for (const p of node.podsWithRequiredAntiAffinity) {
        for (const t of termsOf(p).requiredAntiAffinity) if (termMatches(t, pod, nsLabels)) existingAnti.add(node, t.topologyKey, 1);
      }
    }
    const affinity = new TopologyCounts();
    const anti = new TopologyCounts();
    if (own.requiredAffinity.length || own.requiredAntiAffinity.length) {
      for (const node of snapshot.nodes) {
        for (const p of node.pods.values()) {
          if (own.requiredAffinity.length && own.requiredAffinity.every((t) => termMatches(t, p, nsLabels))) {
            for (const t of own.requiredAffinity) affinity.add(node, t.topologyKey, 1);
          }
          for (const t of own.requiredAntiAffinity) if (termMatches(t, p, nsLabels)) anti.add(node, t.topologyKey, 1);
        }
      }
    }
    if (!own.requiredAffinity.length && !own.requiredAntiAffinity.length && existingAnti.size === 0) return undefined;
    // The first pod of a group with affinity to itself may go anywhere its topology keys exist.
    const firstOfGroup = affinity.size === 0 && own.requiredAffinity.every((t) => termMatches(t, pod, nsLabels));
    return (node) => {
      let podsExist = true;
      for (const t of own.requiredAffinity) {
        if (node.labels[t.topologyKey] === undefined) return unresolvable(NAME, "node(s) didn't match pod affinity rules");
        if (affinity.at(node, t.topologyKey) <= 0) podsExist = false;
      }
      if (!podsExist && !firstOfGroup) return unresolvable(NAME, "node(s) didn't match pod affinity rules");
      for (const t of own.requiredAntiAffinity) if (anti.at(node, t.topologyKey) > 0) return unschedulable(NAME, "node(s) didn't match pod anti-affinity rules");
      if (existingAnti.size) {
        for (const [k, v] of Object.entries(node.labels)) if ((existingAnti.get(`${k}\0${v}`) ?? 0) > 0) return unschedulable(NAME, "node(s) didn't satisfy existing pods anti-affinity rules");
      }
      return undefined;
    };
  },
  prepareScore(pod, _feasible, snapshot) {
    const nsLabels: NamespaceLabels = snapshot.namespaceLabels?.bind(snapshot) ?? (() => undefined);
    const own = termsOf(pod);
    const hasPreferred = own.preferredAffinity.length + own.preferredAntiAffinity.length > 0;
    const score = new Map<string, Map<string, number>>();
    const add = (node: NodeInfo, key: string, by: number) => {
      const value = node.labels[key];
      if (value === undefined || by === 0) return;
      let m = score.get(key);
      if (!m) score.set(key, (m = new Map()));
      m.set(value, (m.get(value) ?? 0) + by);
    };
    // Without preferred terms of its own, only running pods with terms can score the pod.
    const nodes = hasPreferred ? snapshot.nodes : (snapshot.nodesWithAffinityPods ?? snapshot.nodes);
    for (const node of nodes) {
      if (!Object.keys(node.labels).length) continue;
      const pods = hasPreferred ? node.pods.values() : node.podsWithAffinity.values();
      for (const p of pods) {
        for (const t of own.preferredAffinity) if (termMatches(t, p, nsLabels)) add(node, t.topologyKey, t.weight);
        for (const t of own.preferredAntiAffinity) if (termMatches(t, p, nsLabels)) add(node, t.topologyKey, -t.weight);
        const theirs = termsOf(p);
        for (const t of theirs.requiredAffinity) if (termMatches(t, pod, nsLabels)) add(node, t.topologyKey, HARD_POD_AFFINITY_WEIGHT);
        for (const t of theirs.preferredAffinity) if (termMatches(t, pod, nsLabels)) add(node, t.topologyKey, t.weight);
        for (const t of theirs.preferredAntiAffinity) if (termMatches(t, pod, nsLabels)) add(node, t.topologyKey, -t.weight);
      }
    }
    if (score.size === 0) return undefined;
    return {
      score(node) {
        let s = 0;
        for (const [key, values] of score) {
          const v = node.labels[key];
          if (v !== undefined) s += values.get(v) ?? 0;
        }
        return s;
      },
      normalize(scores) {
        const min = Math.min(...scores);
        const max = Math.max(...scores);
        for (let i = 0; i < scores.length; i++) scores[i] = max - min > 0 ? Math.trunc((MAX_NODE_SCORE * (scores[i]! - min)) / (max - min)) : 0;
      },
    };
  },
};
