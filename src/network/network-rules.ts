// The host rules that are the same for every container of a network, made once per network
// (at create, remove and reconcile) instead of by a plugin for each container:
//
//   nft table inet gantry-<root hash>   rebuilt whole from the registry in one transaction
//     chain forward      isolation: an internal network forwards nothing off its bridge; two
//                        networks do not reach each other (Docker's DOCKER-ISOLATION) except
//                        through a published port (a DNATed connection), which Docker allows
//     chain postrouting  masquerade of each non-internal network's traffic leaving its subnet
//                        (what the bridge plugin's ipMasq made as a chain per container:
//                        `-s IP -j CNI-x`, `CNI-x: -d SUBNET ACCEPT, ! -d 224.0.0.0/4 MASQUERADE`)
//   iptables filter GANTRY-<root hash> ACCEPT of each non-internal bridge's forwarded traffic,
//                        jumped to from FORWARD: on hosts whose FORWARD policy is DROP (any
//                        host running dockerd) an nft accept cannot overrule iptables' drop, so
//                        this must be an iptables rule (the firewall plugin's job, per container)
//
// Both carry the state root's hash, so removing them never touches another root's rules.
import { createHash } from "node:crypto";
import { runCommand, runChecked } from "./exec.ts";

export interface NetworkRuleInput {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** Destinations reached without masquerade besides the subnet (a cluster's pod CIDR, or several comma-separated: pods see each other's addresses). */
  noMasqueradeTo?: string;
}

export interface NetworkRuleNames {
  /** nft table (inet family). */
  table: string;
  /** iptables filter chain. */
  chain: string;
}

/** The rule names of a state root: both carry a hash of the root's path. */
export function ruleNamesOf(root: string): NetworkRuleNames {
  const hash = createHash("sha256").update(root).digest("hex").slice(0, 10);
  return { table: `gantry-${hash}`, chain: `GANTRY-${hash}` };
}

/** The nft script that replaces the table with the rules of `nets` (or just deletes it). */
export function nftRulesScript(table: string, nets: NetworkRuleInput[]): string {
  const lines = [`table inet ${table}`, `delete table inet ${table}`];
  const forward: string[] = [];
  for (const b of nets.filter((x) => x.internal)) {
    forward.push(
      `iifname "${b.bridge}" oifname != "${b.bridge}" drop`,
      `oifname "${b.bridge}" iifname != "${b.bridge}" drop`,
    );
  }
  if (nets.length > 1) {
    forward.push("ct status dnat accept");
    for (const b of nets) {
      const others = nets.filter((x) => x.bridge !== b.bridge).map((x) => `"${x.bridge}"`);
      forward.push(`iifname "${b.bridge}" oifname { ${others.join(", ")} } drop`);
    }
  }
  const masquerade = nets
    .filter((x) => !x.internal)
    .map((x) => `ip saddr ${x.subnet} ip daddr != ${x.subnet}${x.noMasqueradeTo ? ` ip daddr != ${x.noMasqueradeTo.includes(",") ? `{ ${x.noMasqueradeTo} }` : x.noMasqueradeTo}` : ""} ip daddr != 224.0.0.0/4 masquerade`);
  if (forward.length + masquerade.length > 0) {
    lines.push(`table inet ${table} {`);
    if (forward.length > 0) {
      lines.push("  chain forward {", "    type filter hook forward priority -1; policy accept;");
      for (const r of forward) lines.push(`    ${r}`);
      lines.push("  }");
    }
    if (masquerade.length > 0) {
      lines.push("  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;");
      for (const r of masquerade) lines.push(`    ${r}`);
      lines.push("  }");
    }
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}

/** iptables-restore input that replaces `chain`'s rules (--noflush: other chains stay). */
export function forwardRulesRestore(chain: string, nets: NetworkRuleInput[]): string {
  const lines = ["*filter", `:${chain} - [0:0]`];
  for (const n of nets.filter((x) => !x.internal)) {
    lines.push(
      `-A ${chain} -o ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${chain} -i ${n.bridge} -j ACCEPT`,
    );
  }
  lines.push("COMMIT");
  return lines.join("\n") + "\n";
}

/** Makes the host's per-network rules match `nets`; with no network they are removed. */
export async function syncNetworkRules(names: NetworkRuleNames, nets: NetworkRuleInput[]): Promise<void> {
  await runChecked("nft", ["-f", "-"], { input: nftRulesScript(names.table, nets) });
  if (!nets.some((n) => !n.internal)) {
    await removeForwardChain(names.chain);
    return;
  }
  await runChecked("iptables-restore", ["-w", "--noflush"], { input: forwardRulesRestore(names.chain, nets) });
  if ((await runCommand("iptables", ["-w", "-C", "FORWARD", "-j", names.chain])).code !== 0)
    await runChecked("iptables", ["-w", "-I", "FORWARD", "1", "-j", names.chain]);
}

async function removeForwardChain(chain: string): Promise<void> {
  // Every jump first (a chain that is still referenced cannot go), then the chain.
  while ((await runCommand("iptables", ["-w", "-D", "FORWARD", "-j", chain])).code === 0) {
    /* a second jump, made by a crash between -C and -I of two processes */
  }
  await runCommand("iptables", ["-w", "-F", chain]);
  await runCommand("iptables", ["-w", "-X", chain]);
}

/** Removes the per-network rules of a state root (no network of it is in use any more). */
export async function removeNetworkRules(names: NetworkRuleNames): Promise<void> {
  await syncNetworkRules(names, []);
}
