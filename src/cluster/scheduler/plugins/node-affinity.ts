// NodeAffinity: spec.nodeSelector and the required node affinity terms choose the nodes a
// pod may use (terms ORed, expressions within a term ANDed, matchFields on metadata.name);
// the preferred terms add their weights to the nodes they match (weight 2 in the default
// profile).
import { nodeSelectorTermMatches, nodeSelectorTermsMatch } from "../selectors.ts";
import type { Node, Pod } from "../_types.ts";
import { defaultNormalizeScore, unresolvable, type FilterPlugin, type ScorePlugin } from "../framework.ts";

const NAME = "NodeAffinity";

/** Whether the pod's nodeSelector and required node affinity allow the node. */
export function requiredNodeAffinityMatches(pod: Pod, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  return !required?.nodeSelectorTerms || nodeSelectorTermsMatch(required.nodeSelectorTerms, node);
}

export const nodeAffinity: FilterPlugin & ScorePlugin = {
  name: NAME,
  weight: 2,
  prepareFilter(pod) {
    const spec = pod.pod.spec;
    if (!Object.keys(spec?.nodeSelector ?? {}).length && !spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution) return undefined;
    return (node) => (requiredNodeAffinityMatches(pod.pod, node.node) ? undefined : unresolvable(NAME, "node(s) didn't match Pod's node affinity/selector"));
  },
  prepareScore(pod) {
    const preferred = pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (!preferred.length) return undefined;
    return {
      score: (node) => preferred.reduce((sum, p) => (p.weight !== 0 && nodeSelectorTermMatches(p.preference, node.node) ? sum + p.weight : sum), 0),
      normalize: (scores) => defaultNormalizeScore(scores, false),
    };
  },
};
