// PriorityClass (scheduling.k8s.io/v1): a name for a pod priority. Values above one billion
// are kept for the two built-in classes the server creates (system-cluster-critical,
// system-node-critical), as are names starting "system-"; value and preemptionPolicy are
// fixed once created; one class at most is the global default (checked at admission, which
// sees the other classes). Pods get the value at admission (pod.ts: admitPriority).
import { ageColumn, nameColumn } from "../columns.ts";
import type { KubeObject } from "../objects.ts";
import { errForbidden } from "../status.ts";
import type { Causes } from "../validation.ts";
import type { AdmissionLookup, Strategy } from "./types.ts";

/** HighestUserDefinablePriority: user classes go up to one billion; above is for the system's. */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;

/** The classes kube-apiserver creates at start (pkg/apis/scheduling SystemPriorityClasses). */
export const SYSTEM_PRIORITY_CLASSES = [
  { name: "system-node-critical", value: 2_000_001_000, description: "Used for system critical pods that must not be moved from their current node." },
  { name: "system-cluster-critical", value: 2_000_000_000, description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary." },
];

const POLICIES = ["PreemptLowerPriority", "Never"];

function validate(c: Causes, o: KubeObject, old: KubeObject | undefined) {
  const name = o.metadata.name ?? "";
  const value = o.value;
  if (typeof value !== "number" || !Number.isInteger(value)) c.required("value");
  const system = SYSTEM_PRIORITY_CLASSES.find((s) => s.name === name);
  if (name.startsWith("system-")) {
    if (!system) c.invalid("metadata.name", name, "priority class names with 'system-' prefix are reserved");
    else if (value !== system.value) c.forbidden("value", `value of ${name} must be ${system.value}`);
  } else if (typeof value === "number" && value > HIGHEST_USER_DEFINABLE_PRIORITY) {
    c.forbidden("value", `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}`);
  }
  if (o.preemptionPolicy !== undefined && !POLICIES.includes(String(o.preemptionPolicy))) c.unsupported("preemptionPolicy", o.preemptionPolicy, POLICIES);
  if (old) {
    if (old.value !== value) c.forbidden("value", "may not be changed in an update.");
    if (old.preemptionPolicy !== o.preemptionPolicy) c.immutable("preemptionPolicy", o.preemptionPolicy);
  }
}

/** Only one class may be the global default (the priority admission plugin's check on classes). */
async function admitClass(o: KubeObject, lookup: AdmissionLookup, old: KubeObject | undefined): Promise<void> {
  if (o.globalDefault !== true || old?.globalDefault === true) return;
  for (const other of await lookup.list("scheduling.k8s.io", "priorityclasses")) {
    if (other.globalDefault === true && other.metadata.name !== o.metadata.name) {
      throw errForbidden(`priorityclasses.scheduling.k8s.io "${o.metadata.name}" is forbidden: PriorityClass ${other.metadata.name} is already marked as default. Only one default can exist`, { name: o.metadata.name, group: "scheduling.k8s.io", kind: "priorityclasses" });
    }
  }
}

export const priorityClassStrategy: Strategy = {
  defaults(o) {
    if (o.preemptionPolicy === undefined || o.preemptionPolicy === null) o.preemptionPolicy = "PreemptLowerPriority";
    if (o.globalDefault === null) delete o.globalDefault;
  },
  validate,
  admit: admitClass,
  columns: [
    nameColumn,
    { name: "Value", type: "integer", cell: (o) => o.value ?? 0 },
    { name: "Global-Default", type: "boolean", cell: (o) => o.globalDefault === true },
    ageColumn,
    { name: "PreemptionPolicy", type: "string", cell: (o) => o.preemptionPolicy ?? "" },
  ],
};
