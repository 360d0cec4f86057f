// Taints and tolerations as the node lifecycle controller reads them
// (k8s.io/api/core/v1 toleration.go, pkg/util/taints): whether a toleration matches a taint,
// and how long a pod may stay on a node with NoExecute taints.

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number | null;
}

export const TAINT_UNREACHABLE = "node.kubernetes.io/unreachable";
export const TAINT_NOT_READY = "node.kubernetes.io/not-ready";

/** Toleration.ToleratesTaint: empty effect matches every effect, empty key with Exists every key. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === "Exists") return true;
  if (!t.key) return false;
  return (t.value ?? "") === (taint.value ?? "");
}

/**
 * How long (ms) a pod may stay on a node with these NoExecute taints (getMinTolerationTime):
 * 0 when some taint is not tolerated at all, Infinity when every one is tolerated without a
 * limit, else the smallest tolerationSeconds among the matching tolerations (negative = 0).
 */
export function noExecuteStay(tolerations: Toleration[], taints: Taint[]): number {
  const noExecute = taints.filter((t) => t.effect === "NoExecute");
  let stay = Infinity;
  for (const taint of noExecute) {
    const matching = tolerations.filter((t) => tolerates(t, taint));
    if (matching.length === 0) return 0;
    for (const t of matching) {
      if (typeof t.tolerationSeconds === "number") stay = Math.min(stay, Math.max(0, t.tolerationSeconds) * 1000);
    }
  }
  return stay;
}
