// The roles and bindings kube-apiserver creates at start (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy/policy.go and controller_policy.go, cut down to the resources Gantry
// serves), and their reconciliation (the rbac/bootstrap-roles post-start hook):
//
// - a missing role or binding is created;
// - an existing one whose rbac.authorization.kubernetes.io/autoupdate annotation is not
//   "false" gets back what is missing from it (rules, aggregation selectors, labels,
//   annotations, subjects) — what a user added stays, nothing is taken away;
// - one annotated autoupdate "false" is left exactly as the user made it.
//
// The rules of admin, edit and view live in system:aggregate-to-{admin,edit,view}; the
// clusterrole-aggregation controller fills the three from every ClusterRole that carries
// their aggregate-to-* label, so a CRD's roles can join them the way they do in Kubernetes.
import { GantryError } from "../../common/errors.ts";
import type { KubeObject } from "./objects.ts";
import { covers, RBAC_GROUP, rulesOf, type PolicyRule, type Subject } from "./rbac-rules.ts";
import type { ObjectRegistry } from "./registry.ts";
import { findResource } from "./resources.ts";

export const AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate";
export const AGGREGATE_TO = (role: "admin" | "edit" | "view") => `rbac.authorization.k8s.io/aggregate-to-${role}`;
const BOOTSTRAPPING_LABEL = { "kubernetes.io/bootstrapping": "rbac-defaults" };

const READ = ["get", "list", "watch"];
const WRITE = ["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE = [...READ, ...WRITE];

const rule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule => ({ verbs, apiGroups, resources, ...(resourceNames ? { resourceNames } : {}) });
const urls = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({ verbs, nonResourceURLs });

interface BootstrapRole {
  name: string;
  labels?: Record<string, string>;
  rules?: PolicyRule[];
  aggregateFrom?: string[];
}

/** The ClusterRoles, in the order kube-apiserver lists them. */
export const BOOTSTRAP_CLUSTER_ROLES: BootstrapRole[] = [
  { name: "cluster-admin", rules: [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])] },
  { name: "system:discovery", rules: [urls(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"])] },
  { name: "system:monitoring", rules: [urls(["get"], ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"])] },
  {
    name: "system:basic-user",
    rules: [rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]), rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])],
  },
  { name: "system:public-info-viewer", rules: [urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])] },
  // admin, edit and view are filled by aggregation; their own labels chain them (view ⊂ edit ⊂ admin).
  { name: "admin", aggregateFrom: [AGGREGATE_TO("admin")] },
  { name: "edit", labels: { [AGGREGATE_TO("admin")]: "true" }, aggregateFrom: [AGGREGATE_TO("edit")] },
  { name: "view", labels: { [AGGREGATE_TO("edit")]: "true" }, aggregateFrom: [AGGREGATE_TO("view")] },
  {
    name: "system:aggregate-to-admin",
    labels: { [AGGREGATE_TO("admin")]: "true" },
    rules: [rule(READ_WRITE, [RBAC_GROUP], ["rolebindings", "roles"]), rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"])],
  },
  {
    name: "system:aggregate-to-edit",
    labels: { [AGGREGATE_TO("edit")]: "true" },
    rules: [
      rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
      rule(["impersonate"], [""], ["serviceaccounts"]),
      rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
      rule(["create"], [""], ["pods/eviction"]),
      rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"]),
      rule(["create"], [""], ["serviceaccounts/token"]),
      rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
      rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
      rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
      rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
      rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
      rule(READ_WRITE, ["coordination.k8s.io"], ["leases"]),
    ],
  },
  {
    name: "system:aggregate-to-view",
    labels: { [AGGREGATE_TO("view")]: "true" },
    rules: [
      rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"]),
      rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
      rule(READ, [""], ["namespaces"]),
      rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
      rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]),
      rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
      rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
      rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
      rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
      rule(READ, ["metrics.k8s.io"], ["pods", "nodes"]),
    ],
  },
  {
    name: "system:node-proxier",
    rules: [
      rule(["list", "watch"], [""], ["endpoints", "services"]),
      rule(["get", "list", "watch"], [""], ["nodes"]),
      rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
      rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
    ],
  },
  {
    name: "system:kube-scheduler",
    rules: [
      rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
      rule(["create"], ["coordination.k8s.io"], ["leases"]),
      rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
      rule(["delete", "get", "list", "watch"], [""], ["pods"]),
      rule(["create"], [""], ["bindings", "pods/binding"]),
      rule(["patch", "update"], [""], ["pods/status"]),
      rule(READ, [""], ["nodes", "namespaces", "persistentvolumeclaims", "persistentvolumes", "replicationcontrollers", "services"]),
      rule(READ, ["apps"], ["replicasets", "statefulsets"]),
      rule(READ, ["policy"], ["poddisruptionbudgets"]),
      rule(READ, ["storage.k8s.io"], ["storageclasses"]),
      rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
      rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
    ],
  },
  { name: "system:volume-scheduler", rules: [rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumes"]), rule(READ, ["storage.k8s.io"], ["storageclasses"]), rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumeclaims"])] },
  // The controller manager's own requests run in-process as system:masters; the role is kept for
  // a controller manager run apart, as kube's has it (its controllers then use their own roles).
  {
    name: "system:kube-controller-manager",
    rules: [
      rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
      rule(["create"], ["coordination.k8s.io"], ["leases"]),
      rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-controller-manager"]),
      rule(["create"], [""], ["secrets", "serviceaccounts"]),
      rule(["delete"], [""], ["secrets"]),
      rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
      rule(["update"], [""], ["secrets", "serviceaccounts"]),
      rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
      rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
      rule(["list", "watch"], ["*"], ["*"]),
      rule(["create"], [""], ["serviceaccounts/token"]),
    ],
  },
  { name: "system:kube-dns", rules: [rule(["list", "watch"], [""], ["endpoints", "services"]), rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])] },
  // kube creates system:node unbound: nodes are authorized by the Node authorizer.
  {
    name: "system:node",
    rules: [
      rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
      rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
      rule(READ, [""], ["services"]),
      rule(["create", "get", "list", "watch"], [""], ["nodes"]),
      rule(["patch", "update"], [""], ["nodes/status"]),
      rule(["patch", "update"], [""], ["nodes"]),
      rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
      rule(READ, [""], ["pods"]),
      rule(["create", "delete"], [""], ["pods"]),
      rule(["patch", "update"], [""], ["pods/status"]),
      rule(["create"], [""], ["pods/eviction"]),
      rule(["get"], [""], ["configmaps", "secrets"]),
      rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
      rule(["get"], [""], ["endpoints"]),
      rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
    ],
  },
  { name: "system:auth-delegator", rules: [rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]), rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])] },
];

