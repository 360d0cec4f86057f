// Pod: defaulting of the pod spec, status Pending until a node reports, and the columns of
// kubectl get pods. Binding and eviction are subresources (pod-binding.ts, pod-eviction.ts).
import { ageColumn, arr, nameColumn, none, num, spec, status } from "../columns.ts";
import { clone, deepEqual, isPlainObject, type KubeObject } from "../objects.ts";
import { specOf, type Causes } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultPodSpec, validatePodSpec } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

function podStatusReason(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return "Terminating";
  const st = status(o);
  for (const cs of arr(st.containerStatuses)) {
    const state = (cs.state ?? {}) as Record<string, unknown>;
    const waiting = state.waiting as Record<string, unknown> | undefined;
    if (waiting?.reason) return String(waiting.reason);
    const term = state.terminated as Record<string, unknown> | undefined;
    if (term?.reason) return String(term.reason);
  }
  return String(st.reason ?? st.phase ?? "Pending");
}

/** kube-apiserver's ValidatePodUpdate message (without its spec diff; the changed fields are named instead). */
const UPDATABLE =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/**
 * A pod's spec is fixed once created but for images, the deadline, added tolerations and the
 * grace period; it is bound to a node through pods/binding, not by an update.
 */
function validateSpecUpdate(c: Causes, next: KubeObject, old: KubeObject) {
  const before = specOf(old);
  const munged = clone(specOf(next));
  for (const list of ["containers", "initContainers"]) {
    const was = Array.isArray(before[list]) ? (before[list] as unknown[]) : [];
    const now = Array.isArray(munged[list]) ? (munged[list] as unknown[]) : [];
    if (was.length !== now.length) continue;
    now.forEach((ct, i) => {
      const prev = was[i];
      if (isPlainObject(ct) && isPlainObject(prev)) ct.image = prev.image;
    });
  }
  for (const f of ["activeDeadlineSeconds", "terminationGracePeriodSeconds", "tolerations"]) {
    if (before[f] === undefined) delete munged[f];
    else munged[f] = before[f];
  }
  if (deepEqual(munged, before)) return;
  const changed = [...new Set([...Object.keys(munged), ...Object.keys(before)])].filter((k) => !deepEqual(munged[k], before[k]));
  c.forbidden("spec", `${UPDATABLE}\n(changed: ${changed.map((k) => `spec.${k}`).join(", ")})`);
}

export const podStrategy: Strategy = {
  defaults(o) {
    defaultPodSpec(obj(o, "spec"));
    const st = obj(o, "status");
    dflt(st, "phase", "Pending");
    dflt(st, "qosClass", "BestEffort");
  },
  validate(c, o, old, subresource) {
    validatePodSpec(c, "spec", o.spec);
    if (old && subresource !== "binding") validateSpecUpdate(c, o, old);
  },
  columns: [
    nameColumn,
    { name: "Ready", type: "string", cell: (o) => `${arr(status(o).containerStatuses).filter((c) => c.ready).length}/${arr(spec(o).containers).length}` },
    { name: "Status", type: "string", cell: podStatusReason },
    { name: "Restarts", type: "string", cell: (o) => String(arr(status(o).containerStatuses).reduce((n, c) => n + num(c.restartCount), 0)) },
    ageColumn,
    { name: "IP", type: "string", priority: 1, cell: (o) => none(status(o).podIP) },
    { name: "Node", type: "string", priority: 1, cell: (o) => none(spec(o).nodeName) },
    { name: "Nominated Node", type: "string", priority: 1, cell: (o) => none(status(o).nominatedNodeName) },
    { name: "Readiness Gates", type: "string", priority: 1, cell: (o) => (arr(spec(o).readinessGates).length ? `0/${arr(spec(o).readinessGates).length}` : "<none>") },
  ],
};
