// Services through the node's nftables, as kube-proxy's nftables mode programs them, against a
// real `gantry server` (one node: this host's agent and its proxy), with kubectl and real pods:
// a Deployment of three web servers, each answering with its own name; a client pod that
// fetches through the ClusterIP, the NodePort on the node's address, a ClientIP-sticky Service;
// readiness and termination taken from EndpointSlices; and deletion of one Service's rules only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { skipReason, startServerNode, until, webDeployment, type ServerNode } from "./_server-node.ts";

const WEB = `
${webDeployment("default")}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: elsewhere}
spec:
  type: ExternalName
  externalName: example.invalid
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"]}
`;

/** Fetches url from the client pod n times; the names of the pods that answered, in order. */
async function fetchNames(node: ServerNode, url: string, n: number): Promise<string[]> {
  const script = `for i in $(seq ${n}); do wget -q -O - ${url} || echo FAILED; done`;
  const r = await node.exec("client", ["sh", "-c", script]);
  return r.stdout.trim().split("\n");
}

test("ClusterIP, NodePort, ClientIP affinity, readiness and deletion through the node's nftables", { skip: skipReason() }, async (t) => {
  const node = await startServerNode();
  try {
    await node.kubectl(["apply", "-f", "-"], WEB);
    await node.kubectl(["rollout", "status", "deployment/web", "--timeout=120s"]);
    await until("the client Running", async () => (await node.kubectl(["get", "pod", "client", "-o", "jsonpath={.status.phase}"])) === "Running" || undefined);
    const podNames = (await node.kubectl(["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"])).split(" ").sort();
    assert.equal(podNames.length, 3);
    const ip = async (svc: string) => node.kubectl(["get", "service", svc, "-o", "jsonpath={.spec.clusterIP}"]);
    const webIP = await ip("web");
    await until("three endpoints in the web Service's slice", async () => (await node.kubectl(["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}"])).split(" ").filter(Boolean).length === 3 || undefined);

    await t.test("the ClusterIP answers from several distinct pods", async () => {
      const names = await until("answers through the ClusterIP", async () => {
        const got = await fetchNames(node, `http://${webIP}/`, 15);
        return got.every((n) => podNames.includes(n)) ? got : undefined;
      });
      assert.ok(new Set(names).size >= 2, `15 requests reached ${[...new Set(names)].join(", ")}`);
    });

    await t.test("the NodePort answers on the node's address", async () => {
      const nodePort = await node.kubectl(["get", "service", "web-np", "-o", "jsonpath={.spec.ports[0].nodePort}"]);
      assert.match(nodePort, /^3\d{4}$/);
      const internalIP = await node.kubectl(["get", "node", node.nodeName, "-o", "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}"]);
      assert.equal(internalIP, node.nodeIP);
      const names = await until("answers through the NodePort", async () => {
        const got = await fetchNames(node, `http://${internalIP}:${nodePort}/`, 6);
        return got.every((n) => podNames.includes(n)) ? got : undefined;
      });
      assert.equal(names.length, 6);
      // From the node itself too (traffic the proxy's output hook sends).
      const fromHost = await until("the NodePort from the host", async () => {
        const r = await import("node:child_process").then((cp) => cp.spawnSync("busybox", ["wget", "-q", "-O", "-", `http://${internalIP}:${nodePort}/`], { encoding: "utf8", timeout: 10_000 }));
        return podNames.includes(r.stdout.trim()) ? r.stdout.trim() : undefined;
      });
      assert.ok(podNames.includes(fromHost));
    });

    await t.test("sessionAffinity ClientIP keeps a client on one pod", async () => {
      const names = await fetchNames(node, `http://${await ip("sticky")}/`, 10);
      assert.ok(names.every((n) => podNames.includes(n)), names.join(","));
      assert.equal(new Set(names).size, 1, `a sticky client reached ${[...new Set(names)].join(", ")}`);
      const rules = node.nft(["list", "table", "ip", node.table]);
      assert.match(rules, /timeout 10m/, "the affinity sets time out after the Service's timeoutSeconds");
    });

    await t.test("a Service without endpoints refuses at once; headless and ExternalName Services get no rules", async () => {
      const r = await node.exec("client", ["sh", "-c", `wget -q -O - http://${await ip("empty")}/ 2>&1; echo rc=$?`]);
      assert.match(r.stdout, /refused/i);
      const rules = node.nft(["list", "table", "ip", node.table]);
      assert.doesNotMatch(rules, /default\/headless\//);
      assert.doesNotMatch(rules, /default\/elsewhere\//);
      assert.match(rules, /default\/web\/tcp\//);
    });

    await t.test("an endpoint marked not ready leaves the rotation; serving-terminating ones are the fallback", async () => {
      // A selector-less Service whose EndpointSlice is written by hand: the proxy reads only slices.
      const podIPs = (await node.kubectl(["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.podIP}{\"\\n\"}{end}"])).trim().split("\n").map((l) => l.split("=") as [string, string]);
      const slice = (conditions: object[]) =>
        JSON.stringify({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { name: "manual-1", labels: { "kubernetes.io/service-name": "manual" } },
          addressType: "IPv4",
          ports: [{ name: "", port: 8080, protocol: "TCP" }],
          endpoints: podIPs.map(([, addr], i) => ({ addresses: [addr], conditions: conditions[i] })),
        });
      await node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "manual" }, spec: { ports: [{ port: 80 }] } }));
      await node.kubectl(["apply", "-f", "-"], slice([{ ready: true }, { ready: true }, { ready: false }]));
      const manualIP = await ip("manual");
      const unready = podIPs[2]![0];
      const names = await until("answers from the two ready endpoints", async () => {
        const got = await fetchNames(node, `http://${manualIP}/`, 15);
        return got.every((n) => n !== "FAILED") && new Set(got).size === 2 ? got : undefined;
      });
      assert.ok(!names.includes(unready), `the unready ${unready} answered`);
      // None ready, one serving while terminating: it alone takes the traffic (kube-proxy's fallback).
      await node.kubectl(["apply", "-f", "-"], slice([{ ready: false, serving: false, terminating: true }, { ready: false }, { ready: false, serving: true, terminating: true }]));
      const drained = await until("answers from the serving-terminating endpoint only", async () => {
        const got = await fetchNames(node, `http://${manualIP}/`, 8);
        return got.every((n) => n === unready) ? got : undefined;
      });
      assert.equal(drained.length, 8);
    });

    await t.test("a pod being deleted leaves the rotation while the others serve", async () => {
      const victim = podNames[0]!;
      await node.kubectl(["delete", "pod", victim, "--wait=false"]);
      await until("the victim terminating in its slice", async () => (await node.kubectl(["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[?(@.conditions.terminating==true)].targetRef.name}"])).includes(victim) || undefined);
      const names = await until("answers without the terminating pod", async () => {
        const got = await fetchNames(node, `http://${webIP}/`, 12);
        return got.every((n) => n !== "FAILED" && n !== victim) ? got : undefined;
      });
      assert.ok(!names.includes(victim));
    });

    await t.test("deleting a Service removes its rules only", async () => {
      await node.kubectl(["delete", "service", "sticky"]);
      await until("the sticky Service's chains gone", () => !/default\/sticky\//.test(node.nft(["list", "table", "ip", node.table])) || undefined);
      const rules = node.nft(["list", "table", "ip", node.table]);
      assert.match(rules, /default\/web\/tcp\//);
      assert.match(rules, /default\/web-np\/tcp\//);
      const names = await fetchNames(node, `http://${webIP}/`, 3);
      assert.ok(names.every((n) => n !== "FAILED"), names.join(","));
    });
  } finally {
    await node.cleanup();
  }
  assert.equal(node.nft(["list", "tables"]).includes(node.table), false, "the proxy's table is removed when the server stops");
});
