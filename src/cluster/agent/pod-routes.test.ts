import { test } from "node:test";
import assert from "node:assert/strict";
import { desiredPodRoutes, planPodRoutes } from "./pod-routes.ts";

const node = (name: string, podCIDR?: string, ip?: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  spec: podCIDR ? { podCIDR } : {},
  status: { addresses: ip ? [{ type: "Hostname", address: name }, { type: "InternalIP", address: ip }] : [] },
});

test("routes go to every other node with a podCIDR and an InternalIP, never to this node", () => {
  const nodes = [node("a", "10.42.0.0/24", "172.28.5.2"), node("b", "10.42.1.0/24", "172.28.5.3"), node("c", undefined, "172.28.5.4"), node("d", "10.42.3.0/24")];
  assert.deepEqual(desiredPodRoutes(nodes, "a"), [{ dst: "10.42.1.0/24", via: "172.28.5.3" }]);
});

test("the plan replaces missing and moved routes and removes those of nodes gone", () => {
  const current = [
    { dst: "10.42.1.0/24", via: "172.28.5.3" },
    { dst: "10.42.2.0/24", via: "172.28.5.9" },
    { dst: "10.42.7.0/24", via: "172.28.5.7" },
  ];
  const desired = [
    { dst: "10.42.1.0/24", via: "172.28.5.3" },
    { dst: "10.42.2.0/24", via: "172.28.5.4" },
    { dst: "10.42.5.0/24", via: "172.28.5.5" },
  ];
  assert.deepEqual(planPodRoutes(current, desired), {
    replace: [{ dst: "10.42.2.0/24", via: "172.28.5.4" }, { dst: "10.42.5.0/24", via: "172.28.5.5" }],
    remove: [{ dst: "10.42.7.0/24", via: "172.28.5.7" }],
  });
});
