// RBAC end to end with the real kubectl: users from a static token file (--token-auth-file)
// bound to the bootstrap roles; what view allows and refuses with kube-apiserver's exact
// Forbidden text; `kubectl auth can-i` (plain, --list, --as); escalation prevention for roles
// and bindings; impersonation refused without the verb and allowed with it; aggregation
// filling view/edit/admin; reconciliation of the bootstrap policy; a chart-like manifest;
// and the small items of the same issue (ParseBool query flags, bodies ending in "\n").
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:https";
import { reconcileBootstrapPolicy } from "../../src/cluster/api/rbac-bootstrap.ts";
import { parseTokenAuthFile } from "../../src/cluster/api/token-file.ts";
import { findResource } from "../../src/cluster/api/resources.ts";
import { kubectlMissing, startTestCluster, writeTokenKubeconfig, type TestCluster } from "./_server.ts";

const TOKENS = {
  viewer: "viewer-token-0123456789",
  editor: "editor-token-0123456789",
  imp: "imp-token-0123456789",
};

const CHART = `apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods}
subjects:
- kind: ServiceAccount
  name: reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: reader
      containers: [{name: web, image: busybox}]
`;

describe("RBAC", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  const kubeconfigs: Record<string, string> = {};
  const admin = async (...args: string[]) => c.ok(...args);
  const as = (who: keyof typeof TOKENS, args: string[], input?: string) => c.kubectl(args, { input, env: { KUBECONFIG: kubeconfigs[who]! } });
  const refused = async (who: keyof typeof TOKENS, args: string[], message: string, input?: string) => {
    const r = await as(who, args, input);
    assert.notEqual(r.code, 0, `kubectl (as ${who}) ${args.join(" ")} should have been refused:\n${r.stdout}`);
    assert.ok(r.stderr.includes(message), `kubectl (as ${who}) ${args.join(" ")}:\nwanted: ${message}\ngot:    ${r.stderr}`);
  };
  const allowed = async (who: keyof typeof TOKENS, args: string[], input?: string) => {
    const r = await as(who, args, input);
    assert.equal(r.code, 0, `kubectl (as ${who}) ${args.join(" ")} failed:\n${r.stderr}`);
    return r.stdout;
  };
  /** Waits until CHECK passes (the aggregation controller works asynchronously). */
  const eventually = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 300; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  };

  before(async () => {
    c = await startTestCluster({
      tokenAuthFile: (dir) => {
        const path = join(dir, "tokens.csv");
        writeFileSync(path, `# test users\n${TOKENS.viewer},viewer,uid-1\n${TOKENS.editor},editor,uid-2,"devs"\n${TOKENS.imp},imp,uid-3,"ops,devs"\n`);
        return path;
      },
    });
    for (const who of Object.keys(TOKENS) as (keyof typeof TOKENS)[]) kubeconfigs[who] = writeTokenKubeconfig(c, who, TOKENS[who]);
    await admin("create", "namespace", "app");
    await admin("-n", "app", "create", "rolebinding", "viewer-view", "--clusterrole=view", "--user=viewer");
    await admin("-n", "app", "create", "rolebinding", "editor-admin", "--clusterrole=admin", "--user=editor");
    // view's rules come from the aggregation controller.
    await eventually("view to be aggregated", async () => JSON.stringify(JSON.parse(await admin("get", "clusterrole", "view", "-o", "json")).rules ?? []).includes('"pods"'));
  });
  after(async () => {
    await c?.stop();
  });

  test("a chart-like manifest (ServiceAccount, Role, RoleBinding, Deployment) applies; kubectl prints the RBAC kinds' columns", async () => {
    const r = await c.kubectl(["-n", "app", "apply", "-f", "-"], { input: CHART });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /serviceaccount\/reader created/);
    assert.match(r.stdout, /role.rbac.authorization.k8s.io\/pod-reader created/);
    assert.match(r.stdout, /rolebinding.rbac.authorization.k8s.io\/reader-reads-pods created/);
    assert.match(r.stdout, /deployment.apps\/web created/);
    assert.match(await admin("-n", "app", "get", "roles"), /^NAME\s+CREATED AT\npod-reader\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    // A ServiceAccount subject without a namespace means the binding's (filled in when authorizing, not stored).
    assert.match(await admin("-n", "app", "get", "rolebindings", "-o", "wide"), /^reader-reads-pods\s+Role\/pod-reader\s+\S+\s+\/reader\s*$/m);
    assert.match(await admin("-n", "app", "get", "rolebindings", "-o", "wide"), /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/m);
    assert.match(await admin("get", "clusterrolebinding", "cluster-admin", "-o", "wide"), /cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters/);
    // The ServiceAccount subject got no apiGroup; a User subject gets the RBAC group by default.
    const rb = JSON.parse(await admin("-n", "app", "get", "rolebinding", "viewer-view", "-o", "json"));
    assert.deepEqual(rb.subjects, [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "viewer" }]);
    assert.equal(JSON.parse(await admin("-n", "app", "get", "rolebinding", "reader-reads-pods", "-o", "json")).subjects[0].apiGroup, undefined);
  });

  test("kubectl auth reconcile adds what a role or binding lacks; describe prints rules and subjects", async () => {
    const manifest = `apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: cm-reader, namespace: app}\nrules:\n- apiGroups: [""]\n  resources: [configmaps]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: cm-readers, namespace: app}\nsubjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}\n`;
    let r = await c.kubectl(["auth", "reconcile", "-f", "-"], { input: manifest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /role.rbac.authorization.k8s.io\/cm-reader reconciled/);
    await admin("-n", "app", "patch", "role", "cm-reader", "--type=json", "-p", '[{"op":"replace","path":"/rules/0/verbs","value":["get"]}]');
    r = await c.kubectl(["auth", "reconcile", "-f", "-"], { input: manifest });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /missing rules added:\n\s+\{Verbs:\[list\]/);
    assert.match(await admin("-n", "app", "describe", "role", "cm-reader"), /^\s+configmaps\s+\[\]\s+\[\]\s+\[get list\]$/m);
    assert.match(await admin("-n", "app", "describe", "rolebinding", "cm-readers"), /Kind:\s+Role\n\s+Name:\s+cm-reader[^]*Group\s+devs/);
  });

  test("invalid roles and bindings are refused with kube's field errors; a binding's roleRef is fixed", async () => {
    const bad = await c.kubectl(["-n", "app", "apply", "-f", "-"], { input: `apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: bad}\nrules:\n- resources: [pods]\n  verbs: []\n- nonResourceURLs: ["/healthz"]\n  verbs: [get]\n` });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /rules\[0\]\.verbs: Required value: verbs must contain at least one value/);
    assert.match(bad.stderr, /rules\[0\]\.apiGroups: Required value: resource rules must supply at least one api group/);
    assert.match(bad.stderr, /rules\[1\]\.nonResourceURLs: Invalid value: .*namespaced rules cannot apply to non-resource URLs/);
    const crb = await c.kubectl(["apply", "-f", "-"], { input: `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: bad}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}\nsubjects: [{kind: ServiceAccount, name: sa}]\n` });
    assert.notEqual(crb.code, 0);
    assert.match(crb.stderr, /roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"/);
    assert.match(crb.stderr, /subjects\[0\].namespace: Required value/);
    const patch = await c.kubectl(["-n", "app", "patch", "rolebinding", "viewer-view", "--type=merge", "-p", '{"roleRef":{"name":"edit"}}']);
    assert.notEqual(patch.code, 0);
    assert.match(patch.stderr, /roleRef: Invalid value: .*cannot change roleRef/);
    assert.equal(await c.server.store.count("/registry/rbac.authorization.k8s.io/roles/app/bad"), 0);
  });

  test("a user bound to view lists pods and is refused writes with kube-apiserver's exact Forbidden text", async () => {
    assert.match(await allowed("viewer", ["-n", "app", "get", "deployments"]), /^web\s/m);
    await allowed("viewer", ["-n", "app", "get", "pods"]);
    await refused("viewer", ["-n", "app", "run", "sneaky", "--image=busybox"], 'Error from server (Forbidden): pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "app"');
    await refused("viewer", ["get", "nodes"], 'Error from server (Forbidden): nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope');
    await refused("viewer", ["-n", "app", "scale", "deployment", "web", "--replicas=2"], 'deployments.apps "web" is forbidden: User "viewer" cannot patch resource "deployments/scale" in API group "apps" in the namespace "app"');
    await refused("viewer", ["-n", "default", "get", "pods"], 'pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "default"');
    await refused("viewer", ["-n", "app", "get", "secrets"], 'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "app"');
    // The raw Status: reason, code, details, and the newline kube-apiserver ends bodies with.
    const raw = await c.raw("POST", "/api/v1/namespaces/app/configmaps", { token: TOKENS.viewer, body: JSON.stringify({ metadata: { name: "x" } }), headers: { "Content-Type": "application/json" } });
    assert.equal(raw.status, 403);
    assert.ok(raw.body.endsWith("}\n"), JSON.stringify(raw.body));
    const status = JSON.parse(raw.body);
    assert.deepEqual({ reason: status.reason, code: status.code, details: status.details }, { reason: "Forbidden", code: 403, details: { kind: "configmaps" } });
    assert.equal(status.message, 'configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" in the namespace "app"');
    assert.equal(await c.server.store.count("/registry/core/pods/app/sneaky"), 0);
    // A binding takes effect on the next request; its removal once the server's RBAC cache
    // has seen it (a watch's delay, as in Kubernetes).
    await admin("-n", "default", "create", "rolebinding", "viewer-view", "--clusterrole=view", "--user=viewer");
    await allowed("viewer", ["-n", "default", "get", "pods"]);
    await admin("-n", "default", "delete", "rolebinding", "viewer-view");
    await eventually("the removed binding to stop counting", async () => (await as("viewer", ["-n", "default", "get", "pods"])).code !== 0);
    await refused("viewer", ["-n", "default", "get", "pods"], "cannot list resource");
  });

  test("a token from `kubectl create token reader` acts as the ServiceAccount: its RoleBinding lets it read pods, nothing more", async () => {
    const token = (await admin("-n", "app", "create", "token", "reader")).trim();
    const kubeconfig = writeTokenKubeconfig(c, "reader", token);
    const asReader = (args: string[]) => c.kubectl(args, { env: { KUBECONFIG: kubeconfig } });
    const pods = await asReader(["-n", "app", "get", "pods"]);
    assert.equal(pods.code, 0, pods.stderr);
    const run = await asReader(["-n", "app", "run", "x", "--image=busybox"]);
    assert.notEqual(run.code, 0);
    assert.ok(run.stderr.includes('Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:app:reader" cannot create resource "pods" in API group "" in the namespace "app"'), run.stderr);
    assert.match((await asReader(["-n", "app", "auth", "can-i", "get", "pods", "--subresource=log"])).stdout, /^yes/);
    assert.match((await asReader(["-n", "default", "auth", "can-i", "get", "pods"])).stdout, /^no/);
    // Bound by group: every service account of the namespace (system:serviceaccounts:app).
    await admin("-n", "app", "create", "rolebinding", "sas-see-configmaps", "--clusterrole=view", "--group=system:serviceaccounts:app");
    assert.equal((await asReader(["-n", "app", "get", "configmaps", "-o", "name"])).code, 0);
    await admin("-n", "app", "delete", "rolebinding", "sas-see-configmaps");
  });

  test("SubjectAccessReview and LocalSubjectAccessReview answer for another user; only those allowed to create them may ask", async () => {
    const sar = (user: string, ra: Record<string, string>) => JSON.stringify({ apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user, groups: ["system:authenticated"], resourceAttributes: ra } });
    const post = (path: string, body: string, token?: string) => c.raw("POST", path, { body, token, headers: { "Content-Type": "application/json" } });
    let r = await post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar("viewer", { namespace: "app", verb: "list", resource: "pods" }));
    assert.equal(r.status, 201, r.body);
    assert.equal(JSON.parse(r.body).status.allowed, true);
    r = await post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar("viewer", { namespace: "app", verb: "delete", resource: "pods" }));
    assert.equal(JSON.parse(r.body).status.allowed, false);
    r = await post("/apis/authorization.k8s.io/v1/subjectaccessreviews", sar("viewer", { namespace: "app", verb: "list", resource: "pods" }), TOKENS.viewer);
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).message, 'subjectaccessreviews.authorization.k8s.io is forbidden: User "viewer" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope');
    // A namespace admin (the admin role aggregates localsubjectaccessreviews) asks in its namespace.
    const local = (ns: string) => JSON.stringify({ apiVersion: "authorization.k8s.io/v1", kind: "LocalSubjectAccessReview", metadata: { namespace: "app" }, spec: { user: "viewer", resourceAttributes: { namespace: ns, verb: "get", resource: "pods" } } });
    r = await post("/apis/authorization.k8s.io/v1/namespaces/app/localsubjectaccessreviews", local("app"), TOKENS.editor);
    assert.equal(r.status, 201, r.body);
    assert.equal(JSON.parse(r.body).status.allowed, true);
    r = await post("/apis/authorization.k8s.io/v1/namespaces/app/localsubjectaccessreviews", local("default"), TOKENS.editor);
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).message, /spec.resourceAttributes.namespace must match namespace: app/);
    r = await post("/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews", local("default").replace('"app"', '"default"'), TOKENS.editor);
    assert.equal(r.status, 403);
  });

  test("kubectl auth can-i answers from RBAC, with --list and --as", async () => {
    assert.equal((await allowed("viewer", ["-n", "app", "auth", "can-i", "list", "pods"])).trim(), "yes");
    assert.match((await as("viewer", ["-n", "app", "auth", "can-i", "create", "pods"])).stdout, /^no/);
    assert.match((await as("viewer", ["-n", "app", "auth", "can-i", "get", "pods", "--subresource=log"])).stdout, /^yes/);
    assert.equal((await admin("-n", "app", "auth", "can-i", "delete", "pods", "--as", "editor")).trim(), "yes");
    assert.match((await c.kubectl(["-n", "app", "auth", "can-i", "delete", "pods", "--as", "viewer"])).stdout, /^no/);
    const list = await admin("-n", "app", "auth", "can-i", "--list", "--as", "viewer");
    assert.match(list, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    assert.match(list, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(list, /^deployments.apps\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(list, /^selfsubjectaccessreviews.authorization.k8s.io\s+\[\]\s+\[\]\s+\[create\]$/m);
    assert.match(list, /^\s+\[\/api\/\*\]\s+\[\]\s+\[get\]$/m);
    assert.doesNotMatch(list, /^secrets\s/m);
    // The reviews are in discovery, as kube-apiserver lists them, so kubectl resolves their names.
    const reviews = await admin("api-resources", "--api-group=authorization.k8s.io");
    assert.match(reviews, /^localsubjectaccessreviews\s+authorization.k8s.io\/v1\s+true\s+LocalSubjectAccessReview$/m);
    assert.match(reviews, /^selfsubjectrulesreviews\s+authorization.k8s.io\/v1\s+false\s+SelfSubjectRulesReview$/m);
    const basic = await as("viewer", ["auth", "can-i", "create", "selfsubjectrulesreviews"]);
    assert.equal(basic.stdout.trim(), "yes");
    assert.doesNotMatch(basic.stderr, /doesn't have a resource type/);
    assert.match((await as("viewer", ["auth", "can-i", "create", "subjectaccessreviews"])).stdout, /^no/);
    // The admin (system:masters) holds everything, through the cluster-admin binding.
    assert.match(await admin("auth", "can-i", "--list"), /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
  });

  test("escalation: a namespace admin may grant what it holds, not more, unless it may escalate or bind", async () => {
    const role = (name: string, rules: string) => `apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: ${name}, namespace: app}\nrules:\n${rules}`;
    await allowed("editor", ["apply", "-f", "-"], role("pod-writer", `- apiGroups: [""]\n  resources: [pods]\n  verbs: [create, delete]\n`));
    const msg = `roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "editor" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}`;
    await refused("editor", ["apply", "-f", "-"], msg, role("node-reader", `- apiGroups: [""]\n  resources: [nodes, pods]\n  verbs: [get, list]\n`));
    await allowed("editor", ["-n", "app", "create", "rolebinding", "viewer-writes", "--role=pod-writer", "--user=viewer"]);
    await refused(
      "editor",
      ["-n", "app", "create", "rolebinding", "viewer-root", "--clusterrole=cluster-admin", "--user=viewer"],
      `rolebindings.rbac.authorization.k8s.io "viewer-root" is forbidden: user "editor" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}`,
    );
    assert.equal(await c.server.store.count("/registry/rbac.authorization.k8s.io/rolebindings/app/viewer-root"), 0);
    assert.equal(await c.server.store.count("/registry/rbac.authorization.k8s.io/roles/app/node-reader"), 0);
    // Updating a role to grant more is refused the same way.
    await refused("editor", ["-n", "app", "patch", "role", "pod-writer", "--type=json", "-p", '[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["nodes"],"verbs":["get"]}}]'], "is attempting to grant RBAC permissions not currently held");
    // With `bind` on cluster-admin (and only that), the binding goes through.
    await admin("create", "clusterrole", "bind-root", "--verb=bind", "--resource=clusterroles", "--resource-name=cluster-admin");
    await admin("create", "clusterrolebinding", "editor-binds-root", "--clusterrole=bind-root", "--user=editor");
    await allowed("editor", ["-n", "app", "create", "rolebinding", "viewer-root", "--clusterrole=cluster-admin", "--user=viewer"]);
    assert.equal((await allowed("viewer", ["-n", "app", "auth", "can-i", "delete", "secrets"])).trim(), "yes");
    await admin("-n", "app", "delete", "rolebinding", "viewer-root", "viewer-writes");
    // A ClusterRoleBinding is checked against cluster-wide rules only: a namespace admin holds none.
    await admin("delete", "clusterrolebinding", "editor-binds-root");
    await refused("editor", ["create", "clusterrolebinding", "viewer-views-all", "--clusterrole=view", "--user=viewer"], 'clusterrolebindings.rbac.authorization.k8s.io is forbidden: User "editor" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope');
    await admin("create", "clusterrole", "crb-writer", "--verb=create", "--resource=clusterrolebindings.rbac.authorization.k8s.io");
    await admin("create", "clusterrolebinding", "editor-writes-crbs", "--clusterrole=crb-writer", "--user=editor");
    await refused("editor", ["create", "clusterrolebinding", "viewer-views-all", "--clusterrole=view", "--user=viewer"], 'clusterrolebindings.rbac.authorization.k8s.io "viewer-views-all" is forbidden: user "editor" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["bindings"], Verbs:["get" "list" "watch"]}\n{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list" "watch"]}\n');
    await admin("delete", "clusterrolebinding", "editor-writes-crbs");
  });

  test("impersonation is refused without the impersonate verb and works with it (kubectl --as)", async () => {
    await refused("imp", ["-n", "app", "get", "pods", "--as", "viewer"], 'users "viewer" is forbidden: User "imp" cannot impersonate resource "users" in API group "" at the cluster scope');
    await refused("imp", ["-n", "app", "get", "pods", "--as", "system:serviceaccount:app:reader"], 'serviceaccounts "reader" is forbidden: User "imp" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "app"');
    await admin("create", "clusterrole", "impersonator", "--verb=impersonate", "--resource=users", "--resource-name=viewer");
    await admin("create", "clusterrolebinding", "imp-impersonates", "--clusterrole=impersonator", "--group=ops");
    await allowed("imp", ["-n", "app", "get", "pods", "--as", "viewer"]);
    assert.match(await allowed("imp", ["auth", "whoami", "--as", "viewer"]), /Username\s+viewer\n\s*Groups\s+\[system:authenticated\]/);
    // The impersonated user's own rights apply, not the impersonator's.
    await refused("imp", ["-n", "app", "run", "x", "--image=busybox", "--as", "viewer"], 'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "app"');
    // Groups need their own grant.
    await refused("imp", ["-n", "app", "get", "pods", "--as", "viewer", "--as-group", "system:masters"], 'groups "system:masters" is forbidden: User "imp" cannot impersonate resource "groups" in API group "" at the cluster scope');
    // A uid and extra fields each need their own grant too (authentication.k8s.io uids, userextras/KEY).
    await refused("imp", ["-n", "app", "get", "pods", "--as", "viewer", "--as-uid", "u-1"], 'uids.authentication.k8s.io "u-1" is forbidden: User "imp" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope');
    const extra = await c.raw("GET", "/api/v1/namespaces/app/pods", { token: TOKENS.imp, headers: { "Impersonate-User": "viewer", "Impersonate-Extra-Scopes": "view" } });
    assert.equal(extra.status, 403);
    assert.equal(JSON.parse(extra.body).message, 'userextras.authentication.k8s.io "view" is forbidden: User "imp" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope');
    const noUser = await c.raw("GET", "/api/v1/namespaces/app/pods", { token: TOKENS.imp, headers: { "Impersonate-Group": "ops" } });
    assert.equal(noUser.status, 400);
    const uids = await c.kubectl(["apply", "-f", "-"], { input: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: impersonate-uids}\nrules:\n- apiGroups: [authentication.k8s.io]\n  resources: [uids]\n  verbs: [impersonate]\n" });
    assert.equal(uids.code, 0, uids.stderr);
    await admin("create", "clusterrolebinding", "imp-impersonates-uids", "--clusterrole=impersonate-uids", "--user=imp");
    assert.match(await allowed("imp", ["auth", "whoami", "--as", "viewer", "--as-uid", "u-1"]), /UID\s+u-1/);
    // The admin may impersonate anyone: a ServiceAccount bound by the chart reads pods, and nothing else.
    await admin("-n", "app", "get", "pods", "--as", "system:serviceaccount:app:reader");
    assert.match((await c.kubectl(["-n", "app", "get", "deployments", "--as", "system:serviceaccount:app:reader"])).stderr, /User "system:serviceaccount:app:reader" cannot list resource "deployments" in API group "apps" in the namespace "app"/);
  });

  test("aggregation: a ClusterRole labelled aggregate-to-view joins view, edit and admin; removing it takes its rules away", async () => {
    await c.kubectl(["apply", "-f", "-"], {
      input: `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get, list]\n`,
    });
    const has = async (role: string) => JSON.stringify(JSON.parse(await admin("get", "clusterrole", role, "-o", "json")).rules ?? []).includes('"widgets"');
    for (const role of ["view", "edit", "admin"]) await eventually(`${role} to hold widgets`, () => has(role));
    assert.match(await allowed("viewer", ["-n", "app", "auth", "can-i", "--list"]), /^widgets.example.com\s+\[\]\s+\[\]\s+\[get list\]$/m);
    // edit holds view's rules and its own; admin holds edit's and its own.
    const rules = async (role: string) => JSON.stringify(JSON.parse(await admin("get", "clusterrole", role, "-o", "json")).rules);
    assert.match(await rules("edit"), /"deployments\/scale"/);
    assert.match(await rules("admin"), /"rolebindings"/);
    await admin("delete", "clusterrole", "widgets-view");
    await eventually("view to lose widgets", async () => !(await has("view")));
  });

  test("bootstrap policy is reconciled: missing roles and rules come back, additions stay, autoupdate=false is left alone", async () => {
    const crType = findResource("rbac.authorization.k8s.io", "v1", "clusterroles")!;
    await admin("delete", "clusterrolebinding", "system:basic-user");
    await admin("patch", "clusterrole", "system:discovery", "--type=json", "-p", '[{"op":"replace","path":"/rules","value":[{"nonResourceURLs":["/extra"],"verbs":["get"]}]}]');
    await admin("patch", "clusterrole", "system:public-info-viewer", "--type=json", "-p", '[{"op":"replace","path":"/rules","value":[]},{"op":"replace","path":"/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate","value":"false"}]');
    await reconcileBootstrapPolicy(c.server.registry);
    const discovery = (await c.server.registry.get(crType, undefined, "system:discovery")).rules as { nonResourceURLs: string[] }[];
    const urls = discovery.flatMap((r) => r.nonResourceURLs);
    assert.ok(urls.includes("/extra") && urls.includes("/api") && urls.includes("/version"), JSON.stringify(discovery));
    assert.deepEqual((await c.server.registry.get(crType, undefined, "system:public-info-viewer")).rules, []);
    assert.match(await admin("get", "clusterrolebinding", "system:basic-user", "-o", "wide"), /ClusterRole\/system:basic-user\s+\S+\s+\s*system:authenticated/);
  });

  test("watch=True streams events (Go's ParseBool); a value ParseBool refuses is a 400", async () => {
    const chunks: string[] = [];
    const req = request(`${c.server.url}/api/v1/namespaces/app/configmaps?watch=True&allowWatchBookmarks=T`, { headers: { Authorization: `Bearer ${c.server.adminToken}` }, ca: c.server.caCert });
    let seen: () => void = () => {};
    const got = new Promise<void>((resolve) => (seen = resolve));
    const started = new Promise<void>((resolve, reject) => {
      req.on("response", (res) => {
        resolve();
        res.on("data", (d: Buffer) => {
          chunks.push(d.toString());
          if (chunks.join("").includes('"name":"watched"')) seen();
        });
      });
      req.on("error", reject);
    });
    req.end();
    await started;
    await admin("-n", "app", "create", "configmap", "watched");
    await got;
    req.destroy();
    assert.match(chunks.join(""), /^\{"type":"ADDED","object":\{"apiVersion":"v1","kind":"ConfigMap"/m);
    for (const flag of ["watch=1", "watch=t", "watch=TRUE"]) {
      const r = await c.raw("GET", `/api/v1/namespaces/app/configmaps?${flag}&timeoutSeconds=1`);
      assert.equal(r.status, 200);
      assert.match(r.body, /"type":"ADDED"/, flag);
    }
    const list = await c.raw("GET", "/api/v1/namespaces/app/configmaps?watch=F&pretty=0");
    assert.equal(JSON.parse(list.body).kind, "ConfigMapList");
    assert.ok(list.body.endsWith("\n"));
    for (const bad of ["watch=yes", "allowWatchBookmarks=maybe", "pretty=2"]) {
      const r = await c.raw("GET", `/api/v1/namespaces/app/configmaps?${bad}`);
      assert.equal(r.status, 400, bad);
      const s = JSON.parse(r.body);
      assert.equal(s.reason, "BadRequest");
      assert.match(s.message, /^strconv.ParseBool: parsing "(yes|maybe|2)": invalid syntax$/);
      assert.ok(r.body.endsWith("\n"));
    }
  });

  test("discovery is a non-resource path granted by system:discovery: without the binding, kube's path Forbidden", async () => {
    await allowed("viewer", ["get", "--raw", "/apis"]);
    await admin("delete", "clusterrolebinding", "system:discovery");
    try {
      await eventually("discovery to be refused", async () => (await as("viewer", ["get", "--raw", "/apis"])).code !== 0);
      await refused("viewer", ["get", "--raw", "/apis"], 'Error from server (Forbidden): forbidden: User "viewer" cannot get path "/apis"');
      await refused("viewer", ["get", "--raw", "/openapi/v3"], 'forbidden: User "viewer" cannot get path "/openapi/v3"');
      // The admin is not held to RBAC; /version stays public.
      await admin("get", "--raw", "/apis");
      assert.equal((await c.raw("GET", "/version", { token: null })).status, 200);
    } finally {
      await reconcileBootstrapPolicy(c.server.registry);
    }
    await eventually("discovery to be allowed again", async () => (await as("viewer", ["get", "--raw", "/apis"])).code === 0);
  });

  test("the token auth file: users with groups; a malformed file is refused with its line", () => {
    const users = parseTokenAuthFile('t1,alice,1\n\n# c\nt2, bob,2,"a, b"\n');
    assert.deepEqual(users.get("t1"), { username: "alice", uid: "1", groups: ["system:authenticated"] });
    assert.deepEqual(users.get("t2"), { username: "bob", uid: "2", groups: ["a", "b", "system:authenticated"] });
    assert.throws(() => parseTokenAuthFile("t1,alice\n", "f.csv"), /f.csv line 1: expected token,user,uid/);
    assert.throws(() => parseTokenAuthFile('t1,alice,1,"a,b\n', "f.csv"), /f.csv line 1: malformed CSV/);
    assert.throws(() => parseTokenAuthFile("t1,alice,1\nt1,bob,2\n", "f.csv"), /f.csv line 2: the token is already given to user "alice"/);
  });
});
