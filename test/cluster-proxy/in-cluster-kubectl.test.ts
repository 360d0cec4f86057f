// In-cluster clients on a real one-node `gantry server`: a pod running the host's kubectl
// (mounted with hostPath) finds the API through KUBERNETES_SERVICE_HOST/PORT — the
// `kubernetes` Service at 10.43.0.1:443, which the node's service proxy leads to the server's
// listener on the pod bridge — checks it with the mounted ca.crt and authenticates with the
// projected service account token. Under RBAC the pod's account lists pods once bound to
// `view`, and is Forbidden without the binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { dirname } from "node:path";
import { KUBECTL } from "../cluster-api/_server.ts";
import { skipReason, startServerNode, until } from "./_server-node.ts";

const KUBECTL_DIR = dirname(realpathSync(KUBECTL));
const FORBIDDEN = /pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"/;

test("kubectl in a pod reaches the API through the kubernetes Service with its service account", { skip: skipReason() }, async () => {
  const node = await startServerNode();
  try {
    await until("the default ServiceAccount", async () => (await node.kubectlResult(["get", "serviceaccount", "default"])).code === 0 || undefined);
    const svc = JSON.parse(await node.kubectl(["get", "service", "kubernetes", "-o", "json"])) as { spec: { clusterIP: string; ports: { port: number }[] } };
    assert.equal(svc.spec.clusterIP, "10.43.0.1");

    await node.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "kc" },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: "kc", image: "busybox", imagePullPolicy: "Never", command: ["sleep", "3600"], volumeMounts: [{ name: "kubectl", mountPath: "/kbin", readOnly: true }] }],
          volumes: [{ name: "kubectl", hostPath: { path: KUBECTL_DIR, type: "Directory" } }],
        },
      }),
    );
    await until("kc Running", async () => ((await node.kubectl(["get", "pod", "kc", "-o", "jsonpath={.status.phase}"])) === "Running" ? true : undefined), 120_000);
    // The bridge has its address now: the server listens there and the Service leads to it.
    await until(`the kubernetes EndpointSlice at the pod bridge:\n${node.log()}`, async () => (await node.kubectl(["get", "endpointslice", "kubernetes", "-o", "jsonpath={.endpoints[0].addresses[0]}"])) === node.nodeIP || undefined);

    const env = await node.exec("kc", ["sh", "-c", "env | grep ^KUBERNETES_ | sort"]);
    assert.match(env.stdout, /^KUBERNETES_SERVICE_HOST=10\.43\.0\.1$/m);
    assert.match(env.stdout, /^KUBERNETES_SERVICE_PORT=443$/m);
    assert.match(env.stdout, /^KUBERNETES_PORT_443_TCP=tcp:\/\/10\.43\.0\.1:443$/m);

    const inPod = (args: string) => node.exec("kc", ["sh", "-c", `HOME=/tmp /kbin/kubectl ${args}`]);
    const who = await inPod("auth whoami -o jsonpath={.status.userInfo.username}");
    assert.equal(who.code, 0, `kubectl auth whoami in the pod: ${who.stderr}`);
    assert.equal(who.stdout, "system:serviceaccount:default:default");

    const refused = await inPod("get pods -o name");
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, FORBIDDEN);

    await node.kubectl(["create", "rolebinding", "default-view", "--clusterrole", "view", "--serviceaccount", "default:default"]);
    const listed = await until("the bound account to list pods", async () => {
      const r = await inPod("get pods -o name");
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.match(listed, /^pod\/kc$/m);
    const create = await inPod("run other --image busybox");
    assert.notEqual(create.code, 0, "view does not allow creating pods");
    assert.match(create.stderr, /pods is forbidden: User "system:serviceaccount:default:default" cannot create resource "pods" in API group "" in the namespace "default"/);

    await node.kubectl(["delete", "rolebinding", "default-view"]);
    await until("the unbound account to be Forbidden again", async () => {
      const r = await inPod("get pods -o name");
      return (r.code !== 0 && FORBIDDEN.test(r.stderr)) || undefined;
    });
  } finally {
    await node.cleanup();
  }
});
