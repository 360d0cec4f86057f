import { test } from "node:test";
import assert from "node:assert/strict";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.ts";

const deployment = () => ({
  spec: {
    template: {
      spec: {
        containers: [
          { name: "web", image: "nginx", ports: [{ containerPort: 80 }], env: [{ name: "A", value: "1" }, { name: "B", value: "2" }] },
          { name: "side", image: "busybox" },
        ],
      },
    },
  },
  metadata: { finalizers: ["a"], labels: { x: "1" } },
});

test("strategic merge: containers merge by name, env by name, ports by containerPort", () => {
  const out = applyStrategicMergePatch(deployment(), {
    spec: { template: { spec: { containers: [{ name: "web", image: "nginx:2", env: [{ name: "B", value: "3" }], ports: [{ containerPort: 443 }] }] } } },
  }) as ReturnType<typeof deployment>;
  const web = out.spec.template.spec.containers[0]!;
  assert.equal(web.image, "nginx:2");
  assert.deepEqual(web.env, [{ name: "A", value: "1" }, { name: "B", value: "3" }]);
  assert.deepEqual(web.ports, [{ containerPort: 80 }, { containerPort: 443 }]);
  assert.equal(out.spec.template.spec.containers.length, 2);
});

test("strategic merge directives: null, $patch delete/replace, $setElementOrder, $deleteFromPrimitiveList, $retainKeys", () => {
  let out = applyStrategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: "side", $patch: "delete" }] } } } }) as ReturnType<typeof deployment>;
  assert.deepEqual(out.spec.template.spec.containers.map((c) => c.name), ["web"]);
  out = applyStrategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: "only", image: "x" }, { $patch: "replace" }] } } } }) as ReturnType<typeof deployment>;
  assert.deepEqual(out.spec.template.spec.containers, [{ name: "only", image: "x" }]);
  out = applyStrategicMergePatch(deployment(), {
    spec: { template: { spec: { "$setElementOrder/containers": [{ name: "side" }, { name: "web" }], containers: [{ name: "web", image: "n2" }] } } },
  }) as ReturnType<typeof deployment>;
  assert.deepEqual(out.spec.template.spec.containers.map((c) => c.name), ["side", "web"]);
  out = applyStrategicMergePatch(deployment(), { metadata: { labels: { x: null, y: "2" }, "$deleteFromPrimitiveList/finalizers": ["a"] } }) as ReturnType<typeof deployment>;
  assert.deepEqual(out.metadata, { finalizers: [], labels: { y: "2" } });
  const strat = applyStrategicMergePatch({ strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } } }, { strategy: { $retainKeys: ["type"], type: "Recreate" } });
  assert.deepEqual(strat, { strategy: { type: "Recreate" } });
  assert.throws(() => applyStrategicMergePatch({}, { $patch: "explode" }), /unknown patch type/);
});

test("merge patch and JSON patch", () => {
  assert.deepEqual(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null }, l: [3] }), { a: { c: 2 }, l: [3] });
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: "add", path: "/b", value: 2 }, { op: "remove", path: "/a" }]), { b: 2 });
  assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: "replace", path: "/x/y", value: 1 }]), /rejected/);
  assert.throws(() => applyJsonPatch({}, { op: "add" }), /array/);
});
