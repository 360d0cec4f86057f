// NetworkPolicy: policyTypes defaults to Ingress, plus Egress when egress rules are given.
import { ageColumn, nameColumn, selectorText, spec } from "../columns.ts";
import { specOf } from "../validation.ts";
import { obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const networkPolicyStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    obj(s, "podSelector");
    if (!Array.isArray(s.policyTypes)) s.policyTypes = Array.isArray(s.egress) ? ["Ingress", "Egress"] : ["Ingress"];
  },
  validate(c, o) {
    const s = specOf(o);
    for (const t of Array.isArray(s.policyTypes) ? s.policyTypes : []) if (t !== "Ingress" && t !== "Egress") c.unsupported("spec.policyTypes", t, ["Ingress", "Egress"]);
  },
  columns: [nameColumn, { name: "Pod-Selector", type: "string", cell: (o) => selectorText(spec(o).podSelector) }, ageColumn],
};
