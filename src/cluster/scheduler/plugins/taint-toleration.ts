// TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do not
// tolerate them; PreferNoSchedule taints only lower the node's score, by how many of them
// the pod does not tolerate (weight 3 in the default profile).
import type { Taint, Toleration } from "../_types.ts";
import { defaultNormalizeScore, unresolvable, type FilterPlugin, type ScorePlugin } from "../framework.ts";

const NAME = "TaintToleration";

/** v1.Toleration.ToleratesTaint: an empty effect or key matches any; Exists ignores the value. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.operator || t.operator === "Equal") return (t.value ?? "") === (taint.value ?? "");
  return t.operator === "Exists";
}

export const isTolerated = (tolerations: readonly Toleration[], taint: Taint) => tolerations.some((t) => toleratesTaint(t, taint));

/** The first NoSchedule or NoExecute taint the tolerations leave, if any. */
export function firstUntoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  return taints.find((taint) => (taint.effect === "NoSchedule" || taint.effect === "NoExecute") && !isTolerated(tolerations, taint));
}

export const taintToleration: FilterPlugin & ScorePlugin = {
  name: NAME,
  weight: 3,
  prepareFilter(pod) {
    const tolerations = pod.pod.spec?.tolerations ?? [];
    return (node) => {
      const taint = firstUntoleratedTaint(node.node.spec?.taints ?? [], tolerations);
      return taint ? unresolvable(NAME, `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ""}}`) : undefined;
    };
  },
  prepareScore(pod) {
    // Only tolerations that could apply to PreferNoSchedule count.
    const tolerations = (pod.pod.spec?.tolerations ?? []).filter((t) => !t.effect || t.effect === "PreferNoSchedule");
    return {
      score: (node) => (node.node.spec?.taints ?? []).filter((t) => t.effect === "PreferNoSchedule" && !isTolerated(tolerations, t)).length,
      normalize: (scores) => defaultNormalizeScore(scores, true),
    };
  },
};
