// RBAC's rule arithmetic, pure (k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go and
// pkg/registry/rbac/validation/policy_compact.go): whether a PolicyRule allows a request,
// whether a subject names a user, and whether one set of rules covers another — the
// escalation check, with kube's description of what is missing.
import { isPlainObject } from "./objects.ts";

export const RBAC_GROUP = "rbac.authorization.k8s.io";

/** Who a rule is matched against: the part of authentication's UserInfo that RBAC reads. */
export interface RuleSubject {
  username: string;
  groups: string[];
}

/** A resource request as an authorizer sees it (k8s.io/apiserver authorizer.Attributes). */
export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);

/** The rules of a stored Role or ClusterRole (anything malformed dropped: it grants nothing). */
export function rulesOf(role: Record<string, unknown> | undefined): PolicyRule[] {
  if (!role || !Array.isArray(role.rules)) return [];
  return role.rules.filter(isPlainObject).map((r) => ({
    verbs: strings(r.verbs) ?? [],
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  }));
}

const has = (list: string[] | undefined, v: string) => (list ?? []).includes(v);
const hasOrStar = (list: string[] | undefined, v: string) => has(list, "*") || has(list, v);

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === "*" || r === combined) return true;
    // "*/scale" grants every resource's scale subresource; "pods/*" is not a pattern RBAC knows.
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

/** RuleAllows: a resource request matched by verb, group, resource (with subresource) and name. */
export function ruleAllows(rule: PolicyRule, a: ResourceAttributes): boolean {
  if (!hasOrStar(rule.verbs, a.verb) || !hasOrStar(rule.apiGroups, a.group)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && a.name !== "" && names.includes(a.name));
}

/** A non-resource URL rule matches exactly, "*" everything, and "/prefix/*" everything under it. */
function urlMatches(pattern: string, path: string): boolean {
  if (pattern === "*" || pattern === path) return true;
  return pattern.endsWith("*") && path.startsWith(pattern.slice(0, -1));
}

export function ruleAllowsNonResource(rule: PolicyRule, verb: string, path: string): boolean {
  return hasOrStar(rule.verbs, verb) && (rule.nonResourceURLs ?? []).some((p) => urlMatches(p, path));
}

/** The user name a ServiceAccount authenticates as. */
export const serviceAccountUsername = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

/** appliesTo: whether a binding's subject names this user; bindingNamespace fills in a ServiceAccount subject's namespace. */
export function subjectMatches(s: Subject, user: RuleSubject, bindingNamespace: string | undefined): boolean {
  switch (s.kind) {
    case "User":
      return s.name === user.username;
    case "Group":
      return user.groups.includes(s.name);
    case "ServiceAccount": {
      const ns = s.namespace || bindingNamespace || "";
      return ns !== "" && user.username === serviceAccountUsername(ns, s.name);
    }
    default:
      return false;
  }
}

export function subjectsOf(binding: Record<string, unknown>): Subject[] {
  if (!Array.isArray(binding.subjects)) return [];
  return binding.subjects.filter(isPlainObject).map((s) => ({ kind: String(s.kind ?? ""), name: String(s.name ?? ""), namespace: typeof s.namespace === "string" ? s.namespace : undefined, apiGroup: typeof s.apiGroup === "string" ? s.apiGroup : undefined }));
}

export function roleRefOf(binding: Record<string, unknown>): RoleRef | undefined {
  const r = binding.roleRef;
  if (!isPlainObject(r) || typeof r.kind !== "string" || typeof r.name !== "string") return undefined;
  return { apiGroup: String(r.apiGroup ?? ""), kind: r.kind, name: r.name };
}

// ---- covering (escalation prevention)

/** BreakdownRule: one rule per group × resource × name × verb (or URL × verb), so each can be checked alone. */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) {
        if (rule.resourceNames?.length) for (const name of rule.resourceNames) out.push({ apiGroups: [group], resources: [resource], resourceNames: [name], verbs: [verb] });
        else out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) for (const verb of rule.verbs) out.push({ nonResourceURLs: [url], verbs: [verb] });
  return out;
}

function resourcesCover(owner: string[], wanted: string[]): boolean {
  if (owner.includes("*")) return true;
  return wanted.every((r) => {
    if (owner.includes(r)) return true;
    const slash = r.indexOf("/");
    return slash >= 0 && owner.includes(`*/${r.slice(slash + 1)}`);
  });
}

const urlsCover = (owner: string[], wanted: string[]) => wanted.every((w) => owner.some((o) => urlMatches(o, w)));

/** ruleCovers: every request the servant rule allows, the owner rule allows. */
function ruleCovers(owner: PolicyRule, servant: PolicyRule): boolean {
  const verbs = owner.verbs.includes("*") || servant.verbs.every((v) => owner.verbs.includes(v));
  const groups = (owner.apiGroups ?? []).includes("*") || (servant.apiGroups ?? []).every((g) => (owner.apiGroups ?? []).includes(g));
  const resources = resourcesCover(owner.resources ?? [], servant.resources ?? []);
  const urls = urlsCover(owner.nonResourceURLs ?? [], servant.nonResourceURLs ?? []);
  const ownerNames = owner.resourceNames ?? [];
  // An owner limited to names covers only servants limited to some of those names.
  const servantNames = servant.resourceNames ?? [];
  const names = ownerNames.length === 0 || (servantNames.length > 0 && servantNames.every((n) => ownerNames.includes(n)));
  return verbs && groups && resources && urls && names;
}

/** Covers: whether the owner's rules grant everything in servant's; the pieces they do not. */
export function covers(owner: PolicyRule[], servant: PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const rule of servant) for (const piece of breakdownRule(rule)) if (!owner.some((o) => ruleCovers(o, piece))) missing.push(piece);
  return { covered: missing.length === 0, missing };
}

/** CompactRules: broken-down rules for one group, resource and name are put back together with their verbs. */
export function compactRules(rules: PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const simple = new Map<string, PolicyRule>();
  for (const r of rules) {
    const isSimple = r.apiGroups?.length === 1 && r.resources?.length === 1 && (r.resourceNames?.length ?? 0) <= 1 && !r.nonResourceURLs?.length;
    if (!isSimple) {
      out.push(r);
      continue;
    }
    const key = JSON.stringify([r.apiGroups![0], r.resources![0], r.resourceNames?.[0] ?? ""]);
    const seen = simple.get(key);
    if (seen) seen.verbs.push(...r.verbs.filter((v) => !seen.verbs.includes(v)));
    else {
      const copy = { ...r, verbs: [...r.verbs] };
      simple.set(key, copy);
      out.push(copy);
    }
  }
  return out;
}

/** Go's %q of a []string: ["a" "b"]. */
export const goQuotedList = (list: string[]) => `[${list.map((s) => JSON.stringify(s)).join(" ")}]`;

/** rbacv1helpers.CompactString: {APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${goQuotedList(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${goQuotedList(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${goQuotedList(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${goQuotedList(r.resourceNames)}`);
  if (r.verbs.length) parts.push(`Verbs:${goQuotedList(r.verbs)}`);
  return `{${parts.join(", ")}}`;
}

/** The sentence kube-apiserver refuses an escalation with (ConfirmNoEscalation). */
export function escalationMessage(user: RuleSubject, missing: PolicyRule[]): string {
  const lines = [...new Set(compactRules(missing).map(compactString))].sort();
  return `user ${JSON.stringify(user.username)} (groups=${goQuotedList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${lines.join("\n")}`;
}
