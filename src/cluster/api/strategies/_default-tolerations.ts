// The DefaultTolerationSeconds admission plugin (plugin/pkg/admission/defaulttolerationseconds):
// a new pod that does not already tolerate the node lifecycle controller's NoExecute taints
// gets tolerations for node.kubernetes.io/not-ready and node.kubernetes.io/unreachable with
// tolerationSeconds 300 (kube-apiserver's --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds), so its pods leave a dead node after 5 minutes.
import type { KubeObject } from "../objects.ts";

export const DEFAULT_TOLERATION_SECONDS = 300;

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** Whether t tolerates a NoExecute taint with this key and no value (v1.Toleration.ToleratesTaint). */
function toleratesNoExecute(t: Toleration, key: string): boolean {
  if (t.effect && t.effect !== "NoExecute") return false;
  if (t.key && t.key !== key) return false;
  if (t.operator === "Exists") return true;
  return Boolean(t.key) && !t.value;
}

export function addDefaultTolerations(pod: KubeObject, seconds = DEFAULT_TOLERATION_SECONDS): void {
  const spec = (pod.spec ?? (pod.spec = {})) as { tolerations?: Toleration[] | null };
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const added: Toleration[] = [];
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    if (!tolerations.some((t) => toleratesNoExecute(t, key))) added.push({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: seconds });
  }
  if (added.length) spec.tolerations = [...tolerations, ...added];
}
