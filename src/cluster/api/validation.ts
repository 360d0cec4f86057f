// Validation: the checks that make a 422 Invalid Status with field paths, as the real
// server's ValidateObjectMeta and per-kind Validate* functions do for the common cases.
import { isPlainObject, type KubeObject } from "./objects.ts";
import type { StatusCause } from "./status.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const labelNamedKinds = new Set(["Namespace", "Service"]);

class Causes {
  readonly list: StatusCause[] = [];
  required(field: string) {
    this.list.push({ reason: "FieldValueRequired", message: "Required value", field });
  }
  invalid(field: string, value: unknown, why: string) {
    this.list.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });
  }
  unsupported(field: string, value: unknown, allowed: string[]) {
    this.list.push({
      reason: "FieldValueNotSupported",
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(", ")}`,
      field,
    });
  }
}

function validateQualifiedKey(c: Causes, field: string, key: string) {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : "";
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) c.invalid(field, key, "prefix part must be a lowercase RFC 1123 subdomain");
  if (!QUALIFIED_NAME.test(name) || name.length > 63) {
    c.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
}

export function validateName(kind: string, name: string): string | undefined {
  if (labelNamedKinds.has(kind)) {
    if (!DNS1123_LABEL.test(name) || name.length > 63) {
      return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    }
  } else if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return undefined;
}

function validateMeta(c: Causes, kind: string, o: KubeObject) {
  const m = o.metadata;
  if (!m.name) c.required("metadata.name");
  else {
    const why = validateName(kind, m.name);
    if (why) c.invalid("metadata.name", m.name, why);
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    validateQualifiedKey(c, "metadata.labels", k);
    if (typeof v !== "string" || !LABEL_VALUE.test(v) || v.length > 63) {
      c.invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
    }
  }
  for (const k of Object.keys(m.annotations ?? {})) validateQualifiedKey(c, "metadata.annotations", k);
  const annotationBytes = Object.entries(m.annotations ?? {}).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  if (annotationBytes > 256 * 1024) c.list.push({ reason: "FieldValueTooLong", message: "Too long: must have at most 262144 bytes", field: "metadata.annotations" });
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

function validatePodSpec(c: Causes, field: string, spec: unknown, allowedRestart?: string[]) {
  if (!isPlainObject(spec)) return c.required(field);
  validateContainers(c, `${field}.containers`, spec.containers, true);
  validateContainers(c, `${field}.initContainers`, spec.initContainers, false);
  const rp = spec.restartPolicy;
  const allowed = allowedRestart ?? ["Always", "OnFailure", "Never"];
  if (rp !== undefined && !allowed.includes(String(rp))) c.unsupported(`${field}.restartPolicy`, rp, allowed);
}

function validateSelectorAndTemplate(c: Causes, spec: Record<string, unknown>, selectorRequired: boolean) {
  const sel = spec.selector;
  const tmpl = isPlainObject(spec.template) ? spec.template : undefined;
  const labels = (isPlainObject(tmpl?.metadata) && isPlainObject(tmpl.metadata.labels) ? tmpl.metadata.labels : {}) as Record<string, string>;
  if (!isPlainObject(sel)) {
    if (selectorRequired) c.required("spec.selector");
  } else {
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

function validateReplicas(c: Causes, spec: Record<string, unknown>) {
  const r = spec.replicas;
  if (r !== undefined && (typeof r !== "number" || !Number.isInteger(r) || r < 0)) c.invalid("spec.replicas", r, "must be greater than or equal to 0");
}

const kindValidators: Record<string, (c: Causes, o: KubeObject) => void> = {
  Pod(c, o) {
    validatePodSpec(c, "spec", o.spec);
  },
  Deployment(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    validateReplicas(c, spec);
    validateSelectorAndTemplate(c, spec, true);
    validatePodSpec(c, "spec.template.spec", (spec.template as Record<string, unknown> | undefined)?.spec, ["Always"]);
    const st = isPlainObject(spec.strategy) ? spec.strategy.type : undefined;
    if (st !== undefined && st !== "RollingUpdate" && st !== "Recreate") c.unsupported("spec.strategy.type", st, ["Recreate", "RollingUpdate"]);
  },
  ReplicaSet(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    validateReplicas(c, spec);
    validateSelectorAndTemplate(c, spec, true);
    validatePodSpec(c, "spec.template.spec", (spec.template as Record<string, unknown> | undefined)?.spec, ["Always"]);
  },
  StatefulSet(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    validateReplicas(c, spec);
    validateSelectorAndTemplate(c, spec, true);
    validatePodSpec(c, "spec.template.spec", (spec.template as Record<string, unknown> | undefined)?.spec, ["Always"]);
  },
  DaemonSet(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    validateSelectorAndTemplate(c, spec, true);
    validatePodSpec(c, "spec.template.spec", (spec.template as Record<string, unknown> | undefined)?.spec, ["Always"]);
  },
  Job(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    validatePodSpec(c, "spec.template.spec", (spec.template as Record<string, unknown> | undefined)?.spec, ["OnFailure", "Never"]);
    for (const f of ["parallelism", "completions", "backoffLimit"]) {
      const v = spec[f];
      if (v !== undefined && v !== null && (typeof v !== "number" || v < 0)) c.invalid(`spec.${f}`, v, "must be greater than or equal to 0");
    }
  },
  CronJob(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    if (typeof spec.schedule !== "string" || !spec.schedule.trim()) c.required("spec.schedule");
    else if (!/^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every .+)$/.test(spec.schedule) && spec.schedule.trim().split(/\s+/).length !== 5) {
      c.invalid("spec.schedule", spec.schedule, "unparseable cron expression");
    }
    const jt = isPlainObject(spec.jobTemplate) ? spec.jobTemplate : {};
    const js = isPlainObject(jt.spec) ? jt.spec : {};
    validatePodSpec(c, "spec.jobTemplate.spec.template.spec", (js.template as Record<string, unknown> | undefined)?.spec, ["OnFailure", "Never"]);
  },
  Service(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    const type = spec.type;
    const types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if (type !== undefined && !types.includes(String(type))) c.unsupported("spec.type", type, types);
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    if (ports.length === 0 && type !== "ExternalName" && spec.clusterIP !== "None") c.required("spec.ports");
    ports.forEach((p: unknown, i: number) => {
      const port = isPlainObject(p) ? p.port : undefined;
      if (typeof port !== "number" || port < 1 || port > 65535) c.invalid(`spec.ports[${i}].port`, port, "must be between 1 and 65535, inclusive");
      if (ports.length > 1 && !(isPlainObject(p) && p.name)) c.required(`spec.ports[${i}].name`);
    });
  },
  ConfigMap(c, o) {
    for (const field of ["data", "binaryData"]) {
      const d = o[field];
      if (d === undefined || d === null) continue;
      if (!isPlainObject(d)) {
        c.invalid(field, d, "must be a map of strings");
        continue;
      }
      for (const k of Object.keys(d)) if (!CONFIG_KEY.test(k) || k.length > 253) c.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
    }
  },
  Secret(c, o) {
    for (const field of ["data", "stringData"]) {
      const d = o[field];
      if (!isPlainObject(d)) continue;
      for (const [k, v] of Object.entries(d)) {
        if (!CONFIG_KEY.test(k)) c.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
        if (field === "data" && (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))) c.invalid(`${field}[${k}]`, "<secret contents redacted>", "must be base64 encoded");
      }
    }
  },
  NetworkPolicy(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    for (const t of Array.isArray(spec.policyTypes) ? spec.policyTypes : []) if (t !== "Ingress" && t !== "Egress") c.unsupported("spec.policyTypes", t, ["Ingress", "Egress"]);
  },
  Lease(c, o) {
    const spec = isPlainObject(o.spec) ? o.spec : {};
    const d = spec.leaseDurationSeconds;
    if (d !== undefined && d !== null && (typeof d !== "number" || d <= 0)) c.invalid("spec.leaseDurationSeconds", d, "must be greater than 0");
  },
  EndpointSlice(c, o) {
    const types = ["IPv4", "IPv6", "FQDN"];
    if (!types.includes(String(o.addressType))) c.unsupported("addressType", o.addressType, types);
  },
};

/** Returns the causes of a 422; empty when the object is valid. */
export function validateObject(kind: string, o: KubeObject): StatusCause[] {
  const c = new Causes();
  validateMeta(c, kind, o);
  kindValidators[kind]?.(c, o);
  return c.list;
}
