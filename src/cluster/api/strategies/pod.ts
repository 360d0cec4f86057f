// Pod: defaulting of the pod spec, status Pending until a node reports, and the columns of
// kubectl get pods. Binding and eviction are subresources (pod-binding.ts, pod-eviction.ts).
import { ageColumn, arr, nameColumn, none, num, spec, status } from "../columns.ts";
import type { KubeObject } from "../objects.ts";
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

export const podStrategy: Strategy = {
  defaults(o) {
    defaultPodSpec(obj(o, "spec"));
    const st = obj(o, "status");
    dflt(st, "phase", "Pending");
    dflt(st, "qosClass", "BestEffort");
  },
  validate(c, o) {
    validatePodSpec(c, "spec", o.spec);
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
