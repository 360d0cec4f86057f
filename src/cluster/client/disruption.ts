// A PodDisruptionBudget's status, computed from the pods it selects as Kubernetes' disruption
// controller does (pkg/controller/disruption/disruption.go): how many pods are expected, how
// many must stay healthy, how many are, and so how many may be disrupted now. Pure, so the
// disruption controller (which keeps it fresh) and the eviction subresource (which decides
// with it at eviction time) compute the same thing.
import type { KubeObject } from "./objects.ts";

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A pod in disruptedPods counts as unhealthy this long, or until it is gone (DeletionTimeout). */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

type R = Record<string, unknown>;

export interface DisruptionStatus {
  observedGeneration: number;
  disruptedPods?: Record<string, string>;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  conditions: R[];
}

export const isPodReady = (pod: KubeObject) =>
  (isPlainObject(pod.status) && Array.isArray(pod.status.conditions) ? (pod.status.conditions as R[]) : []).some((c) => c.type === "Ready" && c.status === "True");

/** An int or a percentage of total (rounded up, as GetScaledValueFromIntOrPercent with roundUp). */
function scaled(v: unknown, total: number): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.endsWith("%")) return Math.ceil((Number(v.slice(0, -1)) * total) / 100);
  return 0;
}

/**
 * The status of pdb given the pods it selects. expectedScale is the replicas their
 * controllers want (only used for percentages and maxUnavailable, as upstream).
 */
export function computeDisruptionStatus(pdb: KubeObject, pods: KubeObject[], expectedScale: number, now: number): DisruptionStatus {
  const spec = (isPlainObject(pdb.spec) ? pdb.spec : {}) as R;
  let expected = 0;
  let desired = 0;
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    expected = expectedScale;
    desired = Math.max(0, expected - scaled(spec.maxUnavailable, expected));
  } else if (typeof spec.minAvailable === "number") {
    desired = spec.minAvailable;
    expected = pods.length;
  } else if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
    expected = expectedScale;
    desired = scaled(spec.minAvailable, expected);
  }
  // Pods an eviction let go stay counted as disrupted until they are gone, or for 2 minutes.
  const old = (isPlainObject(pdb.status) && isPlainObject(pdb.status.disruptedPods) ? pdb.status.disruptedPods : {}) as Record<string, string>;
  const disrupted: Record<string, string> = {};
  for (const pod of pods) {
    const at = old[pod.metadata.name!];
    if (at && !pod.metadata.deletionTimestamp && Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS > now) disrupted[pod.metadata.name!] = at;
  }
  const healthy = pods.filter((p) => !p.metadata.deletionTimestamp && !disrupted[p.metadata.name!] && isPodReady(p)).length;
  // Upstream requires expected > 0, so a budget that has matched no pod yet is safe.
  const allowed = expected > 0 ? Math.max(0, healthy - desired) : 0;
  return {
    observedGeneration: pdb.metadata.generation ?? 1,
    ...(Object.keys(disrupted).length ? { disruptedPods: disrupted } : {}),
    disruptionsAllowed: allowed,
    currentHealthy: healthy,
    desiredHealthy: desired,
    expectedPods: expected,
    conditions: [disruptionCondition(pdb, allowed > 0, now)],
  };
}

/** The DisruptionAllowed condition, keeping its transition time while its status holds. */
function disruptionCondition(pdb: KubeObject, allowed: boolean, now: number): R {
  const status = allowed ? "True" : "False";
  const prev = (isPlainObject(pdb.status) && Array.isArray(pdb.status.conditions) ? (pdb.status.conditions as R[]) : []).find((c) => c.type === "DisruptionAllowed");
  const time = prev?.status === status ? prev.lastTransitionTime : new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    type: "DisruptionAllowed",
    status,
    reason: allowed ? "SufficientPods" : "InsufficientPods",
    message: "",
    observedGeneration: pdb.metadata.generation ?? 1,
    lastTransitionTime: time,
  };
}