interface BootstrapBinding {
  name: string;
  role: string;
  subjects: Subject[];
}

const group = (name: string): Subject => ({ kind: "Group", apiGroup: RBAC_GROUP, name });
const user = (name: string): Subject => ({ kind: "User", apiGroup: RBAC_GROUP, name });

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: BootstrapBinding[] = [
  { name: "cluster-admin", role: "cluster-admin", subjects: [group("system:masters")] },
  { name: "system:monitoring", role: "system:monitoring", subjects: [group("system:monitoring")] },
  { name: "system:discovery", role: "system:discovery", subjects: [group("system:authenticated")] },
  { name: "system:basic-user", role: "system:basic-user", subjects: [group("system:authenticated")] },
  { name: "system:public-info-viewer", role: "system:public-info-viewer", subjects: [group("system:authenticated"), group("system:unauthenticated")] },
  { name: "system:node-proxier", role: "system:node-proxier", subjects: [user("system:kube-proxy")] },
  { name: "system:kube-controller-manager", role: "system:kube-controller-manager", subjects: [user("system:kube-controller-manager")] },
  { name: "system:kube-dns", role: "system:kube-dns", subjects: [{ kind: "ServiceAccount", name: "kube-dns", namespace: "kube-system" }] },
  { name: "system:kube-scheduler", role: "system:kube-scheduler", subjects: [user("system:kube-scheduler")] },
  { name: "system:volume-scheduler", role: "system:volume-scheduler", subjects: [user("system:kube-scheduler")] },
  { name: "system:node", role: "system:node", subjects: [] },
];

