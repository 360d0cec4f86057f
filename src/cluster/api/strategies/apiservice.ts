// APIService (apiregistration.k8s.io/v1): a group/version the API serves itself ("Local", no
// spec.service) or proxies to an extension API server behind a Service. Named
// `<version>.<group>` as kube-aggregator requires; validation follows
// ValidateAPIService (priorities in range, service port, caBundle vs insecureSkipTLSVerify).
import { ageColumn, arr, nameColumn } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { specOf, type Causes } from "../validation.ts";
import type { Strategy } from "./types.ts";

/** The Available condition as `kubectl get apiservices` prints it: "True", or "False (Reason)". */
function availableCell(o: Record<string, unknown>): string {
  const cond = arr(isPlainObject(o.status) ? o.status.conditions : undefined).find((c) => c.type === "Available");
  if (!cond) return "Unknown";
  return cond.status === "True" ? "True" : `${String(cond.status)} (${String(cond.reason ?? "")})`;
}

function validateApiService(c: Causes, name: string | undefined, s: Record<string, unknown>) {
  const group = typeof s.group === "string" ? s.group : "";
  const version = typeof s.version === "string" ? s.version : "";
  if (!version) c.required("spec.version");
  if (name !== undefined && name !== `${version}.${group}`) c.invalid("metadata.name", name, `must be \`spec.version+"."+spec.group\`: "${version}.${group}"`);
  const gpm = s.groupPriorityMinimum;
  if (typeof gpm !== "number" || !Number.isInteger(gpm) || gpm <= 0 || gpm > 20000) c.invalid("spec.groupPriorityMinimum", gpm, "must be positive and less than 20000");
  const vp = s.versionPriority;
  if (typeof vp !== "number" || !Number.isInteger(vp) || vp <= 0 || vp > 1000) c.invalid("spec.versionPriority", vp, "must be positive and less than 1000");
  if (s.service === undefined || s.service === null) {
    if (s.insecureSkipTLSVerify === true) c.invalid("spec.insecureSkipTLSVerify", true, "must not be set when spec.service is nil");
    return;
  }
  if (!isPlainObject(s.service)) return c.invalid("spec.service", s.service, "must be an object");
  if (!group) c.invalid("spec.group", group, "only v1 may have an empty group and it better be legacy kube");
  if (!s.service.namespace) c.required("spec.service.namespace");
  if (!s.service.name) c.required("spec.service.name");
  const port = s.service.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) c.invalid("spec.service.port", port, "must be a valid port number");
  if (s.insecureSkipTLSVerify === true && typeof s.caBundle === "string" && s.caBundle) c.invalid("spec.insecureSkipTLSVerify", true, "may not be true if caBundle is present");
  if (typeof s.caBundle === "string" && s.caBundle && !/^[A-Za-z0-9+/]*={0,2}$/.test(s.caBundle)) c.invalid("spec.caBundle", "<bytes>", "must be base64 encoded");
}

export const apiServiceStrategy: Strategy = {
  nameIsPathSegment: true,
  defaults(o) {
    const s = specOf(o);
    if (isPlainObject(s.service) && s.service.port === undefined) s.service.port = 443;
  },
  validate(c, o) {
    validateApiService(c, o.metadata.name, specOf(o));
  },
  columns: [
    nameColumn,
    { name: "Service", type: "string", cell: (o) => { const svc = specOf(o).service; return isPlainObject(svc) ? `${String(svc.namespace)}/${String(svc.name)}` : "Local"; } },
    { name: "Available", type: "string", cell: availableCell },
    ageColumn,
  ],
};
