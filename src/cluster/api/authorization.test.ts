import { test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_USER, nodeUser } from "./authentication.ts";
import { authorize, errRequestForbidden, type ResourceAttributes } from "./authorization.ts";
import type { KubeObject } from "./objects.ts";

const a = nodeUser("a");
const can = (attrs: ResourceAttributes) => authorize(a, attrs).allowed;
const pod = (nodeName: string): KubeObject => ({ metadata: { name: "p" }, spec: { nodeName } });

test("the admin may do everything; nobody else without a node identity may do anything", () => {
  assert.ok(authorize(ADMIN_USER, { verb: "delete", group: "", resource: "nodes", name: "x" }).allowed);
  assert.equal(authorize({ username: "someone", groups: [] }, { verb: "get", group: "", resource: "pods" }).allowed, false);
});

test("a node reads the kinds a kubelet reads, and writes only its own Node, Lease and pods", () => {
  for (const resource of ["nodes", "pods", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes", "namespaces"]) {
    for (const verb of ["get", "list", "watch"]) assert.ok(can({ verb, group: "", resource }), `${verb} ${resource}`);
  }
  assert.ok(can({ verb: "list", group: "discovery.k8s.io", resource: "endpointslices" }));
  assert.ok(can({ verb: "watch", group: "networking.k8s.io", resource: "networkpolicies" }));
  assert.equal(can({ verb: "list", group: "apps", resource: "deployments" }), false);
  assert.equal(can({ verb: "create", group: "apps", resource: "deployments", namespace: "default" }), false);
  assert.equal(can({ verb: "get", group: "", resource: "pods", subresource: "log", name: "p" }), false);

  assert.ok(can({ verb: "update", group: "", resource: "nodes", name: "a" }));
  assert.ok(can({ verb: "patch", group: "", resource: "nodes", subresource: "status", name: "a" }));
  assert.equal(can({ verb: "update", group: "", resource: "nodes", name: "b" }), false);
  assert.equal(can({ verb: "delete", group: "", resource: "nodes", name: "a" }), false);
  const create = authorize(a, { verb: "create", group: "", resource: "nodes" });
  assert.ok(create.allowed && create.grant.created);
  assert.ok(create.grant.created.allows({ metadata: { name: "a" } }));
  assert.equal(create.grant.created.allows({ metadata: { name: "b" } }), false);

  const lease = { group: "coordination.k8s.io", resource: "leases", namespace: "kube-node-lease" };
  assert.ok(can({ ...lease, verb: "get", name: "a" }));
  assert.ok(can({ ...lease, verb: "update", name: "a" }));
  assert.equal(can({ ...lease, verb: "update", name: "b" }), false);
  assert.equal(can({ ...lease, verb: "get", name: "a", namespace: "default" }), false);

  const status = authorize(a, { verb: "update", group: "", resource: "pods", subresource: "status", namespace: "default", name: "p" });
  assert.ok(status.allowed && status.grant.stored);
  assert.ok(status.grant.stored.allows(pod("a")));
  assert.equal(status.grant.stored.allows(pod("b")), false);
  assert.equal(can({ verb: "update", group: "", resource: "pods", namespace: "default", name: "p" }), false);
  assert.equal(can({ verb: "create", group: "", resource: "pods", namespace: "default" }), false);
  assert.ok(can({ verb: "create", group: "", resource: "events", namespace: "default" }));
  assert.equal(can({ verb: "create", group: "", resource: "secrets", namespace: "kube-system" }), false);
});

test("node-token Secrets are hidden from a node's reads", () => {
  const d = authorize(a, { verb: "list", group: "", resource: "secrets", namespace: "kube-system" });
  assert.ok(d.allowed);
  assert.equal(d.grant.fieldSelector, "type!=gantry.io/node-token");
  assert.equal(d.grant.stored!.allows({ metadata: { name: "node-token-abcdef" }, type: "gantry.io/node-token" }), false);
  assert.ok(d.grant.stored!.allows({ metadata: { name: "s" }, type: "Opaque" }));
});

test("a refusal reads like Kubernetes'", () => {
  assert.equal(
    errRequestForbidden(a, { verb: "delete", group: "", resource: "nodes", name: "x" }, "").message,
    'nodes "x" is forbidden: User "system:node:a" cannot delete resource "nodes" in API group "" at the cluster scope',
  );
  const e = errRequestForbidden(a, { verb: "create", group: "apps", resource: "deployments", namespace: "default" }, "");
  assert.equal(e.message, 'deployments.apps is forbidden: User "system:node:a" cannot create resource "deployments" in API group "apps" in the namespace "default"');
  assert.equal(e.status, 403);
  assert.equal(e.reason, "Forbidden");
});

test("binding and eviction are the admin's (the scheduler and drain), not a node's", () => {
  for (const sub of ["binding", "eviction"]) {
    assert.equal(can({ verb: "create", group: "", resource: "pods", subresource: sub, namespace: "default", name: "p" }), false, sub);
    assert.ok(authorize(ADMIN_USER, { verb: "create", group: "", resource: "pods", subresource: sub, namespace: "default", name: "p" }).allowed);
  }
  assert.equal(can({ verb: "create", group: "", resource: "bindings", namespace: "default" }), false);
  assert.equal(can({ verb: "list", group: "policy", resource: "poddisruptionbudgets" }), false);
});

test("a node is its own local-path provisioner: it reads StorageClasses, creates and deletes only PersistentVolumes pinned to it alone", () => {
  assert.ok(can({ verb: "list", group: "storage.k8s.io", resource: "storageclasses" }));
  assert.equal(can({ verb: "create", group: "storage.k8s.io", resource: "storageclasses" }), false);
  const pinned = (...values: string[]): KubeObject => ({ metadata: { name: "pv" }, spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values }] }] } } } });
  const create = authorize(a, { verb: "create", group: "", resource: "persistentvolumes" });
  assert.ok(create.allowed && create.grant.created);
  assert.ok(create.grant.created.allows(pinned("a")));
  assert.equal(create.grant.created.allows(pinned("b")), false);
  assert.equal(create.grant.created.allows(pinned("a", "b")), false, "shared with another node");
  assert.equal(create.grant.created.allows({ metadata: { name: "pv" }, spec: {} }), false, "not pinned at all");
  const del = authorize(a, { verb: "delete", group: "", resource: "persistentvolumes", name: "pv" });
  assert.ok(del.allowed && del.grant.stored?.allows(pinned("a")));
  assert.equal(del.allowed && del.grant.stored?.allows(pinned("b")), false);
  assert.equal(can({ verb: "update", group: "", resource: "persistentvolumes", name: "pv" }), false);
});
