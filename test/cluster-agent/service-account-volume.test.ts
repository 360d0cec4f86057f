// The service account volume on a real node (`gantry agent` as a child, kubectl against the
// API server): admission gives a pod `default` and the kube-api-access-XXXXX projected volume;
// the agent fetches a token bound to the pod and writes token, ca.crt (the kube-root-ca.crt
// ConfigMap every namespace gets) and namespace at /var/run/secrets/kubernetes.io/serviceaccount;
// the token authenticates as the account until the pod is gone; a short-lived token is
// fetched again; automountServiceAccountToken: false and a missing account.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { KubeObject } from "../../src/cluster/client/index.ts";
import { skipReason, startTestNode, until, type TestNode } from "./_node.ts";

const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
const MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
const UNAUTHORIZED = /You must be logged in to the server \(Unauthorized\)|Unauthorized/;

interface PodObj extends KubeObject {
  spec: { serviceAccountName?: string; nodeName?: string; volumes?: { name: string; projected?: { defaultMode?: number; sources: Record<string, unknown>[] } }[]; containers: { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[] };
  status?: { phase?: string };
}
type Claims = { sub: string; aud: string[]; exp: number; iat: number; jti: string; "kubernetes.io": { namespace: string; pod: { name: string; uid: string }; node?: { name: string }; serviceaccount: { name: string } } };
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Claims;

describe("service account token volume", { skip: skipReason() }, () => {
  let node: TestNode;
  const getPod = (name: string) => node.admin.resource<PodObj>(PODS).get("default", name);
  const run = (name: string, extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}) =>
    node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: "c", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "3600"], ...container }], ...extra } }));
  const running = (name: string) => until(`${name} Running`, async () => ((await getPod(name)).status?.phase === "Running" ? true : undefined));
  const exec = async (pod: string, cmd: string) => {
    const uid = (await getPod(pod)).metadata.uid!;
    const r = spawnSync("docker", ["-H", `unix://${node.engineSocket}`, "exec", `k8s_c_${pod}_default_${uid}_0`, "sh", "-c", cmd], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, `exec ${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const asToken = (token: string, args: string[]) => node.cluster.kubectl(["--token", token, ...args]);

  before(async () => {
    node = await startTestNode({ minTokenExpirationSeconds: 10 });
    await node.start();
  });
  after(async () => {
    await node?.cleanup();
  });

  test("a pod gets the default account's token, the cluster CA and its namespace, and the token is the pod's identity until it is gone", async () => {
    await run("sa");
    const pod = await getPod("sa");
    assert.equal(pod.spec.serviceAccountName, "default");
    const volume = pod.spec.volumes?.find((v) => v.name.startsWith("kube-api-access-"));
    assert.ok(volume, "admission added the kube-api-access volume");
    assert.match(volume.name, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(volume.projected?.sources, [
      { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
      { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
    ]);
    assert.deepEqual(pod.spec.containers[0]!.volumeMounts, [{ name: volume.name, readOnly: true, mountPath: MOUNT }]);
    await running("sa");

    assert.equal(await exec("sa", `cat ${MOUNT}/namespace`), "default");
    assert.equal(await exec("sa", `cat ${MOUNT}/ca.crt`), node.cluster.server.caCert);
    assert.equal((await exec("sa", `stat -L -c %a ${MOUNT}/token`)).trim(), "644");
    const token = await exec("sa", `cat ${MOUNT}/token`);
    const claims = claimsOf(token);
    assert.equal(claims.sub, "system:serviceaccount:default:default");
    assert.equal(claims.exp - claims.iat, 3607);
    assert.deepEqual(claims["kubernetes.io"].pod, { name: "sa", uid: pod.metadata.uid });
    assert.equal(claims["kubernetes.io"].node?.name, node.name);
    const cm = JSON.parse(await node.kubectl(["get", "configmap", "kube-root-ca.crt", "-o", "json"])) as { data: Record<string, string> };
    assert.equal(cm.data["ca.crt"], node.cluster.server.caCert, "every namespace has the CA as kube-root-ca.crt");

    const who = await asToken(token, ["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert.equal(who.stdout, "system:serviceaccount:default:default", who.stderr);
    await node.kubectl(["delete", "pod", "sa", "--wait=true", "--timeout=60s"]);
    await until("the deleted pod's token to be refused", async () => {
      const r = await asToken(token, ["auth", "whoami"]);
      return (r.code !== 0 && UNAUTHORIZED.test(r.stderr)) || undefined;
    });
  });

  // Fetched again at the first pod sync after 80% of its lifetime (syncs are 10 s apart here).
  test("a short-lived projected token is fetched again", async () => {
    const volumes = [{ name: "tok", projected: { sources: [{ serviceAccountToken: { path: "t", expirationSeconds: 10, audience: "vault" } }] } }];
    await run("short", { automountServiceAccountToken: false, volumes }, { volumeMounts: [{ name: "tok", mountPath: "/tok" }] });
    const pod = await getPod("short");
    assert.ok(!pod.spec.volumes?.some((v) => v.name.startsWith("kube-api-access-")), "automountServiceAccountToken: false adds no volume");
    await running("short");
    const first = claimsOf(await exec("short", "cat /tok/t"));
    assert.deepEqual(first.aud, ["vault"]);
    assert.equal(first.exp - first.iat, 10);
    const next = await until("a new token in the file", async () => {
      const c = claimsOf(await exec("short", "cat /tok/t"));
      return c.jti !== first.jti ? c : undefined;
    });
    assert.ok(next.iat >= first.iat, "the new token was issued after the first");
    assert.deepEqual(next["kubernetes.io"].pod, first["kubernetes.io"].pod);
    assert.equal(await exec("short", `ls ${MOUNT} 2>/dev/null || echo none`), "none\n");
  });

  test("a pod naming a service account that does not exist is refused", async () => {
    const r = await node.cluster.kubectl(["run", "ghost", "--image", "busybox", "--overrides", JSON.stringify({ spec: { serviceAccountName: "ghost" } })]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pods "ghost" is forbidden: error looking up service account default\/ghost: serviceaccount "ghost" not found/);
  });
});
