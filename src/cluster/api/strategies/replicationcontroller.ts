// ReplicationController (core v1): the ReplicaSet's ancestor, whose selector is a plain label
// map. Defaulted as SetDefaults_ReplicationController: the selector and the object's labels
// come from the template's labels when absent, one replica.
import { isPlainObject } from "../objects.ts";
import { POD_TEMPLATE_CONTAINERS, selectorText, spec, workloadWide } from "../columns.ts";
import { specOf, type Causes } from "../validation.ts";
import { dflt, obj, type Obj } from "./_fields.ts";
import { defaultTemplate, templateSpec, validatePodSpec, validateReplicas } from "./_pod-template.ts";
import { replicaColumns } from "./replicaset.ts";
import type { Strategy } from "./types.ts";

const labelMap = (v: unknown): Record<string, string> => (isPlainObject(v) ? (v as Record<string, string>) : {});

/** An RC's map selector as a LabelSelector, the shape everything else reads. */
export const rcSelector = (spec: Obj): { matchLabels: Record<string, string> } => ({ matchLabels: { ...labelMap(spec.selector) } });

function validateRcSpec(c: Causes, s: Obj) {
  validateReplicas(c, s);
  const mrs = s.minReadySeconds;
  if (mrs !== undefined && (typeof mrs !== "number" || !Number.isInteger(mrs) || mrs < 0)) c.invalid("spec.minReadySeconds", mrs, "must be greater than or equal to 0");
  const selector = labelMap(s.selector);
  if (Object.keys(selector).length === 0) c.required("spec.selector");
  const tmpl = isPlainObject(s.template) ? s.template : undefined;
  if (!tmpl) return c.required("spec.template");
  const labels = labelMap(isPlainObject(tmpl.metadata) ? tmpl.metadata.labels : undefined);
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v)) c.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`");
  validatePodSpec(c, "spec.template.spec", templateSpec(s), ["Always"]);
}

export const replicationControllerStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    const labels = isPlainObject(s.template) && isPlainObject(s.template.metadata) && isPlainObject(s.template.metadata.labels) ? labelMap(s.template.metadata.labels) : undefined;
    if (labels) {
      if (Object.keys(labelMap(s.selector)).length === 0) s.selector = { ...labels };
      if (Object.keys(labelMap(o.metadata.labels)).length === 0) o.metadata.labels = { ...labels };
    }
    dflt(s, "replicas", 1);
    if (isPlainObject(s.template)) defaultTemplate(s);
  },
  validate(c, o) {
    validateRcSpec(c, specOf(o));
  },
  // The Selector column prints the label map.
  columns: replicaColumns(workloadWide(POD_TEMPLATE_CONTAINERS).map((col) => (col.name === "Selector" ? { ...col, cell: (o) => selectorText(rcSelector(spec(o))) } : col))),
};
