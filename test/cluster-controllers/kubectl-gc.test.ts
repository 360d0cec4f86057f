// The garbage collector as kubectl users meet it, against a real API server with its
// controllers: a ConfigMap owned by two ConfigMaps and a uid that never existed loses the
// dangling reference and stays (Kubernetes' GC patches dangling owners away while a real
// one remains); deleting one owner takes only its reference; deleting the last one deletes
// the dependent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { kubectlMissing, startTestCluster, type TestCluster } from "../cluster-api/_server.ts";
import { until } from "./_gantry-server.ts";

describe("garbage collection of owner references through kubectl", { skip: kubectlMissing }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
  });
  after(async () => {
    await c?.stop();
  });

  const ok = (...args: string[]) => c.ok(...args);
  const ownerNames = async (name: string): Promise<string | undefined> => {
    const r = await c.kubectl(["get", "configmap", name, "-o", "jsonpath={.metadata.ownerReferences[*].name}"]);
    return r.code === 0 ? r.stdout.trim() : r.stderr.includes("NotFound") ? "<deleted>" : undefined;
  };
  const becomes = (name: string, want: string) => until(`configmap ${name} owners "${want}"`, 20_000, async () => ((await ownerNames(name)) === want ? want : undefined));

  test("a dangling owner reference is removed while another owner remains; the last owner's deletion deletes the dependent", async () => {
    await ok("create", "configmap", "owner-a");
    await ok("create", "configmap", "owner-b");
    const uid = async (name: string) => (await ok("get", "configmap", name, "-o", "jsonpath={.metadata.uid}")).trim();
    const ref = (name: string, u: string) => ({ apiVersion: "v1", kind: "ConfigMap", name, uid: u });
    const dependent = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "dependent", ownerReferences: [ref("owner-a", await uid("owner-a")), ref("ghost", "22222222-2222-2222-2222-222222222222"), ref("owner-b", await uid("owner-b"))] },
      data: { k: "v" },
    };
    const created = await c.kubectl(["create", "-f", "-"], { input: JSON.stringify(dependent) });
    assert.equal(created.code, 0, created.stderr);
    await becomes("dependent", "owner-a owner-b");
    assert.equal((await ok("get", "configmap", "dependent", "-o", "jsonpath={.data.k}")).trim(), "v", "the dependent itself is untouched");
    await ok("delete", "configmap", "owner-b");
    await becomes("dependent", "owner-a");
    await ok("delete", "configmap", "owner-a");
    await becomes("dependent", "<deleted>");
  });
});