const meta = (name: string, labels: Record<string, string> = {}) => ({ name, labels: { ...BOOTSTRAPPING_LABEL, ...labels }, annotations: { [AUTOUPDATE_ANNOTATION]: "true" } });

export function bootstrapClusterRole(r: BootstrapRole): KubeObject {
  const o: KubeObject = { apiVersion: `${RBAC_GROUP}/v1`, kind: "ClusterRole", metadata: meta(r.name, r.labels), rules: r.rules ?? [] };
  if (r.aggregateFrom) o.aggregationRule = { clusterRoleSelectors: r.aggregateFrom.map((label) => ({ matchLabels: { [label]: "true" } })) };
  return o;
}

export function bootstrapClusterRoleBinding(b: BootstrapBinding): KubeObject {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: "ClusterRoleBinding", metadata: meta(b.name), roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: b.role }, subjects: b.subjects };
}

/** The existing object with what the expected one has and it lacks added; undefined when nothing is missing. */
function reconciled(existing: KubeObject, expected: KubeObject): KubeObject | undefined {
  if (existing.metadata.annotations?.[AUTOUPDATE_ANNOTATION] === "false") return undefined;
  const next: KubeObject = { ...existing, metadata: { ...existing.metadata } };
  let changed = false;
  for (const field of ["labels", "annotations"] as const) {
    const have = existing.metadata[field] ?? {};
    const want = expected.metadata[field] ?? {};
    if (Object.keys(want).some((k) => !(k in have))) {
      next.metadata[field] = { ...want, ...have };
      changed = true;
    }
  }
  if (expected.kind === "ClusterRole") {
    // An aggregated role's rules are the controller's to fill: only its selectors are reconciled.
    const selectors = (o: KubeObject) => ((o.aggregationRule as { clusterRoleSelectors?: unknown[] } | undefined)?.clusterRoleSelectors ?? []) as unknown[];
    if (expected.aggregationRule) {
      const have = selectors(existing).map((s) => JSON.stringify(s));
      const missing = selectors(expected).filter((s) => !have.includes(JSON.stringify(s)));
      if (missing.length || !existing.aggregationRule) {
        next.aggregationRule = { clusterRoleSelectors: [...selectors(existing), ...missing] };
        changed = true;
      }
    } else {
      const { missing } = covers(rulesOf(existing), rulesOf(expected));
      if (missing.length) {
        next.rules = [...(Array.isArray(existing.rules) ? existing.rules : []), ...missing];
        changed = true;
      }
    }
  } else {
    const have = ((existing.subjects ?? []) as Subject[]).map((s) => `${s.kind}/${s.namespace ?? ""}/${s.name}`);
    const missing = ((expected.subjects ?? []) as Subject[]).filter((s) => !have.includes(`${s.kind}/${s.namespace ?? ""}/${s.name}`));
    if (missing.length) {
      next.subjects = [...((existing.subjects ?? []) as Subject[]), ...missing];
      changed = true;
    }
  }
  return changed ? next : undefined;
}

const ignoreExists = (err: unknown) => {
  if (!(err instanceof GantryError && err.code === "ALREADY_EXISTS")) throw err;
};

async function reconcileOne(registry: ObjectRegistry, plural: string, expected: KubeObject): Promise<void> {
  const rt = findResource(RBAC_GROUP, "v1", plural)!;
  const name = expected.metadata.name!;
  const existing = await registry.tryGet(rt, undefined, name);
  if (!existing) return void (await registry.create(rt, undefined, expected).catch(ignoreExists));
  if (!reconciled(existing, expected)) return;
  await registry.mutate(rt, undefined, name, (cur) => reconciled(cur, expected) ?? cur);
}

/** Creates the bootstrap roles and bindings, and puts back what is missing from them (see the top of the file). */
export async function reconcileBootstrapPolicy(registry: ObjectRegistry): Promise<void> {
  for (const r of BOOTSTRAP_CLUSTER_ROLES) await reconcileOne(registry, "clusterroles", bootstrapClusterRole(r));
  for (const b of BOOTSTRAP_CLUSTER_ROLE_BINDINGS) await reconcileOne(registry, "clusterrolebindings", bootstrapClusterRoleBinding(b));
}
