// NetworkPolicy's truth table (_truth-table.ts, as Kubernetes' e2e suite checks it) against a
// real `gantry server`: one node (this host's agent, its service proxy and its NetworkPolicy
// enforcer), kubectl and real pods; commands in pods through the node's engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { skipReason, startServerNode, until } from "../cluster-proxy/_server-node.ts";
import { netpolTableName } from "../../src/cluster/netpol/index.ts";
import { NAMESPACES, podAddresses, podsYaml, runTruthTable } from "./_truth-table.ts";

test("NetworkPolicy truth table on one node: default deny, allow from a namespace, allow by (named) port, egress deny", { skip: skipReason() }, async (t) => {
  const node = await startServerNode();
  const table_ = netpolTableName(join(node.dir, "data", "agent"));
  try {
    await node.kubectl(["apply", "-f", "-"], podsYaml());
    const { ips } = await podAddresses(node, until);
    const nsLabel = await node.kubectl(["get", "namespace", "y", "-o", "jsonpath={.metadata.labels.kubernetes\\.io/metadata\\.name}"]);
    assert.equal(nsLabel, "y", "the API labels a namespace with its name");
    await runTruthTable(t, { kubectl: (a, input) => node.kubectl(a, input), exec: (pod, cmd, ns) => node.exec(pod, cmd, ns) }, ips, () => {
      assert.match(node.nft(["list", "table", "ip", table_]), /ip daddr vmap @ingress-pods/);
      assert.match(node.nft(["list", "table", "ip", table_]), /reject with icmp/);
    });
  } finally {
    await node.kubectlResult(["delete", "namespaces", ...NAMESPACES, "--wait=false"]);
    await node.cleanup();
    spawnSync("nft", ["delete", "table", "ip", table_], { stdio: "ignore" });
  }
});
