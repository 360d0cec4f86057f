// metav1.LabelSelector as the workload controllers evaluate it (apimachinery's
// LabelSelectorAsSelector): matchLabels and matchExpressions must all hold; an empty
// selector selects everything, a missing one nothing.
import type { LabelSelector, LabelSelectorRequirement } from "./_types.ts";

function requirementHolds(r: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return has && values.includes(labels[r.key]!);
    case "NotIn":
      return !has || !values.includes(labels[r.key]!);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      // The API validates operators; an unknown one selects nothing rather than everything.
      return false;
  }
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  return (selector.matchExpressions ?? []).every((r) => requirementHolds(r, l));
}

/** Whether the selector selects every object (no requirement at all). */
export function selectsEverything(selector: LabelSelector | undefined): boolean {
  return !!selector && Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/** The selector in the text form list requests take (`app=web,tier in (a,b)`), as kubectl prints it. */
export function selectorString(selector: LabelSelector): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = [...(r.values ?? [])].sort().join(",");
    if (r.operator === "In") parts.push(`${r.key} in (${values})`);
    else if (r.operator === "NotIn") parts.push(`${r.key} notin (${values})`);
    else if (r.operator === "Exists") parts.push(r.key);
    else if (r.operator === "DoesNotExist") parts.push(`!${r.key}`);
  }
  return parts.sort().join(",");
}
