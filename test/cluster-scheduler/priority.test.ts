// PriorityClass (scheduling.k8s.io/v1) through kubectl, and the Priority admission plugin:
// pods get spec.priority from their class, the global default or 0.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";

describe("priority classes and pod priority admission", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  const pod = (name: string, extra: object = {}) => JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { containers: [{ name: "c", image: "busybox" }], ...extra } });
  const priorityOf = async (name: string) => {
    const r = await c.kubectl(["get", "pod", name, "-o", "jsonpath={.spec.priority} {.spec.preemptionPolicy} {.spec.priorityClassName}"]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  test("the built-in classes exist and kubectl get pc shows value, default and policy", async () => {
    const r = await c.kubectl(["get", "priorityclasses"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+VALUE\s+GLOBAL-DEFAULT\s+AGE\s+PREEMPTIONPOLICY/);
    assert.match(r.stdout, /system-cluster-critical\s+2000000000\s+false\s+\S+\s+PreemptLowerPriority/);
    assert.match(r.stdout, /system-node-critical\s+2000001000\s+false/);
  });

  test("a pod without a class gets priority 0; with a class, the class's value and policy", async () => {
    assert.equal((await c.kubectl(["apply", "-f", "-"], { input: pod("plain") })).code, 0);
    assert.equal(await priorityOf("plain"), "0 PreemptLowerPriority ");
    const pc = { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "high" }, value: 1000, preemptionPolicy: "Never" };
    const r = await c.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pc) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await c.kubectl(["apply", "-f", "-"], { input: pod("important", { priorityClassName: "high" }) })).code, 0);
    assert.equal(await priorityOf("important"), "1000 Never high");
    const crit = await c.kubectl(["apply", "-n", "kube-system", "-f", "-"], { input: pod("crit", { priorityClassName: "system-node-critical" }) });
    assert.equal(crit.code, 0, crit.stderr);
    const got = await c.kubectl(["get", "pod", "-n", "kube-system", "crit", "-o", "jsonpath={.spec.priority}"]);
    assert.equal(got.stdout, "2000001000");
  });

  test("an unknown class or a priority that disagrees with the class is refused with 403", async () => {
    let r = await c.kubectl(["apply", "-f", "-"], { input: pod("lost", { priorityClassName: "nope" }) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pods "lost" is forbidden: no PriorityClass with name nope was found/);
    r = await c.kubectl(["apply", "-f", "-"], { input: pod("liar", { priorityClassName: "high", priority: 5 }) });
    assert.match(r.stderr, /the integer value of priority \(5\) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name/);
    r = await c.kubectl(["get", "pod", "lost"]);
    assert.notEqual(r.code, 0, "nothing was created");
  });

  test("the global default applies to pods without a class; only one default may exist; system names and values are guarded", async () => {
    const pc = (name: string, value: number, globalDefault = false) => JSON.stringify({ apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name }, value, globalDefault });
    let r = await c.kubectl(["apply", "-f", "-"], { input: pc("normal", 100, true) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await c.kubectl(["apply", "-f", "-"], { input: pod("defaulted") })).code, 0);
    assert.equal(await priorityOf("defaulted"), "100 PreemptLowerPriority normal");
    r = await c.kubectl(["apply", "-f", "-"], { input: pc("other", 50, true) });
    assert.match(r.stderr, /PriorityClass normal is already marked as default\. Only one default can exist/);
    r = await c.kubectl(["apply", "-f", "-"], { input: pc("system-mine", 5) });
    assert.match(r.stderr, /priority class names with 'system-' prefix are reserved/);
    r = await c.kubectl(["apply", "-f", "-"], { input: pc("huge", 1_000_000_001) });
    assert.match(r.stderr, /maximum allowed value of a user defined priority is 1000000000/);
    r = await c.kubectl(["apply", "-f", "-"], { input: pc("normal", 101, true) });
    assert.match(r.stderr, /value: Forbidden: may not be changed in an update/);
  });
});
