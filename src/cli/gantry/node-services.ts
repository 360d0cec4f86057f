// A node's processes beside its agent, composed here because the layer table keeps the agent
// from importing them (k3s runs them in one process the same way): the service proxy
// (kube-proxy's nftables mode), NetworkPolicy enforcement and cluster DNS, answered by the node itself on its pod
// bridge's address, which the proxy maps the kube-dns Service's ClusterIP to (as NodeLocal
// DNSCache does), so every node answers its own pods without endpoints crossing nodes.
import { readFileSync } from "node:fs";
import { invalidArgument } from "../../common/errors.ts";
import { InformerFactory, type Client } from "../../cluster/client/index.ts";
import { startAgent, type AgentOptions, type RunningAgent } from "../../cluster/agent/index.ts";
import { DEFAULT_CLUSTER_CIDR, proxyTableName, startServiceProxy } from "../../cluster/proxy/index.ts";
import { DEFAULT_CLUSTER_DNS, DEFAULT_CLUSTER_DOMAIN, startClusterDns } from "../../cluster/dns/index.ts";
import { netpolTableName, startNetworkPolicy } from "../../cluster/netpol/index.ts";

/** The node flags these services read (`gantry agent` and `gantry server` share them). */
export interface NodeServiceFlags {
  podSubnet?: string;
  clusterCidr?: string;
  serviceProxy: boolean;
  /** NetworkPolicy enforcement, independent of the service proxy (`--no-network-policy`). */
  networkPolicy: boolean;
  clusterDns?: string;
  clusterDomain?: string;
  dnsUpstream: string[];
}

export const KUBE_DNS = { namespace: "kube-system", name: "kube-dns" };
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

export function clusterDnsOf(flags: NodeServiceFlags): { servers: string[]; domain: string } {
  const server = flags.clusterDns ?? DEFAULT_CLUSTER_DNS;
  if (!IPV4.test(server)) throw invalidArgument(`--cluster-dns must be an IPv4 address, not "${server}"`);
  return { servers: [server], domain: (flags.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).replace(/\.$/, "") };
}

/** The pod bridge's own address: the first host of the pod subnet (host-local's default gateway). */
export function podGateway(subnet: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw invalidArgument(`--pod-subnet must be an IPv4 CIDR, not "${subnet}"`);
  const n = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const mask = Number(m[5]) === 0 ? 0 : (~0 << (32 - Number(m[5]))) >>> 0;
  const gw = ((n & mask) + 1) >>> 0;
  return [gw >>> 24, (gw >>> 16) & 255, (gw >>> 8) & 255, gw & 255].join(".");
}

/** The node's own resolvers (not loopback ones, which mean nothing from a pod or another namespace). */
function nodeUpstreams(): string[] {
  try {
    return readFileSync("/etc/resolv.conf", "utf8")
      .split("\n")
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => !!ip && IPV4.test(ip) && !ip.startsWith("127."));
  } catch {
    return [];
  }
}

/**
 * The node's agent, its service proxy and cluster DNS (unless --no-service-proxy), and its
 * NetworkPolicy enforcer (unless --no-network-policy). The nft tables are named after the data
 * root, so a restart replaces its own tables and two nodes sharing a network namespace (tests)
 * keep theirs apart. They share one informer factory: one watch and one cache per kind on the
 * node (Services were watched three times, EndpointSlices twice).
 */
export async function startNode(flags: NodeServiceFlags, client: Client, options: AgentOptions): Promise<RunningAgent> {
  const log = (m: string) => console.error(`gantry agent: ${m}`);
  const informers = new InformerFactory(client, { log });
  informers.start(); // each informer starts as it is asked for
  let agent: RunningAgent;
  try {
    // With NetworkPolicy on, the enforcer caches every pod: the agent's come from that cache.
    agent = await startAgent({ ...options, informers, sharedPods: flags.networkPolicy });
  } catch (err) {
    await informers.stop();
    throw err;
  }
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
    await agent.stop();
    await informers.stop();
  };
  if (!flags.serviceProxy && !flags.networkPolicy) return { ...agent, stop: stopAll };
  try {
    if (flags.serviceProxy) {
      const clusterCIDRs = (flags.clusterCidr ?? DEFAULT_CLUSTER_CIDR).split(",").map((c) => c.trim()).filter(Boolean);
      for (const c of clusterCIDRs) if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c)) throw invalidArgument(`--cluster-cidr must be IPv4 CIDRs such as ${DEFAULT_CLUSTER_CIDR}, not "${c}"`);
      const dnsConfig = clusterDnsOf(flags);
      // The pod bridge's address on this node: its subnet is the Node's podCIDR unless --pod-subnet set it.
      const dnsHost = podGateway(agent.podSubnet);
      const dns = await startClusterDns({ client, informers, host: dnsHost, port: 53, domain: dnsConfig.domain, upstreams: flags.dnsUpstream.length ? flags.dnsUpstream : nodeUpstreams(), log });
      stops.push(() => dns.stop());
      const proxy = await startServiceProxy({ client, informers, nodeName: agent.nodeName, table: proxyTableName(options.dataRoot), clusterCIDRs, nodeLocalDNS: { ...KUBE_DNS, ip: dnsHost, port: 53, clients: [agent.podSubnet] }, log });
      stops.push(() => proxy.stop());
    }
    if (flags.networkPolicy) {
      const policy = await startNetworkPolicy({ client, informers, nodeName: agent.nodeName, table: netpolTableName(options.dataRoot), log });
      stops.push(() => policy.stop());
    }
    return { ...agent, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
