// RBAC's rule arithmetic without a server: matching, subjects, covering and the escalation text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compactRules, compactString, covers, escalationMessage, ruleAllows, ruleAllowsNonResource, subjectMatches, type PolicyRule } from "./rbac-rules.ts";

const r = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule => ({ verbs, apiGroups, resources, resourceNames });

test("a rule matches by verb, group, resource/subresource and name", () => {
  const pods = r(["get", "list"], [""], ["pods", "pods/log"]);
  assert.ok(ruleAllows(pods, { verb: "get", group: "", resource: "pods", namespace: "a", name: "p" }));
  assert.ok(ruleAllows(pods, { verb: "get", group: "", resource: "pods", subresource: "log" }));
  assert.ok(!ruleAllows(pods, { verb: "get", group: "", resource: "pods", subresource: "exec" }));
  assert.ok(!ruleAllows(pods, { verb: "delete", group: "", resource: "pods" }));
  assert.ok(!ruleAllows(pods, { verb: "get", group: "apps", resource: "pods" }));
  assert.ok(ruleAllows(r(["*"], ["*"], ["*"]), { verb: "escalate", group: "rbac.authorization.k8s.io", resource: "roles" }));
  assert.ok(ruleAllows(r(["update"], ["apps"], ["*/scale"]), { verb: "update", group: "apps", resource: "deployments", subresource: "scale" }));
  assert.ok(!ruleAllows(r(["update"], ["apps"], ["*/scale"]), { verb: "update", group: "apps", resource: "deployments" }));
  // resourceNames limit the rule to named requests: a list (no name) is not one.
  const one = r(["get", "list"], [""], ["configmaps"], ["app-config"]);
  assert.ok(ruleAllows(one, { verb: "get", group: "", resource: "configmaps", name: "app-config" }));
  assert.ok(!ruleAllows(one, { verb: "get", group: "", resource: "configmaps", name: "other" }));
  assert.ok(!ruleAllows(one, { verb: "list", group: "", resource: "configmaps" }));
});

test("non-resource URLs match exactly, by a trailing * prefix, or *", () => {
  const rule = { verbs: ["get"], nonResourceURLs: ["/healthz", "/apis/*"] };
  assert.ok(ruleAllowsNonResource(rule, "get", "/healthz"));
  assert.ok(ruleAllowsNonResource(rule, "get", "/apis/apps/v1"));
  assert.ok(!ruleAllowsNonResource(rule, "get", "/healthz/etcd"));
  assert.ok(!ruleAllowsNonResource(rule, "post", "/healthz"));
  assert.ok(ruleAllowsNonResource({ verbs: ["*"], nonResourceURLs: ["*"] }, "delete", "/anything"));
});

test("subjects: users by name, groups by membership, service accounts with the binding's namespace as default", () => {
  const bob = { username: "bob", groups: ["devs", "system:authenticated"] };
  const sa = { username: "system:serviceaccount:app:reader", groups: ["system:serviceaccounts", "system:serviceaccounts:app", "system:authenticated"] };
  assert.ok(subjectMatches({ kind: "User", name: "bob" }, bob, undefined));
  assert.ok(subjectMatches({ kind: "Group", name: "devs" }, bob, undefined));
  assert.ok(!subjectMatches({ kind: "Group", name: "ops" }, bob, undefined));
  assert.ok(subjectMatches({ kind: "ServiceAccount", name: "reader" }, sa, "app"));
  assert.ok(!subjectMatches({ kind: "ServiceAccount", name: "reader" }, sa, "other"));
  assert.ok(!subjectMatches({ kind: "ServiceAccount", name: "reader" }, sa, undefined));
  assert.ok(subjectMatches({ kind: "ServiceAccount", name: "reader", namespace: "app" }, sa, undefined));
  assert.ok(!subjectMatches({ kind: "Robot", name: "bob" }, bob, undefined));
});

test("covers: what an owner's rules grant, piece by piece; the missing pieces compacted as kube prints them", () => {
  const owner = [r(["get", "list", "watch"], [""], ["pods", "configmaps"]), r(["*"], ["apps"], ["deployments"]), r(["get"], [""], ["secrets"], ["one"])];
  assert.ok(covers(owner, [r(["get"], [""], ["pods"])]).covered);
  assert.ok(covers(owner, [r(["delete", "patch"], ["apps"], ["deployments"])]).covered);
  assert.ok(covers(owner, [r(["get"], [""], ["secrets"], ["one"])]).covered);
  // A name-limited grant does not cover the whole resource.
  assert.ok(!covers(owner, [r(["get"], [""], ["secrets"])]).covered);
  const { covered, missing } = covers(owner, [r(["get", "delete"], [""], ["pods", "nodes"]), { verbs: ["get"], nonResourceURLs: ["/metrics"] }]);
  assert.equal(covered, false);
  assert.deepEqual(compactRules(missing).map(compactString), ['{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}', '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}', '{NonResourceURLs:["/metrics"], Verbs:["get"]}']);
  assert.equal(
    escalationMessage({ username: "bob", groups: ["devs", "system:authenticated"] }, missing),
    'user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n{NonResourceURLs:["/metrics"], Verbs:["get"]}',
  );
  // "*/scale" covers every resource's scale subresource, and nothing else.
  assert.ok(covers([r(["update"], ["apps"], ["*/scale"])], [r(["update"], ["apps"], ["deployments/scale", "statefulsets/scale"])]).covered);
  assert.ok(!covers([r(["update"], ["apps"], ["*/scale"])], [r(["update"], ["apps"], ["deployments"])]).covered);
});
