// ResourceQuota (core/v1): hard limits per namespace; status (hard and used) is kept by the
// quota controller and charged by the quota admission (resource-quota.ts) as objects are made.
import { nameColumn, ageColumn, status } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { parseQuantity } from "../../../common/quantity.ts";
import { specOf } from "../validation.ts";
import type { Strategy } from "./types.ts";

const SCOPES = ["Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"];

function validateList(c: { invalid(f: string, v: unknown, why: string): void }, field: string, list: unknown) {
  if (list === undefined || list === null) return;
  if (!isPlainObject(list)) return c.invalid(field, list, "must be a map of resource names to quantities");
  for (const [k, v] of Object.entries(list)) {
    const q = parseQuantity(v);
    if (!q) c.invalid(`${field}[${k}]`, v, "must be a quantity");
    else if (q.num < 0n) c.invalid(`${field}[${k}]`, v, "must be greater than or equal to 0");
  }
}

/** kubectl get quota: "requests.cpu: 500m/1, pods: 2/2" from status, limits.* in their own column. */
function usageCell(o: Parameters<NonNullable<Strategy["validate"]>>[1], limits: boolean): string {
  const hard = isPlainObject(status(o).hard) ? (status(o).hard as Record<string, unknown>) : {};
  const used = isPlainObject(status(o).used) ? (status(o).used as Record<string, unknown>) : {};
  return Object.keys(hard)
    .sort()
    .filter((k) => k.startsWith("limits.") === limits)
    .map((k) => `${k}: ${String(used[k] ?? "0")}/${String(hard[k])}`)
    .join(", ");
}

export const resourceQuotaStrategy: Strategy = {
  validate(c, o, _old, subresource) {
    const s = specOf(o);
    validateList(c, "spec.hard", s.hard);
    for (const [i, scope] of (Array.isArray(s.scopes) ? s.scopes : []).entries()) {
      if (!SCOPES.includes(String(scope))) c.invalid(`spec.scopes[${i}]`, scope, "unsupported scope");
    }
    if (subresource === "status") {
      validateList(c, "status.hard", status(o).hard);
      validateList(c, "status.used", status(o).used);
    }
  },
  columns: [nameColumn, ageColumn, { name: "Request", type: "string", cell: (o) => usageCell(o, false) }, { name: "Limit", type: "string", cell: (o) => usageCell(o, true) }],
};
