// Pod: defaulting of the pod spec, status Pending until a node reports, and the columns of
// kubectl get pods. Binding and eviction are subresources (pod-binding.ts, pod-eviction.ts).
import { ageColumn, arr, nameColumn, none, num, spec, status } from "../columns.ts";
import { clone, deepEqual, isPlainObject, type KubeObject } from "../objects.ts";
import { specOf, type Causes } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultPodSpec, validatePodSpec } from "./_pod-template.ts";
import { errForbidden } from "../status.ts";
import type { AdmissionLookup, Strategy } from "./types.ts";
import { addDefaultTolerations } from "./_default-tolerations.ts";
import { admitServiceAccount } from "./_service-account-admission.ts";
import { podQosClass } from "../../client/index.ts";

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
    defaultRequestsToLimits(obj(o, "spec"));
    const st = obj(o, "status");
    dflt(st, "phase", "Pending");
    // PrepareForCreate: the class follows from the (defaulted, immutable) spec.
    dflt(st, "qosClass", podQosClass(obj(o, "spec")));
  },
  async admit(o, lookup, old) {
    await admitPodPriority(o, lookup, old);
    if (!old) {
      addDefaultTolerations(o);
      await admitServiceAccount(o, lookup);
    }
  },
  // pod strategy CheckGracefulDelete: a pod no node runs, or one that has finished, goes at
  // once; otherwise the request's grace period, else the spec's (default 30 s).
  deletionGracePeriod(o, requested) {
    const phase = status(o).phase;
    if (!spec(o).nodeName || phase === "Succeeded" || phase === "Failed") return 0;
    if (requested !== undefined) return Math.max(0, requested);
    const fromSpec = spec(o).terminationGracePeriodSeconds;
    return typeof fromSpec === "number" && fromSpec >= 0 ? fromSpec : 30;
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

/**
 * The Priority admission plugin (plugin/pkg/admission/priority): a new pod's
 * priorityClassName is resolved into spec.priority and spec.preemptionPolicy — the global
 * default class (the lowest-valued if several) when it names none, priority 0 and
 * PreemptLowerPriority when there is none. A class that does not exist, or a priority or
 * policy given that differs from the class's, is refused with 403.
 */
export async function admitPodPriority(o: KubeObject, lookup: AdmissionLookup, old: KubeObject | undefined): Promise<void> {
  if (old) return;
  const s = obj(o, "spec");
  const forbidden = (why: string) => errForbidden(`pods "${o.metadata.name ?? ""}" is forbidden: ${why}`, { name: o.metadata.name, kind: "pods" });
  let priority = 0;
  let policy: unknown = "PreemptLowerPriority";
  if (typeof s.priorityClassName === "string" && s.priorityClassName) {
    const pc = await lookup.get("scheduling.k8s.io", "priorityclasses", undefined, s.priorityClassName);
    if (!pc) throw forbidden(`no PriorityClass with name ${s.priorityClassName} was found`);
    priority = typeof pc.value === "number" ? pc.value : 0;
    policy = pc.preemptionPolicy ?? policy;
  } else {
    const defaults = (await lookup.list("scheduling.k8s.io", "priorityclasses")).filter((pc) => pc.globalDefault === true);
    const pc = defaults.sort((a, b) => Number(a.value) - Number(b.value))[0];
    if (pc) {
      s.priorityClassName = pc.metadata.name;
      priority = Number(pc.value);
      policy = pc.preemptionPolicy ?? policy;
    }
  }
  if (s.priority !== undefined && s.priority !== null && s.priority !== priority) {
    throw forbidden(`the integer value of priority (${String(s.priority)}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`);
  }
  if (s.preemptionPolicy !== undefined && s.preemptionPolicy !== null && s.preemptionPolicy !== policy) {
    throw forbidden(`the string value of PreemptionPolicy (${String(s.preemptionPolicy)}) must not be provided in pod spec; priority admission controller computed ${String(policy)} from the given PriorityClass name`);
  }
  s.priority = priority;
  s.preemptionPolicy = policy;
}

/**
 * SetDefaults_Pod: a container that states a limit but no request for a resource requests
 * its limit (so quota, the LimitRanger and the scheduler all see the request).
 */
function defaultRequestsToLimits(spec: Record<string, unknown>): void {
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isPlainObject(c) || !isPlainObject(c.resources) || !isPlainObject(c.resources.limits)) continue;
      const res = c.resources;
      const requests = isPlainObject(res.requests) ? res.requests : {};
      for (const [k, v] of Object.entries(res.limits as Record<string, unknown>)) if (requests[k] === undefined) requests[k] = v;
      if (Object.keys(requests).length) res.requests = requests;
    }
  }
}
