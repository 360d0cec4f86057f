// Defaulting and validation of pod specs, shared by Pods and every kind with a pod template
// (SetDefaults_PodSpec / ValidatePodSpec and the workloads' selector checks, cut down).
import { isPlainObject } from "../objects.ts";
import { DNS1123_LABEL, type Causes } from "../validation.ts";
import { dflt, obj, type Obj } from "./_fields.ts";

function defaultContainer(c: Obj) {
  const image = typeof c.image === "string" ? c.image : "";
  const tagged = /:[^/]+$/.test(image.replace(/@.*$/, "")) || image.includes("@");
  dflt(c, "imagePullPolicy", !tagged || image.endsWith(":latest") ? "Always" : "IfNotPresent");
  dflt(c, "terminationMessagePath", "/dev/termination-log");
  dflt(c, "terminationMessagePolicy", "File");
  if (!isPlainObject(c.resources)) c.resources = {};
  for (const p of Array.isArray(c.ports) ? c.ports : []) if (isPlainObject(p)) dflt(p, "protocol", "TCP");
}

export function defaultPodSpec(spec: Obj) {
  dflt(spec, "restartPolicy", "Always");
  dflt(spec, "dnsPolicy", "ClusterFirst");
  dflt(spec, "schedulerName", "default-scheduler");
  dflt(spec, "terminationGracePeriodSeconds", 30);
  dflt(spec, "securityContext", {});
  for (const list of ["containers", "initContainers"]) {
    for (const c of Array.isArray(spec[list]) ? (spec[list] as unknown[]) : []) if (isPlainObject(c)) defaultContainer(c);
  }
}

/** Defaults spec.template (metadata and pod spec) of a workload spec. */
export function defaultTemplate(spec: Obj) {
  const template = obj(spec, "template");
  obj(template, "metadata");
  defaultPodSpec(obj(template, "spec"));
}

function validateContainers(c: Causes, field: string, list: unknown, required: boolean) {
  if (!Array.isArray(list) || list.length === 0) {
    if (required) c.required(field);
    return;
  }
  const names = new Set<string>();
  list.forEach((ct, i) => {
    const f = `${field}[${i}]`;
    if (!isPlainObject(ct)) return c.invalid(f, ct, "must be an object");
    if (typeof ct.name !== "string" || !ct.name) c.required(`${f}.name`);
    else {
      if (!DNS1123_LABEL.test(ct.name)) c.invalid(`${f}.name`, ct.name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
      if (names.has(ct.name)) c.list.push({ reason: "FieldValueDuplicate", message: `Duplicate value: "${ct.name}"`, field: `${f}.name` });
      names.add(ct.name);
    }
    if (typeof ct.image !== "string" || !ct.image.trim()) c.required(`${f}.image`);
    (Array.isArray(ct.ports) ? ct.ports : []).forEach((p: unknown, j: number) => {
      const port = isPlainObject(p) ? p.containerPort : undefined;
      if (typeof port !== "number" || port < 1 || port > 65535) c.invalid(`${f}.ports[${j}].containerPort`, port, "must be between 1 and 65535, inclusive");
    });
  });
}

export function validatePodSpec(c: Causes, field: string, spec: unknown, allowedRestart?: string[]) {
  if (!isPlainObject(spec)) return c.required(field);
  validateContainers(c, `${field}.containers`, spec.containers, true);
  validateContainers(c, `${field}.initContainers`, spec.initContainers, false);
  const rp = spec.restartPolicy;
  const allowed = allowedRestart ?? ["Always", "OnFailure", "Never"];
  if (rp !== undefined && !allowed.includes(String(rp))) c.unsupported(`${field}.restartPolicy`, rp, allowed);
  validateHostUsers(c, field, spec);
}

/**
 * kube-apiserver's validateHostUsers: a pod in a user namespace of its own may share none of
 * the host's other namespaces (the field names, HostPID and HostIPC capitalised, are kube's).
 */
function validateHostUsers(c: Causes, field: string, spec: Obj) {
  if (spec.hostUsers !== false) return;
  const why = "when `pod.Spec.HostUsers` is false";
  if (spec.hostNetwork === true) c.forbidden(`${field}.hostNetwork`, why);
  if (spec.hostPID === true) c.forbidden(`${field}.HostPID`, why);
  if (spec.hostIPC === true) c.forbidden(`${field}.HostIPC`, why);
}

/** spec.template.spec of a workload spec. */
export const templateSpec = (spec: Obj): unknown => (isPlainObject(spec.template) ? spec.template.spec : undefined);

export function validateSelectorAndTemplate(c: Causes, spec: Obj) {
  const sel = spec.selector;
  const tmpl = isPlainObject(spec.template) ? spec.template : undefined;
  const labels = (isPlainObject(tmpl?.metadata) && isPlainObject(tmpl.metadata.labels) ? tmpl.metadata.labels : {}) as Record<string, string>;
  if (!isPlainObject(sel)) c.required("spec.selector");
  else {
    const ml = (isPlainObject(sel.matchLabels) ? sel.matchLabels : {}) as Record<string, string>;
    const me = Array.isArray(sel.matchExpressions) ? sel.matchExpressions : [];
    if (Object.keys(ml).length === 0 && me.length === 0) c.invalid("spec.selector", sel, "empty selector is invalid for deployment");
    for (const [k, v] of Object.entries(ml)) {
      if (labels[k] !== v) {
        c.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`");
        break;
      }
    }
  }
  if (!tmpl) c.required("spec.template");
}

export function validateReplicas(c: Causes, spec: Obj) {
  const r = spec.replicas;
  if (r !== undefined && (typeof r !== "number" || !Number.isInteger(r) || r < 0)) c.invalid("spec.replicas", r, "must be greater than or equal to 0");
}

/** A replicated workload (Deployment, ReplicaSet, StatefulSet, DaemonSet): selector, template, pods that always restart. */
export function validateWorkload(c: Causes, spec: Obj, replicated = true) {
  if (replicated) validateReplicas(c, spec);
  validateSelectorAndTemplate(c, spec);
  validatePodSpec(c, "spec.template.spec", templateSpec(spec), ["Always"]);
}
