// The CNI conflist Gantry writes for a network: the standard plugins doing the kernel work.
//
//   bridge     veth pair into the namespace, the Linux bridge, the gateway address on the
//              bridge, hairpin mode (a container reaches itself through a published port),
//              outbound masquerade (ipMasq) unless the network is internal
//   host-local IPAM, leases as files under <root>/ipam/<network>/ (its own dataDir, so the
//              host's /var/lib/cni is untouched)
//   portmap    published ports (runtimeConfig.portMappings), DNAT from the host and from
//              127.0.0.1 (snat: true), not on internal networks
//   firewall   ACCEPT rules in CNI-FORWARD for the container's address, for hosts whose
//              FORWARD policy is DROP; not on internal networks, which must not forward
//   tuning     only when sysctls were asked for
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
  /** Admin chain for the firewall plugin; Gantry names its own so CNI-ADMIN stays untouched. */
  firewallAdminChain: string;
  sysctls?: Record<string, string>;
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
    ipMasq: !n.internal,
    hairpinMode: true,
    ipam: {
      type: "host-local",
      dataDir: n.ipamDataDir,
      ranges: [[range]],
      // An internal network gets no default route: only its own subnet is reachable.
      routes: n.internal ? [] : [{ dst: "0.0.0.0/0" }],
    },
  };
  if (n.mtu !== undefined) bridge.mtu = n.mtu;
  const plugins: CniPluginConf[] = [bridge];
  if (!n.internal) {
    plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
    plugins.push({ type: "firewall", backend: "iptables", iptablesAdminChainName: n.firewallAdminChain });
  }
  if (n.sysctls && Object.keys(n.sysctls).length > 0) plugins.push({ type: "tuning", sysctl: n.sysctls });
  return { cniVersion: CNI_VERSION, name: n.name, plugins };
}

/** The loopback plugin's configuration: `lo` is down in a new network namespace. */
export function loopbackConf(): CniConflist {
  return { cniVersion: CNI_VERSION, name: "gantry-loopback", plugins: [{ type: "loopback" }] };
}
