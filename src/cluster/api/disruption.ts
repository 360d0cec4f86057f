// Which pods a PodDisruptionBudget selects (the API's label selectors); the budget's status is
// computed by the client layer's pure disruptionStatus module, shared with the disruption
// controller, and re-exported here for the eviction subresource (pod-eviction.ts).
import { isPlainObject, type KubeObject } from "./objects.ts";
import { fromLabelSelectorObject, matchLabels } from "./selectors.ts";

export { computeDisruptionStatus, DISRUPTED_POD_TIMEOUT_MS, isPodReadyForDisruption as isPodReady, type DisruptionStatus } from "../client/index.ts";

/**
 * Whether a PDB selects a pod. In policy/v1 an empty selector selects every pod of the
 * namespace and a missing one none.
 */
export function pdbSelects(pdb: KubeObject, pod: KubeObject): boolean {
  const sel = isPlainObject(pdb.spec) ? pdb.spec.selector : undefined;
  if (!isPlainObject(sel)) return false;
  return matchLabels(fromLabelSelectorObject(sel as Parameters<typeof fromLabelSelectorObject>[0]), pod.metadata.labels);
}

