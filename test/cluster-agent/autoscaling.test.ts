// HorizontalPodAutoscaler end to end: a real agent, the scheduler and the controller manager
// (the HPA controller with a 2 s sync period and a 10 s scale-down stabilisation window, the
// flags `gantry server` has), and the real kubectl: `kubectl autoscale` (an autoscaling/v1 HPA, stored as v2) on a Deployment whose
// pods burn cpu against a small request scales it up to max, `kubectl get hpa` shows the
// target and current utilisation, and once the pods stop burning it scales back down to min.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startControllerManager, allControllers } from "../../src/cluster/controllers/index.ts";
import { startScheduler } from "../../src/cluster/scheduler/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: busybox
        imagePullPolicy: Never
        command: [sh, -c, "while :; do :; done"]
        resources: {requests: {cpu: 20m}}
`;

const hpaYaml = (name: string, min: number, max: number) => `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ${name}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: ${min}
  maxReplicas: ${max}
  metrics:
  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}
`;

describe("HorizontalPodAutoscaler on a cpu-burning Deployment", { skip: skipReason() }, () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode({
      startControllers: async (transport) => {
        const controllers = await startControllerManager(transport, { controllers: (ctx) => allControllers(ctx, { horizontalPodAutoscaler: { syncPeriodMs: 2000, downscaleStabilizationMs: 10_000 } }) });
        const scheduler = await startScheduler(transport);
        return { stop: async () => (await scheduler.stop(), await controllers.stop()) };
      },
    });
    await node.start();
  });
  after(async () => {
    await node?.kubectl(["delete", "hpa,deployment", "--all", "--wait=false"]).catch(() => undefined);
    await node?.cleanup();
  });

  test("kubectl autoscale scales up while the pods burn and back down when they stop", async () => {
    await node.kubectl(["apply", "-f", "-"], deployment);
    await node.kubectl(["rollout", "status", "deployment/burn", "--timeout=120s"]);
    // Bad input first: max below min is refused with the API's message.
    const bad = await node.cluster.kubectl(["apply", "-f", "-"], { input: hpaYaml("bad", 3, 2) });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`/);

    // kubectl 1.32 autoscale creates an autoscaling/v1 HPA: stored as v2, read back as v2 (and as v1 through v1).
    assert.match(await node.kubectl(["autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3"]), /horizontalpodautoscaler.autoscaling\/burn autoscaled/);
    const v1Get = await node.cluster.raw("GET", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/burn");
    assert.equal(v1Get.status, 200, "v1 serves reads too");
    assert.equal(JSON.parse(v1Get.body).spec.targetCPUUtilizationPercentage, 50);
    const hpa = JSON.parse(await node.kubectl(["get", "hpa", "burn", "-o", "json"]));
    assert.equal(hpa.apiVersion, "autoscaling/v2");
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "burn" });
    assert.deepEqual(hpa.spec.metrics, [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 50 } } }]);

    await until("the Deployment scaled to max", async () => (await node.kubectl(["get", "deployment", "burn", "-o", "jsonpath={.spec.replicas}"])) === "3" || undefined, 120_000);
    const row = await until("kubectl get hpa with a reading", async () => {
      const out = await node.kubectl(["get", "hpa", "burn", "--no-headers"]);
      return /cpu: \d+%\/50%/.test(out) ? out : undefined;
    });
    assert.match(row, /^burn\s+Deployment\/burn\s+cpu: (\d+)%\/50%\s+1\s+3\s+\d\s+/);
    assert.ok(Number(/cpu: (\d+)%/.exec(row)![1]) > 50, `above target: ${row}`);
    const scaled = JSON.parse(await node.kubectl(["get", "hpa", "burn", "-o", "json"]));
    assert.equal(scaled.status.desiredReplicas, 3);
    assert.ok(scaled.status.lastScaleTime);
    assert.equal(scaled.status.currentMetrics[0].resource.name, "cpu");
    const conditions = Object.fromEntries((scaled.status.conditions as { type: string; status: string; reason: string }[]).map((c) => [c.type, `${c.status}/${c.reason}`]));
    assert.equal(conditions.ScalingActive, "True/ValidMetricFound");
    assert.match(conditions.ScalingLimited ?? "", /^True\/TooManyReplicas$|^False\/DesiredWithinRange$/);
    const events = await node.kubectl(["get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler,reason=SuccessfulRescale", "-o", "jsonpath={.items[*].message}"]);
    assert.match(events, /New size: \d; reason: cpu resource utilization \(percentage of request\) above target/);

    // The burn stops (a new template that sleeps): after the stabilisation window, back to min.
    await node.kubectl(["patch", "deployment", "burn", "--type=json", "-p", '[{"op":"replace","path":"/spec/template/spec/containers/0/command","value":["sleep","3600"]}]']);
    await until("the Deployment scaled back to min", async () => (await node.kubectl(["get", "deployment", "burn", "-o", "jsonpath={.spec.replicas}"])) === "1" || undefined, 180_000);
    const down = await node.kubectl(["get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler,reason=SuccessfulRescale", "-o", "jsonpath={.items[*].message}"]);
    assert.match(down, /New size: 1; reason: All metrics below target|New size: 1; reason: cpu resource utilization \(percentage of request\) below target/);
  });
});
