// Label and field selectors as kubectl sends them (`app=x,tier!=db`, `env in (a,b)`,
// `!legacy`, `status.phase=Running`). Parsed once per request, then matched per object.
import { errBadRequest } from "./status.ts";

type LabelRequirement =
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "!exists"; key: string };

export type LabelSelector = LabelRequirement[];

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text) return [];
  return splitTopLevel(text).map((part): LabelRequirement => {
    let m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(part);
    if (m) {
      const values = m[3]!.split(",").map((v) => v.trim()).filter((v) => v !== "");
      return { op: m[2] as "in" | "notin", key: checkKey(m[1]!, text), values };
    }
    m = /^(\S+?)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (m) return { op: m[2] === "!=" ? "!=" : "=", key: checkKey(m[1]!, text), value: m[3]! };
    if (part.startsWith("!")) return { op: "!exists", key: checkKey(part.slice(1).trim(), text) };
    return { op: "exists", key: checkKey(part, text) };
  });
}

function checkKey(key: string, text: string): string {
  if (!KEY.test(key)) throw errBadRequest(`unable to parse requirement: invalid label key "${key}" in selector "${text}"`);
  return key;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case "=":
        return has && v === r.value;
      case "!=":
        return !has || v !== r.value;
      case "in":
        return has && r.values.includes(v!);
      case "notin":
        return !has || !r.values.includes(v!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/** A label selector in its structured form (spec.selector of a Deployment) as text-free requirements. */
export function fromLabelSelectorObject(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): LabelSelector {
  const out: LabelSelector = [];
  for (const [key, value] of Object.entries(sel?.matchLabels ?? {})) out.push({ op: "=", key, value });
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === "In") out.push({ op: "in", key: e.key, values: e.values ?? [] });
    else if (e.operator === "NotIn") out.push({ op: "notin", key: e.key, values: e.values ?? [] });
    else if (e.operator === "Exists") out.push({ op: "exists", key: e.key });
    else if (e.operator === "DoesNotExist") out.push({ op: "!exists", key: e.key });
  }
  return out;
}

export interface FieldRequirement {
  path: string;
  op: "=" | "!=";
  value: string;
}

export function parseFieldSelector(text: string | null | undefined): FieldRequirement[] {
  if (!text) return [];
  return splitTopLevel(text).map((part) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw errBadRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    return { path: m[1]!, op: m[2] === "!=" ? "!=" : "=", value: m[3]! };
  });
}

/** Field selectors are evaluated on the object's own fields (metadata.name, status.phase, involvedObject.uid, ...). */
export function matchFields(reqs: FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => {
    let cur: unknown = obj;
    for (const seg of r.path.split(".")) cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[seg] : undefined;
    const actual = cur === undefined || cur === null ? "" : String(cur);
    return r.op === "=" ? actual === r.value : actual !== r.value;
  });
}
