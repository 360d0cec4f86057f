// rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding
// (pkg/apis/rbac/validation and pkg/registry/rbac). Names are path segments, so the
// bootstrap roles' "system:..." names are valid; a rule is about resources or about
// non-resource URLs, never both (and only ClusterRoles have the latter); a binding's roleRef
// is fixed once created; subjects get their apiGroup defaulted. Who may grant what
// (escalation prevention) is the API server's check, with the requesting user
// (rbac-authorizer.ts).
import { ageColumn, arr, nameColumn } from "../columns.ts";
import { isPlainObject, type KubeObject } from "../objects.ts";
import { RBAC_GROUP } from "../rbac-rules.ts";
import { invalidPathSegmentName, type Causes } from "../validation.ts";
import type { Strategy } from "./types.ts";

/** Go's %#v of a []string, as validation messages quote rule fields: []string{"a", "b"}. */
const goStringSlice = (v: unknown[]) => `[]string{${v.map((x) => JSON.stringify(x)).join(", ")}}`;

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function validateRules(c: Causes, o: KubeObject, namespaced: boolean) {
  if (o.rules !== undefined && o.rules !== null && !Array.isArray(o.rules)) return c.invalid("rules", o.rules, "must be a list of rules");
  list(o.rules).forEach((rule, i) => {
    const f = `rules[${i}]`;
    if (!isPlainObject(rule)) return c.invalid(f, rule, "must be an object");
    if (list(rule.verbs).length === 0) c.list.push({ reason: "FieldValueRequired", message: "Required value: verbs must contain at least one value", field: `${f}.verbs` });
    const urls = list(rule.nonResourceURLs);
    if (urls.length > 0) {
      if (namespaced) c.invalid(`${f}.nonResourceURLs`, goStringSlice(urls), "namespaced rules cannot apply to non-resource URLs");
      if (list(rule.apiGroups).length > 0 || list(rule.resources).length > 0) c.invalid(`${f}.nonResourceURLs`, goStringSlice(urls), "rules cannot apply to both regular resources and non-resource URLs");
      return;
    }
    if (list(rule.apiGroups).length === 0) c.list.push({ reason: "FieldValueRequired", message: "Required value: resource rules must supply at least one api group", field: `${f}.apiGroups` });
    if (list(rule.resources).length === 0) c.list.push({ reason: "FieldValueRequired", message: "Required value: resource rules must supply at least one resource", field: `${f}.resources` });
  });
}

const SUBJECT_KINDS = ["ServiceAccount", "User", "Group"];

function validateBinding(c: Causes, o: KubeObject, old: KubeObject | undefined, roleKinds: string[], namespaced: boolean) {
  const ref = isPlainObject(o.roleRef) ? o.roleRef : undefined;
  if (!ref) c.required("roleRef");
  else {
    if (ref.apiGroup !== RBAC_GROUP) c.unsupported("roleRef.apiGroup", ref.apiGroup ?? "", [RBAC_GROUP]);
    if (!roleKinds.includes(String(ref.kind ?? ""))) c.unsupported("roleRef.kind", ref.kind ?? "", roleKinds);
    if (typeof ref.name !== "string" || ref.name === "") c.required("roleRef.name");
    else {
      const why = invalidPathSegmentName(ref.name);
      if (why) c.invalid("roleRef.name", ref.name, why);
    }
  }
  if (old && JSON.stringify(old.roleRef) !== JSON.stringify(o.roleRef)) c.invalid("roleRef", o.roleRef, "cannot change roleRef");
  list(o.subjects).forEach((s, i) => {
    const f = `subjects[${i}]`;
    if (!isPlainObject(s)) return c.invalid(f, s, "must be an object");
    if (typeof s.name !== "string" || s.name === "") c.required(`${f}.name`);
    switch (s.kind) {
      case "ServiceAccount":
        if (s.apiGroup) c.unsupported(`${f}.apiGroup`, s.apiGroup, [""]);
        if (!namespaced && !s.namespace) c.required(`${f}.namespace`);
        break;
      case "User":
      case "Group":
        if (s.apiGroup !== RBAC_GROUP) c.unsupported(`${f}.apiGroup`, s.apiGroup ?? "", [RBAC_GROUP]);
        break;
      default:
        c.unsupported(`${f}.kind`, s.kind ?? "", SUBJECT_KINDS);
    }
  });
}

/** SetDefaults_Subject: Users and Groups belong to the RBAC group, ServiceAccounts to the core one. */
function defaultSubjects(o: KubeObject) {
  for (const s of list(o.subjects)) {
    if (!isPlainObject(s) || s.apiGroup) continue;
    if (s.kind === "User" || s.kind === "Group") s.apiGroup = RBAC_GROUP;
  }
}

/** kubectl's CREATED AT column of roles: the creation time in RFC 3339. */
const createdAtColumn = { name: "Created At", type: "date" as const, description: "CreationTimestamp is a timestamp representing the server time when this object was created.", cell: (o: KubeObject) => o.metadata.creationTimestamp ?? "" };

const subjectNames = (o: KubeObject, kind: string) =>
  arr(o.subjects)
    .filter((s) => s.kind === kind)
    .map((s) => (kind === "ServiceAccount" ? `${String(s.namespace ?? "")}/${String(s.name)}` : String(s.name)))
    .join(", ");

/** printRoleBinding's columns: ROLE as Kind/name, and the subjects with -o wide. */
const bindingColumns = [
  nameColumn,
  { name: "Role", type: "string" as const, description: "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.", cell: (o: KubeObject) => (isPlainObject(o.roleRef) ? `${String(o.roleRef.kind)}/${String(o.roleRef.name)}` : "") },
  ageColumn,
  { name: "Users", type: "string" as const, priority: 1, description: "Users in the roleBinding", cell: (o: KubeObject) => subjectNames(o, "User") },
  { name: "Groups", type: "string" as const, priority: 1, description: "Groups in the roleBinding", cell: (o: KubeObject) => subjectNames(o, "Group") },
  { name: "ServiceAccounts", type: "string" as const, priority: 1, description: "ServiceAccounts in the roleBinding", cell: (o: KubeObject) => subjectNames(o, "ServiceAccount") },
];

export const roleStrategy: Strategy = {
  nameIsPathSegment: true,
  validate: (c, o) => {
    validateRules(c, o, true);
  },
  columns: [nameColumn, createdAtColumn],
};

export const clusterRoleStrategy: Strategy = {
  nameIsPathSegment: true,
  validate: (c, o) => {
    validateRules(c, o, false);
    if (o.aggregationRule !== undefined && o.aggregationRule !== null) {
      const selectors = isPlainObject(o.aggregationRule) ? list(o.aggregationRule.clusterRoleSelectors) : [];
      if (selectors.length === 0) c.list.push({ reason: "FieldValueRequired", message: "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil", field: "aggregationRule.clusterRoleSelectors" });
    }
  },
  columns: [nameColumn, createdAtColumn],
};

export const roleBindingStrategy: Strategy = {
  nameIsPathSegment: true,
  defaults: defaultSubjects,
  validate: (c, o, old) => validateBinding(c, o, old, ["Role", "ClusterRole"], true),
  columns: bindingColumns,
};

export const clusterRoleBindingStrategy: Strategy = {
  nameIsPathSegment: true,
  defaults: defaultSubjects,
  validate: (c, o, old) => validateBinding(c, o, old, ["ClusterRole"], false),
  columns: bindingColumns,
};
