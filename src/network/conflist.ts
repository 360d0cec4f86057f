// The CNI conflist Gantry runs for one attachment: the standard plugins doing the per-container
// kernel work. What is the same for every container of a network is made once per network
// instead (network-rules.ts), so a container costs as few plugin and iptables runs as it can:
//
//   bridge     veth pair into the namespace, the Linux bridge, the gateway address on the
//              bridge, hairpin mode (a container reaches itself through a published port).
//              ipMasq is off: the network's one masquerade rule is in Gantry's nft table,
//              where the plugin would add a chain and three rules per container.
//   host-local IPAM, leases as files under <root>/ipam/<network>/ (its own dataDir, so the
//              host's /var/lib/cni is untouched)
//   portmap    published ports (runtimeConfig.portMappings), DNAT from the host and from
//              127.0.0.1 (snat: true); only for a container that publishes ports (without
//              mappings it would do nothing but cost two runs), never on internal networks
//   tuning     only when sysctls were asked for
//
// The firewall plugin is not used: its per-container ACCEPT rules (for hosts whose FORWARD
// policy is DROP) are one per-network ACCEPT pair in Gantry's own iptables chain.
import type { CniConflist, CniPluginConf } from "./cni.ts";
import { CNI_VERSION } from "./cni.ts";

export interface ConflistInput {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** Sub-range containers get addresses from (Docker's --ip-range). */
  ipRange?: { start: string; end: string };
  internal: boolean;
  mtu?: number;
  ipamDataDir: string;
  /** An `--ipv6` network's subnet and gateway: a second host-local range. */
  v6?: { subnet: string; gateway: string };
  sysctls?: Record<string, string>;
  /** The container publishes ports: portmap joins the list. */
  ports: boolean;
}

export function buildConflist(n: ConflistInput): CniConflist {
  const range: Record<string, string> = { subnet: n.subnet, gateway: n.gateway };
  if (n.ipRange) {
    range.rangeStart = n.ipRange.start;
    range.rangeEnd = n.ipRange.end;
  }
  const bridge: CniPluginConf = {
    type: "bridge",
    bridge: n.bridge,
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    // runtimeConfig.mac (--mac-address) reaches the plugin only when a container asks for one.
    capabilities: { mac: true },
    ipam: {
      type: "host-local",
      dataDir: n.ipamDataDir,
      ranges: n.v6 ? [[range], [{ subnet: n.v6.subnet, gateway: n.v6.gateway }]] : [[range]],
      // An internal network gets no default route: only its own subnet is reachable.
      routes: n.internal ? [] : [{ dst: "0.0.0.0/0" }, ...(n.v6 ? [{ dst: "::/0" }] : [])],
    },
  };
  if (n.mtu !== undefined) bridge.mtu = n.mtu;
  const plugins: CniPluginConf[] = [bridge];
  if (n.ports && !n.internal) plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  if (n.sysctls && Object.keys(n.sysctls).length > 0) plugins.push({ type: "tuning", sysctl: n.sysctls });
  return { cniVersion: CNI_VERSION, name: n.name, plugins };
}

/** Whether DEL of a list may leave per-container iptables rules (portmap, an ipMasq bridge). */
export function mayLeaveRules(list: CniConflist): boolean {
  return list.plugins.some((p) => p.type === "portmap" || p.type === "firewall" || (p.type === "bridge" && p.ipMasq === true));
}

/** The loopback plugin's configuration: `lo` is down in a new network namespace. */
export function loopbackConf(): CniConflist {
  return { cniVersion: CNI_VERSION, name: "gantry-loopback", plugins: [{ type: "loopback" }] };
}
