import { test } from "node:test";
import assert from "node:assert/strict";
import { podRequests } from "./requests.ts";
import type { Pod } from "./_types.ts";

const c = (cpu?: string, memory?: string, restartPolicy?: string) => ({ name: "c", restartPolicy, resources: { requests: { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) } } });

test("app containers add up; the largest init container wins when it is bigger; overhead comes on top", () => {
  const pod: Pod = { metadata: {}, spec: { containers: [c("100m", "64Mi"), c("200m", "64Mi")], initContainers: [c("500m", "32Mi"), c("50m", "1Gi")], overhead: { cpu: "10m", memory: "1Mi" } } };
  const r = podRequests(pod);
  assert.equal(r.milliCpu, 510);
  assert.equal(r.memory, 2 ** 30 + 2 ** 20);
});

test("a sidecar (init container with restartPolicy Always) adds to the app containers and to later init containers", () => {
  const pod: Pod = { metadata: {}, spec: { containers: [c("100m")], initContainers: [c("200m", undefined, "Always"), c("250m")] } };
  // Init phase: sidecar 200m + init 250m = 450m; running: 100m + 200m = 300m.
  assert.equal(podRequests(pod).milliCpu, 450);
  const after: Pod = { metadata: {}, spec: { containers: [c("100m")], initContainers: [c("250m"), c("200m", undefined, "Always")] } };
  assert.equal(podRequests(after).milliCpu, 300);
});

test("a limit without a request asks for the limit; scoring counts missing requests as 100m and 200Mi", () => {
  const pod: Pod = { metadata: {}, spec: { containers: [{ name: "a", resources: { limits: { cpu: "300m" } } }, { name: "b" }] } };
  assert.equal(podRequests(pod).milliCpu, 300);
  assert.equal(podRequests(pod).memory, 0);
  const nz = podRequests(pod, { nonZero: true });
  assert.equal(nz.milliCpu, 400);
  assert.equal(nz.memory, 2 * 200 * 1024 * 1024);
});

test("extended resources are counted by name", () => {
  const pod: Pod = { metadata: {}, spec: { containers: [{ name: "a", resources: { requests: { "example.com/gpu": "2" } } }, { name: "b", resources: { limits: { "example.com/gpu": 1 } } }] } };
  assert.deepEqual(podRequests(pod).scalar, { "example.com/gpu": 3 });
});
