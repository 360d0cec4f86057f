import { test } from "node:test";
import assert from "node:assert/strict";
import { computeQuotaUsed, objectUsage, formatResourceList, quotaMatches } from "./quota.ts";
import type { KubeObject } from "./objects.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const pod = (spec: object, status: object = {}, meta: object = {}): KubeObject => ({ metadata: { name: "p", namespace: "ns", ...meta }, spec, status });
const quota = (hard: Record<string, string>, spec: object = {}): KubeObject => ({ metadata: { name: "q", namespace: "ns" }, spec: { hard, ...spec } });

test("a pod's usage: app containers summed, the largest init container if bigger, sidecars on top, overhead", () => {
  const p = pod({
    initContainers: [
      { name: "init", resources: { requests: { cpu: "2" } } },
      { name: "side", restartPolicy: "Always", resources: { requests: { cpu: "100m", memory: "64Mi" } } },
    ],
    containers: [
      { name: "a", resources: { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } } },
      { name: "b", resources: { requests: { cpu: "250m", memory: "1Gi" } } },
    ],
    overhead: { cpu: "10m" },
  });
  // requests.cpu: max(250m+250m+100m, 2 (init, before the sidecar)) + 10m overhead.
  assert.equal(formatResourceList(objectUsage("", "pods", p, NOW)), "count/pods=1,cpu=2010m,limits.memory=256Mi,memory=1216Mi,pods=1,requests.cpu=2010m,requests.memory=1216Mi");
});

test("finished pods and pods past their deletion grace period do not count", () => {
  const spec = { containers: [{ name: "a", resources: { requests: { cpu: "1" } } }] };
  assert.equal(objectUsage("", "pods", pod(spec, { phase: "Succeeded" }), NOW).size, 0);
  assert.equal(objectUsage("", "pods", pod(spec, {}, { deletionTimestamp: "2025-12-31T23:59:00Z", deletionGracePeriodSeconds: 30 }), NOW).size, 0);
  assert.equal(objectUsage("", "pods", pod(spec, {}, { deletionTimestamp: "2025-12-31T23:59:50Z", deletionGracePeriodSeconds: 30 }), NOW).get("pods")?.q.num, 1n);
});

test("status.used sums every hard name in canonical quantities, zero for what nothing uses", () => {
  const items = ["300m", "700m", "1500m"].map((cpu, i) => pod({ containers: [{ name: "a", resources: { requests: { cpu, memory: "512Mi" } } }] }, {}, { name: `p${i}` }));
  const used = computeQuotaUsed(quota({ pods: "10", "requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "count/configmaps": "3" }), [{ group: "", plural: "pods", items }, { group: "", plural: "configmaps", items: [{ metadata: { name: "c" } }] }], NOW);
  assert.deepEqual(used, { "count/configmaps": "1", "limits.cpu": "0", pods: "3", "requests.cpu": "2500m", "requests.memory": "1536Mi" });
  const services = [{ metadata: { name: "s" }, spec: { type: "NodePort", ports: [{ port: 1 }, { port: 2 }] } }, { metadata: { name: "l" }, spec: { type: "LoadBalancer", ports: [{ port: 1 }] } }];
  assert.deepEqual(computeQuotaUsed(quota({ services: "9", "services.nodeports": "9", "services.loadbalancers": "9" }), [{ group: "", plural: "services", items: services }], NOW), { services: "2", "services.loadbalancers": "1", "services.nodeports": "3" });
});

test("scoped quotas count only the pods in their scopes", () => {
  const bestEffort = pod({ containers: [{ name: "a" }] });
  const burstable = pod({ containers: [{ name: "a", resources: { requests: { cpu: "1" } } }], activeDeadlineSeconds: 60, priorityClassName: "high" });
  assert.equal(quotaMatches(quota({ pods: "1" }, { scopes: ["BestEffort"] }), "", "pods", bestEffort), true);
  assert.equal(quotaMatches(quota({ pods: "1" }, { scopes: ["BestEffort"] }), "", "pods", burstable), false);
  assert.equal(quotaMatches(quota({ pods: "1" }, { scopes: ["Terminating", "NotBestEffort"] }), "", "pods", burstable), true);
  assert.equal(quotaMatches(quota({ pods: "1" }, { scopeSelector: { matchExpressions: [{ scopeName: "PriorityClass", operator: "In", values: ["high"] }] } }), "", "pods", burstable), true);
  assert.equal(quotaMatches(quota({ pods: "1" }, { scopeSelector: { matchExpressions: [{ scopeName: "PriorityClass", operator: "NotIn", values: ["high"] }] } }), "", "pods", burstable), false);
  assert.equal(quotaMatches(quota({ configmaps: "1" }, { scopes: ["BestEffort"] }), "", "configmaps", { metadata: { name: "c" } }), false, "scoped quotas track pods only");
});
