// PodDisruptionBudget (policy/v1): one of minAvailable and maxUnavailable, each a count or a
// percentage. Its status is computed when a pod is evicted (disruption.ts), as there is no
// disruption controller yet.
import { ageColumn, nameColumn, spec, status } from "../columns.ts";
import { specOf, type Causes } from "../validation.ts";
import type { Strategy } from "./types.ts";

const PERCENT = /^[0-9]+%$/;
const POLICIES = ["IfHealthyBudget", "AlwaysAllow"];

function validateIntOrPercent(c: Causes, field: string, v: unknown) {
  if (v === undefined || v === null) return;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0) c.invalid(field, v, "must be greater than or equal to 0");
  } else if (typeof v !== "string" || !PERCENT.test(v)) {
    c.invalid(field, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
  } else if (Number(v.slice(0, -1)) > 100) c.invalid(field, v, "must not be greater than 100%");
}

const intOrPercent = (v: unknown) => (v === undefined || v === null ? "N/A" : String(v));

export const podDisruptionBudgetStrategy: Strategy = {
  validate(c, o) {
    const s = specOf(o);
    if (s.minAvailable !== undefined && s.minAvailable !== null && s.maxUnavailable !== undefined && s.maxUnavailable !== null) {
      c.invalid("spec", s, "minAvailable and maxUnavailable cannot be both set");
    }
    validateIntOrPercent(c, "spec.minAvailable", s.minAvailable);
    validateIntOrPercent(c, "spec.maxUnavailable", s.maxUnavailable);
    const p = s.unhealthyPodEvictionPolicy;
    if (p !== undefined && p !== null && !POLICIES.includes(String(p))) c.unsupported("spec.unhealthyPodEvictionPolicy", p, POLICIES);
  },
  columns: [
    nameColumn,
    { name: "Min Available", type: "string", cell: (o) => intOrPercent(spec(o).minAvailable) },
    { name: "Max Unavailable", type: "string", cell: (o) => intOrPercent(spec(o).maxUnavailable) },
    { name: "Allowed Disruptions", type: "integer", cell: (o) => status(o).disruptionsAllowed ?? 0 },
    ageColumn,
  ],
};
