// A pod's QoS class (v1.qos GetPodQOS), one definition for the API server (status.qosClass at
// create), the node agent (the pod's cgroup tier) and quota scopes (BestEffort). Pure.
import { quantityMilliValue } from "../../common/quantity.ts";

export type QosClass = "Guaranteed" | "Burstable" | "BestEffort";

interface ResourceHolder {
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}

/**
 * Guaranteed when every container (init containers too) has cpu and memory limits equal to its
 * requests, BestEffort when none asks for a non-zero cpu or memory, Burstable otherwise. A limit
 * without a request counts as requesting the limit, as the API's defaulting makes it.
 */
export function podQosClass(spec: { containers?: readonly unknown[]; initContainers?: readonly unknown[] }): QosClass {
  let any = false;
  let guaranteed = true;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as ResourceHolder[]) {
    const req = c?.resources?.requests ?? {};
    const lim = c?.resources?.limits ?? {};
    for (const name of ["cpu", "memory"]) {
      const r = req[name] ?? lim[name];
      const l = lim[name];
      if ((r !== undefined && quantityMilliValue(r) !== 0) || (l !== undefined && quantityMilliValue(l) !== 0)) any = true;
      if (l === undefined || r === undefined || quantityMilliValue(l) !== quantityMilliValue(r)) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}
