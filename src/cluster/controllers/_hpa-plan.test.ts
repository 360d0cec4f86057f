import { test } from "node:test";
import assert from "node:assert/strict";
import { behaviorWithDefaults, normalizeReplicas, resourceReplicas, type NormalizeInput } from "./_hpa-plan.ts";

const pod = (usage: number | undefined, request = 100, ready = true) => ({ usage, request, ready });

test("replicas = ceil(current × usage/target), with the 0.1 tolerance", () => {
  // 2 pods at 90% of request against 50%: ratio 1.8 → ceil(3.6) = 4
  assert.deepEqual(resourceReplicas(2, [pod(90), pod(90)], { utilization: 50 }), { replicas: 4, utilization: 90, averageUsage: 90 });
  // 54% against 50% is within 10%: no change
  assert.equal(resourceReplicas(2, [pod(54), pod(54)], { utilization: 50 })!.replicas, 2);
  // scale down: 10% against 50% over 4 pods → ceil(0.8) = 1
  assert.equal(resourceReplicas(4, [pod(10), pod(10), pod(10), pod(10)], { utilization: 50 })!.replicas, 1);
  // AverageValue: 300m per pod against 100m → 3×
  assert.equal(resourceReplicas(1, [pod(300)], { averageValue: 100 })!.replicas, 3);
  // no pod has metrics: nothing to compute
  assert.equal(resourceReplicas(1, [pod(undefined)], { utilization: 50 }), undefined);
});

test("pods without metrics move the result the least: 0 when scaling up, their request when scaling down", () => {
  // up: one pod at 200%, one unknown (taken as 0): ratio (200+0)/2/50 = 2 → 4
  assert.equal(resourceReplicas(2, [pod(200), pod(undefined)], { utilization: 50 })!.replicas, 4);
  // down: one at 10%, one unknown (taken as 100%): ratio 55/50 within tolerance → stays
  assert.equal(resourceReplicas(2, [pod(10), pod(undefined)], { utilization: 50 })!.replicas, 2);
  // unready pods count as 0 when scaling up
  assert.equal(resourceReplicas(2, [pod(200), pod(500, 100, false)], { utilization: 50 })!.replicas, 4);
});

const input = (over: Partial<NormalizeInput>): NormalizeInput => ({ nowMs: 1_000_000, currentReplicas: 2, desired: 2, minReplicas: 1, maxReplicas: 10, behavior: behaviorWithDefaults(undefined, 300), recommendations: [], events: [], ...over });

test("scale-down is held by the highest recommendation of the stabilisation window; scale-up is not", () => {
  const recs = [{ atMs: 1_000_000 - 60_000, replicas: 5 }];
  assert.deepEqual(normalizeReplicas(input({ currentReplicas: 5, desired: 1, recommendations: recs })), { replicas: 5, stabilized: true });
  // the window passed: down to min
  assert.equal(normalizeReplicas(input({ currentReplicas: 5, desired: 1, recommendations: [{ atMs: 1_000_000 - 301_000, replicas: 5 }] })).replicas, 1);
  assert.equal(normalizeReplicas(input({ currentReplicas: 2, desired: 6, recommendations: [{ atMs: 999_000, replicas: 1 }] })).replicas, 6);
});

test("min/max and the default scale-up rate (double or +4 per 15 s, whichever is more)", () => {
  assert.deepEqual(normalizeReplicas(input({ currentReplicas: 1, desired: 50 })), { replicas: 5, limitedBy: "ScaleUpLimit", stabilized: false });
  assert.deepEqual(normalizeReplicas(input({ currentReplicas: 1, desired: 50, maxReplicas: 3 })), { replicas: 3, limitedBy: "TooManyReplicas", stabilized: false });
  // +4 already happened in this period: no more until it passes
  assert.equal(normalizeReplicas(input({ currentReplicas: 5, desired: 50, events: [{ atMs: 995_000, change: 4 }] })).replicas, 5);
  // once the period has passed, from 5: double (10) beats +4 (9)
  assert.equal(normalizeReplicas(input({ currentReplicas: 5, desired: 50, events: [{ atMs: 980_000, change: 4 }] })).replicas, 10);
  const pods1 = behaviorWithDefaults({ scaleUp: { policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } }, 300);
  assert.equal(normalizeReplicas(input({ currentReplicas: 3, desired: 9, behavior: pods1, events: [{ atMs: 990_000, change: 1 }] })).replicas, 3);
  const disabled = behaviorWithDefaults({ scaleDown: { selectPolicy: "Disabled" } }, 0);
  assert.equal(normalizeReplicas(input({ currentReplicas: 4, desired: 1, behavior: disabled })).replicas, 4);
  assert.deepEqual(normalizeReplicas(input({ currentReplicas: 1, desired: 0, minReplicas: 2, behavior: behaviorWithDefaults(undefined, 0) })), { replicas: 2, limitedBy: "TooFewReplicas", stabilized: false });
});
