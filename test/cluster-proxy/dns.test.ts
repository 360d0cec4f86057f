// Cluster DNS against a real `gantry server` (its node answers the kube-dns Service's
// 10.43.0.10 itself), asked from pods with busybox's wget and nslookup as a user would: a
// Service's name through the search path, SRV for named ports, a headless Service's pods and a
// pod's hostname.subdomain record, PTR, NXDOMAIN, forwarding of other names to an upstream (a
// fake one on 127.0.0.1), and each pod's resolv.conf by dnsPolicy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import * as dnsPacket from "dns-packet";
import { skipReason, startServerNode, until, webDeployment } from "./_server-node.ts";

const SHOP = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
${webDeployment("shop")}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  terminationGracePeriodSeconds: 1
  containers:
  - {name: db, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"], ports: [{containerPort: 5432, name: pg}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: custom, namespace: shop}
spec:
  dnsPolicy: None
  dnsConfig: {nameservers: [10.43.0.10], searches: [corp.example], options: [{name: ndots, value: "2"}, {name: edns0}]}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: custom, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"]}
`;

/** A fake upstream resolver on 127.0.0.1: outside.example. A 192.0.2.7, anything else NXDOMAIN. */
async function fakeUpstream(): Promise<{ port: number; asked: string[]; close(): void }> {
  const sock = createSocket("udp4");
  const asked: string[] = [];
  sock.on("message", (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? "";
    asked.push(name);
    const answers = name === "outside.example" && q.questions?.[0]?.type === "A" ? [{ type: "A" as const, name, ttl: 30, class: "IN" as const, data: "192.0.2.7" }] : [];
    sock.send(dnsPacket.encode({ type: "response", id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (name === "outside.example" ? 0 : 3), questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  return { port: sock.address().port, asked, close: () => sock.close() };
}

test("cluster DNS: names, SRV, headless and pod records, PTR, NXDOMAIN, forwarding, resolv.conf", { skip: skipReason() }, async (t) => {
  const upstream = await fakeUpstream();
  const node = await startServerNode(["--dns-upstream", `127.0.0.1:${upstream.port}`]);
  try {
    const dnsSvc = await node.kubectl(["get", "service", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[*].protocol}"]);
    assert.equal(dnsSvc, "10.43.0.10 UDP TCP", "the server made the kube-dns Service");
    await node.kubectl(["apply", "-f", "-"], SHOP);
    await node.kubectl(["rollout", "status", "deployment/web", "-n", "shop", "--timeout=120s"]);
    for (const pod of ["client", "db-0", "custom"]) await until(`${pod} Running`, async () => (await node.kubectl(["get", "pod", pod, "-n", "shop", "-o", "jsonpath={.status.phase}"])) === "Running" || undefined);
    const sh = async (cmd: string, pod = "client") => (await node.exec(pod, ["sh", "-c", cmd], "shop")).stdout;
    const webIP = await node.kubectl(["get", "service", "web", "-n", "shop", "-o", "jsonpath={.spec.clusterIP}"]);
    const dbIP = await node.kubectl(["get", "pod", "db-0", "-n", "shop", "-o", "jsonpath={.status.podIP}"]);
    await until("the db Service's endpoint with its hostname", async () => (await node.kubectl(["get", "endpointslices", "-n", "shop", "-l", "kubernetes.io/service-name=db", "-o", "jsonpath={.items[*].endpoints[*].hostname}"])) === "db-0" || undefined);

    await t.test("a pod's resolv.conf points at cluster DNS with the search path and ndots:5", async () => {
      const conf = await sh("cat /etc/resolv.conf");
      assert.match(conf, /^nameserver 10\.43\.0\.10$/m);
      assert.match(conf, /^search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
      assert.match(conf, /^options ndots:5$/m);
      const custom = await sh("cat /etc/resolv.conf", "custom");
      assert.equal(custom, "nameserver 10.43.0.10\nsearch corp.example\noptions ndots:2 edns0\n", "dnsPolicy None: only dnsConfig");
    });

    await t.test("wget http://web.shop.svc.cluster.local answers from several pods, and the short name works", async () => {
      const names = await until("answers by name", async () => {
        const out = (await sh("for i in $(seq 12); do wget -q -O - http://web.shop.svc.cluster.local/ || echo FAILED; done")).trim().split("\n");
        return out.every((n) => n.startsWith("web-")) ? out : undefined;
      });
      assert.ok(new Set(names).size >= 2, `reached ${[...new Set(names)].join(", ")}`);
      assert.match(await sh("wget -q -O - http://web/"), /^web-/);
    });

    await t.test("nslookup: A, SRV for a named port, headless pods and hostname.subdomain, PTR", async () => {
      const a = await sh("nslookup web.shop.svc.cluster.local 10.43.0.10");
      assert.match(a, new RegExp(`Address:\\s+${webIP.replace(/\./g, "\\.")}\\b`));
      const srv = await sh("nslookup -type=SRV _http._tcp.web.shop.svc.cluster.local 10.43.0.10");
      assert.match(srv, /0 100 80 web\.shop\.svc\.cluster\.local/);
      const headless = await sh("nslookup db.shop.svc.cluster.local 10.43.0.10");
      assert.match(headless, new RegExp(`Address:\\s+${dbIP.replace(/\./g, "\\.")}\\b`));
      const host = await sh("nslookup db-0.db.shop.svc.cluster.local 10.43.0.10");
      assert.match(host, new RegExp(`Address:\\s+${dbIP.replace(/\./g, "\\.")}\\b`));
      const headlessSrv = await sh("nslookup -type=SRV _pg._tcp.db.shop.svc.cluster.local 10.43.0.10");
      assert.match(headlessSrv, /0 100 5432 db-0\.db\.shop\.svc\.cluster\.local/);
      const ptr = await sh(`nslookup ${webIP} 10.43.0.10`);
      assert.match(ptr, /web\.shop\.svc\.cluster\.local/);
    });

    await t.test("unknown names are NXDOMAIN, other domains go upstream", async () => {
      const missing = await sh("nslookup nothere.shop.svc.cluster.local 10.43.0.10 2>&1");
      assert.match(missing, /NXDOMAIN/, missing);
      const outside = await sh("nslookup outside.example 10.43.0.10 2>&1");
      assert.match(outside, /Address:\s+192\.0\.2\.7/, outside);
      assert.ok(upstream.asked.includes("outside.example"), upstream.asked.join(","));
      assert.ok(!upstream.asked.some((n) => n.endsWith("cluster.local")), `cluster names are never forwarded: ${upstream.asked.join(",")}`);
    });
  } finally {
    await node.cleanup();
    upstream.close();
  }
});
