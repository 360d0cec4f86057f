// Label selectors (metav1.LabelSelector) and node selector terms (v1.NodeSelectorTerm) as
// Kubernetes evaluates them (apimachinery labels.Selector, component-helpers nodeaffinity).
import type { LabelSelector, LabelSelectorRequirement, Labels, Node, NodeSelectorTerm } from "./_types.ts";

function requirementMatches(r: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return has && values.includes(value!);
    case "NotIn":
      return !has || !values.includes(value!);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "Gt":
    case "Lt": {
      // One integer value; a label that is not an integer never matches.
      if (!has || values.length !== 1 || !/^-?[0-9]+$/.test(value!) || !/^-?[0-9]+$/.test(values[0]!)) return false;
      const [have, want] = [Number(value), Number(values[0])];
      return r.operator === "Gt" ? have > want : have < want;
    }
    default:
      return false;
  }
}

/**
 * Whether a label selector selects labels. An empty selector selects everything; a missing
 * (null) one selects nothing, as in pod affinity terms and spread constraints.
 */
export function selectorMatches(selector: LabelSelector | null | undefined, labels: Labels | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) if (!requirementMatches(r, l)) return false;
  return true;
}

/** A node selector term: its expressions on labels and fields (metadata.name) all hold; an empty term matches nothing. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs) if (!requirementMatches(r, labels)) return false;
  const nodeFields = { "metadata.name": node.metadata.name ?? "" };
  for (const r of fields) {
    if (r.key !== "metadata.name" || (r.operator !== "In" && r.operator !== "NotIn")) return false;
    if (!requirementMatches(r, nodeFields)) return false;
  }
  return true;
}

/** Terms are ORed: one matching term is enough (none at all matches nothing). */
export function nodeSelectorTermsMatch(terms: readonly NodeSelectorTerm[], node: Node): boolean {
  return terms.some((t) => nodeSelectorTermMatches(t, node));
}
