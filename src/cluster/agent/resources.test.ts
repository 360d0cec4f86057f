import { test } from "node:test";
import assert from "node:assert/strict";
import { containerResources, milliCpuToQuota, milliCpuToShares, podCgroupParent, podCgroupResources, qosClassOf, resourceFieldValue } from "./resources.ts";
import type { Container, Pod } from "./pod-types.ts";

const pod = (...containers: Container["resources"][]): Pod => ({ metadata: { uid: "u1" }, spec: { containers: containers.map((resources, i) => ({ name: `c${i}`, image: "x", resources })) } });

test("QoS class and the pod's cgroup follow the kubelet's rules", () => {
  assert.equal(qosClassOf(pod(undefined, {})), "BestEffort");
  assert.equal(podCgroupParent(pod(undefined)), "/kubepods/besteffort/podu1");
  const g = pod({ limits: { cpu: "500m", memory: "64Mi" } }, { requests: { cpu: "0.5", memory: "64Mi" }, limits: { cpu: "500m", memory: "67108864" } });
  assert.equal(qosClassOf(g), "Guaranteed", "limits alone request the limits; equal quantities in other units match");
  assert.equal(podCgroupParent(g, "/k"), "/k/podu1");
  assert.equal(qosClassOf(pod({ requests: { cpu: "100m" } })), "Burstable");
  assert.equal(qosClassOf(pod({ limits: { cpu: "1", memory: "1Gi" } }, undefined)), "Burstable", "one container without limits");
  const init: Pod = { ...g, spec: { ...g.spec, initContainers: [{ name: "i", image: "x" }] } };
  assert.equal(qosClassOf(init), "Burstable", "init containers count");
});

test("cpu shares, quota and memory limits as the kubelet computes them", () => {
  assert.equal(milliCpuToShares(0), 2);
  assert.equal(milliCpuToShares(1), 2);
  assert.equal(milliCpuToShares(100), 102);
  assert.equal(milliCpuToShares(2000), 2048);
  assert.equal(milliCpuToQuota(0), 0);
  assert.equal(milliCpuToQuota(5), 1000, "at least 1 ms");
  assert.equal(milliCpuToQuota(250), 25_000);
  assert.deepEqual(containerResources({ name: "c", image: "x" }), { CpuShares: 2 });
  assert.deepEqual(containerResources({ name: "c", image: "x", resources: { requests: { cpu: "250m" }, limits: { cpu: "1", memory: "128Mi" } } }), {
    CpuShares: 256,
    CpuQuota: 100_000,
    CpuPeriod: 100_000,
    Memory: 128 * 1024 * 1024,
    MemorySwap: 128 * 1024 * 1024,
  });
  assert.equal(containerResources({ name: "c", image: "x", resources: { limits: { cpu: "2" } } }).CpuShares, 2048, "a limit without a request requests it");
});

test("resourceFieldRef values are rounded up in the divisor's unit; an unset limit is the node's allocatable", () => {
  const c: Container = { name: "c", image: "x", resources: { requests: { cpu: "250m", memory: "100Mi" }, limits: { memory: "1Gi" } } };
  const alloc = { cpu: "4", memory: "8Gi", "ephemeral-storage": "10Gi" };
  assert.equal(resourceFieldValue(c, "requests.cpu", undefined, alloc), "1");
  assert.equal(resourceFieldValue(c, "requests.cpu", "1m", alloc), "250");
  assert.equal(resourceFieldValue(c, "limits.memory", "1Mi", alloc), "1024");
  assert.equal(resourceFieldValue(c, "limits.cpu", undefined, alloc), "4");
  assert.equal(resourceFieldValue(c, "requests.memory", undefined, alloc), String(100 * 1024 * 1024));
});

test("the pod cgroup gets the summed requests and limits, as ResourceConfigForPod", () => {
  assert.deepEqual(podCgroupResources(pod(undefined, {})), { cpu: { shares: 2 } }, "BestEffort: minimum shares only");
  const both = pod({ requests: { cpu: "100m" }, limits: { cpu: "200m", memory: "32Mi" } }, { requests: { cpu: "300m", memory: "16Mi" }, limits: { cpu: "400m", memory: "64Mi" } });
  assert.deepEqual(podCgroupResources(both), { cpu: { shares: 409, quota: 60_000, period: 100_000 }, memory: { limit: 96 * 1024 * 1024 } });
  const oneUnlimited = pod({ requests: { cpu: "250m", memory: "10Mi" }, limits: { memory: "32Mi" } }, { requests: { cpu: "250m" } });
  assert.deepEqual(podCgroupResources(oneUnlimited), { cpu: { shares: 512 } }, "a container without a limit leaves the pod without it");
  const g = pod({ limits: { cpu: "1", memory: "1Gi" } });
  const withInit: Pod = { ...g, spec: { ...g.spec, initContainers: [{ name: "i", image: "x", resources: { limits: { cpu: "2", memory: "2Gi" } } }] } };
  assert.deepEqual(podCgroupResources(withInit), { cpu: { shares: 2048, quota: 200_000, period: 100_000 }, memory: { limit: 2 * 1024 ** 3 } }, "a larger init container sets the pod's amounts");
});
