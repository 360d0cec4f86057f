// Services, cluster DNS and NetworkPolicy across the nodes of one 3-node `gantry cluster
// create` cluster (shared by the file's tests), as a user sees them with kubectl, busybox in
// pods (through each node's engine with the docker CLI) and HTTP from the host to the nodes'
// addresses on the cluster bridge:
// - the NetworkPolicy truth table (../cluster-netpol/_truth-table.ts) with pods a, b, c of
//   each namespace on three different nodes, so most pairs cross nodes and some share one;
// - DNS from a pod on every node: a Service's A and SRV records, a headless Service's pod and
//   the pod's hostname.subdomain record, and a name that load-balances over pods of every node;
// - a NodePort answering on every node's address (externalTrafficPolicy: Cluster, the client
//   masqueraded), and under externalTrafficPolicy: Local only on the node that has an endpoint,
//   which sees the client's own address.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { get as httpGet } from "node:http";
import { until } from "../cluster-agent/_node.ts";
import { NAMESPACES, PODS, podAddresses, podsYaml, runTruthTable } from "../cluster-netpol/_truth-table.ts";
import { createTestCluster, IMAGE, skip, type TestCluster } from "./_cluster.ts";

// Answers a CGI request with the address the connection came from and the pod's name.
const WHO_SCRIPT = [
  "mkdir -p /w/cgi-bin",
  `printf '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\necho "$REMOTE_ADDR $(hostname)"\\n' > /w/cgi-bin/who`,
  "chmod +x /w/cgi-bin/who",
  "hostname > /w/index.html",
  "exec httpd -f -p 8080 -h /w",
].join("; ");

const esc = (s: string) => s.replace(/\./g, "\\.");

/**
 * GET from this host with a deadline: the body, or undefined when nothing answered. busybox
 * httpd passes a CGI's LF-only header lines through, which only the lenient parser accepts.
 */
function get(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpGet(url, { timeout: 3000, insecureHTTPParser: true }, (res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString()));
      res.on("end", () => resolve(res.statusCode === 200 ? body.trim() : undefined));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

function shopYaml(nodes: string[]): string {
  const pinned = (name: string, node: string, extra: Record<string, unknown> = {}) => ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "shop", labels: { app: name.replace(/-\d+$/, "") } }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, ...extra, containers: [{ name: "main", image: IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", WHO_SCRIPT], ports: [{ containerPort: 8080, name: "http" }] }] } });
  const service = (name: string, spec: Record<string, unknown>) => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "shop" }, spec });
  const items = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        replicas: 6,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "web", image: IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", WHO_SCRIPT], ports: [{ containerPort: 8080, name: "http" }] }] } },
      },
    },
    service("web", { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] }),
    service("web-np", { type: "NodePort", selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] }),
    // One pod, on the first node, behind a Local and a Cluster NodePort.
    pinned("solo", nodes[0]!),
    service("solo-local", { type: "NodePort", externalTrafficPolicy: "Local", selector: { app: "solo" }, ports: [{ name: "http", port: 80, targetPort: "http" }] }),
    service("solo-cluster", { type: "NodePort", selector: { app: "solo" }, ports: [{ name: "http", port: 80, targetPort: "http" }] }),
    // A headless Service whose pod has a hostname record (a StatefulSet's shape), on the second node.
    service("db", { clusterIP: "None", selector: { app: "db" }, ports: [{ name: "pg", port: 5432 }] }),
    pinned("db-0", nodes[1]!, { hostname: "db-0", subdomain: "db" }),
    // A client on every node.
    ...nodes.map((n, i) => pinned(`client-${i + 1}`, n)),
  ];
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

