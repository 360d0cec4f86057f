// The node's two network switches are independent: `--no-service-proxy` leaves Services (and
// cluster DNS) to someone else but still enforces NetworkPolicies; `--no-network-policy` does
// the opposite. What each node programs is read from its nft tables after a policy is stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { skipReason, startServerNode, until } from "../cluster-proxy/_server-node.ts";
import { netpolTableName } from "../../src/cluster/netpol/index.ts";

const DENY_ALL = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: default}\nspec: {podSelector: {}, policyTypes: [Ingress]}`;

const tables = (out: string) => out.split("\n").filter(Boolean);

test("--no-service-proxy still enforces NetworkPolicies; --no-network-policy still programs Services", { skip: skipReason() }, async (t) => {
  await t.test("--no-service-proxy", async () => {
    const node = await startServerNode(["--no-service-proxy"]);
    try {
      const policyTable = netpolTableName(join(node.dir, "data", "agent"));
      await node.kubectl(["apply", "-f", "-"], DENY_ALL);
      await node.kubectl(["run", "web", "--image", "busybox", "--image-pull-policy", "Never", "--", "sleep", "300"]);
      const ip = await until("web's pod IP", async () => (await node.kubectl(["get", "pod", "web", "-o", "jsonpath={.status.podIP}"])).trim() || undefined);
      // The pod the policy selects is isolated: its address maps to a chain that rejects.
      const rules = await until("web isolated in the node's table", () => {
        const out = node.nft(["list", "table", "ip", policyTable]);
        return new RegExp(`${ip.replace(/\./g, "\\.")} : (goto|jump) ingress-`).test(out) ? out : undefined;
      });
      assert.match(rules, /reject with icmp admin-prohibited/);
      assert.ok(!tables(node.nft(["list", "tables"])).includes(`table ip ${node.table}`), "no service proxy table");
      assert.doesNotMatch(node.log(), /service proxy: node/);
    } finally {
      await node.cleanup();
    }
  });

  await t.test("--no-network-policy", async () => {
    const node = await startServerNode(["--no-network-policy"]);
    try {
      const policyTable = netpolTableName(join(node.dir, "data", "agent"));
      await node.kubectl(["apply", "-f", "-"], DENY_ALL);
      await node.kubectl(["create", "service", "clusterip", "web", "--tcp=80:8080"]);
      const ip = (await node.kubectl(["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"])).trim();
      await until("the Service in the proxy's table", () => node.nft(["list", "table", "ip", node.table]).includes(`${ip} . tcp . 80`) || undefined);
      assert.ok(!tables(node.nft(["list", "tables"])).includes(`table ip ${policyTable}`), "no NetworkPolicy table");
      assert.doesNotMatch(node.log(), /network policy: node/);
    } finally {
      await node.cleanup();
    }
  });
});
