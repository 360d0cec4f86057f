import { test } from "node:test";
import assert from "node:assert/strict";
import { containerSpec } from "./engine-specs.ts";
import type { Pod } from "./pod-types.ts";

test("a pod's container turns its image's HEALTHCHECK off (probes are the kubelet's)", () => {
  const pod: Pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "web", namespace: "default", uid: "u1" }, spec: { containers: [{ name: "c", image: "busybox" }] } };
  const body = containerSpec(pod, pod.spec.containers[0]!, "busybox:latest", { sandboxId: "s1", cgroupParent: "/kubepods/podu1", attempt: 0, init: false, env: [] });
  assert.deepEqual(body.Healthcheck, { Test: ["NONE"] });
  assert.equal(body.Image, "busybox:latest");
});