describe("a 3-node gantry cluster: NetworkPolicy, DNS and NodePorts across nodes", { skip }, () => {
  let c: TestCluster;
  let nodes: string[];

  before(async () => {
    c = await createTestCluster(3);
    nodes = c.rec.nodes.map((n) => n.name);
  });

  after(async () => {
    await c?.remove();
  });

  test("the NetworkPolicy truth table with each namespace's pods a, b, c on three nodes", async (t) => {
    await c.kubectl(["apply", "-f", "-"], podsYaml(IMAGE, (_ns, pod) => nodes[PODS.indexOf(pod)]));
    try {
      const { ips, nodes: placed } = await podAddresses(c, until);
      assert.equal(new Set(placed.values()).size, 3, `pods on every node: ${JSON.stringify([...placed])}`);
      await runTruthTable(t, c, ips);
    } finally {
      await c.kubectlResult(["delete", "networkpolicies", "--all", "--all-namespaces"]);
      await c.kubectlResult(["delete", "namespaces", ...NAMESPACES, "--wait=false"]);
    }
  });

  describe("Services and DNS", () => {
    const ip = (name: string, ns = "shop") => c.kubectl(["get", "service", name, "-n", ns, "-o", "jsonpath={.spec.clusterIP}"]);
    const nodePort = async (name: string) => Number(await c.kubectl(["get", "service", name, "-n", "shop", "-o", "jsonpath={.spec.ports[0].nodePort}"]));
    const sh = async (pod: string, cmd: string) => {
      const r = await c.exec(pod, ["sh", "-c", cmd], "shop");
      return `${r.stdout}${r.stderr}`;
    };

    before(async () => {
      await c.kubectl(["apply", "-f", "-"], shopYaml(nodes));
      await c.kubectl(["rollout", "status", "deployment/web", "-n", "shop", "--timeout=240s"]);
      for (const pod of ["solo", "db-0", "client-1", "client-2", "client-3"])
        await until(`${pod} Running`, async () => (await c.kubectl(["get", "pod", pod, "-n", "shop", "-o", "jsonpath={.status.phase}"])) === "Running" || undefined, 180_000);
      await until("the db Service's endpoint with its hostname", async () => (await c.kubectl(["get", "endpointslices", "-n", "shop", "-l", "kubernetes.io/service-name=db", "-o", "jsonpath={.items[*].endpoints[*].hostname}"])) === "db-0" || undefined);
    });

    test("from a pod on every node: A and SRV records of a Service, a headless Service's pod and its hostname.subdomain", async () => {
      const webIP = await ip("web");
      const dbIP = await c.kubectl(["get", "pod", "db-0", "-n", "shop", "-o", "jsonpath={.status.podIP}"]);
      for (const client of ["client-1", "client-2", "client-3"]) {
        assert.match(await sh(client, "nslookup web.shop.svc.cluster.local 10.43.0.10"), new RegExp(`Address:\\s+${esc(webIP)}\\b`), client);
        assert.match(await sh(client, "nslookup -type=SRV _http._tcp.web.shop.svc.cluster.local 10.43.0.10"), /0 100 80 web\.shop\.svc\.cluster\.local/, client);
        assert.match(await sh(client, "nslookup db.shop.svc.cluster.local 10.43.0.10"), new RegExp(`Address:\\s+${esc(dbIP)}\\b`), client);
        assert.match(await sh(client, "nslookup db-0.db.shop.svc.cluster.local 10.43.0.10"), new RegExp(`Address:\\s+${esc(dbIP)}\\b`), client);
        assert.match(await sh(client, "nslookup -type=SRV _pg._tcp.db.shop.svc.cluster.local 10.43.0.10"), /0 100 5432 db-0\.db\.shop\.svc\.cluster\.local/, client);
        assert.match(await sh(client, "nslookup nothere.shop.svc.cluster.local 10.43.0.10"), /NXDOMAIN/, client);
      }
    });

    test("wget http://web.shop.svc.cluster.local from a pod on every node answers from pods on several nodes", async () => {
      const podNode = new Map(
        (await c.kubectl(["get", "pods", "-n", "shop", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}"]))
          .trim()
          .split("\n")
          .map((l) => l.split(" ") as [string, string]),
      );
      assert.equal(new Set(podNode.values()).size, 3, `web pods on every node: ${JSON.stringify([...podNode])}`);
      for (const client of ["client-1", "client-2", "client-3"]) {
        const names = await until(`answers by name from ${client}`, async () => {
          const out = (await sh(client, "for i in $(seq 15); do wget -q -O - http://web.shop.svc.cluster.local/ || echo FAILED; done")).trim().split("\n");
          return out.every((n) => podNode.has(n)) ? out : undefined;
        });
        const servedBy = new Set(names.map((n) => podNode.get(n)));
        assert.ok(servedBy.size >= 2, `${client} reached pods on ${[...servedBy].join(", ")} only`);
      }
    });

    test("a NodePort answers on every node's address, from pods of other nodes too", async () => {
      const port = await nodePort("web-np");
      assert.ok(port >= 30000 && port <= 32767, `nodePort ${port}`);
      for (const n of c.rec.nodes) {
        const body = await until(`the NodePort on ${n.name} (${n.address}:${port})`, () => get(`http://${n.address}:${port}/`));
        assert.match(body, /^web-/, n.name);
      }
      const fromPod = await sh("client-2", `wget -q -O - http://${c.rec.nodes[0]!.address}:${port}/`);
      assert.match(fromPod, /^web-/, "a pod on another node reaches the first node's NodePort");
    });

    test("externalTrafficPolicy: Local answers only on the node with an endpoint and keeps the client's address; Cluster answers on every node, masqueraded", async () => {
      const local = await nodePort("solo-local");
      const cluster = await nodePort("solo-cluster");
      const [withPod, ...without] = c.rec.nodes;
      // busybox httpd gives REMOTE_ADDR as [::ffff:10.x.y.z].
      const who = (body: string) => body.replace(/^\[::ffff:([\d.]+)\]/, "$1").split(" ");
      const [seen, served] = who(await until("the Local NodePort on the endpoint's node", () => get(`http://${withPod!.address}:${local}/cgi-bin/who`)));
      assert.equal(served, "solo");
      assert.equal(seen, c.rec.gateway, "the client's own address (this host's on the cluster bridge)");
      for (const n of without) assert.equal(await get(`http://${n.address}:${local}/cgi-bin/who`), undefined, `${n.name} has no endpoint of solo-local and must not answer`);
      // Cluster: every node answers, and the pod sees the node's address instead of the client's.
      for (const n of c.rec.nodes) {
        const [from, by] = who(await until(`the Cluster NodePort on ${n.name}`, () => get(`http://${n.address}:${cluster}/cgi-bin/who`)));
        assert.equal(by, "solo", n.name);
        assert.notEqual(from, c.rec.gateway, `${n.name}: the client is masqueraded under externalTrafficPolicy: Cluster`);
      }
    });
  });
});
