import { test } from "node:test";
import assert from "node:assert/strict";
import { podQosClass } from "./pod-qos.ts";

const c = (resources: Record<string, Record<string, string>>) => ({ name: "c", resources });

test("Guaranteed needs cpu and memory limits equal to requests in every container, init containers too", () => {
  assert.equal(podQosClass({ containers: [c({ limits: { cpu: "1", memory: "1Gi" } })] }), "Guaranteed");
  assert.equal(podQosClass({ containers: [c({ requests: { cpu: "1000m", memory: "1Gi" }, limits: { cpu: "1", memory: "1024Mi" } })] }), "Guaranteed");
  assert.equal(podQosClass({ containers: [c({ limits: { cpu: "1", memory: "1Gi" } })], initContainers: [c({ requests: { cpu: "100m" } })] }), "Burstable");
  assert.equal(podQosClass({ containers: [c({ requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } })] }), "Burstable");
  assert.equal(podQosClass({ containers: [c({ limits: { cpu: "1" } })] }), "Burstable");
});

test("BestEffort when nothing asks for a non-zero cpu or memory; other resources do not count", () => {
  assert.equal(podQosClass({ containers: [c({})] }), "BestEffort");
  assert.equal(podQosClass({ containers: [{ name: "c" }] }), "BestEffort");
  assert.equal(podQosClass({ containers: [c({ requests: { cpu: "0", memory: "0" } })] }), "BestEffort");
  assert.equal(podQosClass({ containers: [c({ requests: { "ephemeral-storage": "1Gi" } })] }), "BestEffort");
  assert.equal(podQosClass({}), "BestEffort");
});
