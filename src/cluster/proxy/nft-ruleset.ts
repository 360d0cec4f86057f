// Services as nftables rules, in the shape of kube-proxy's nftables mode
// (pkg/proxy/nftables/proxier.go): one table; a verdict map from ClusterIP . protocol . port
// (and one from protocol . nodePort) to a chain per Service port; in it a random pick among
// endpoint chains (numgen), each DNATing to one endpoint. Rendering is pure: a Ruleset is
// the whole desired state as data, and nft-transaction.ts turns the difference between two
// of them into one nft transaction.
//
//   nat-prerouting/nat-output ─► services ─┬─ ip daddr . l4proto . dport vmap @service-ips ─► service-H-ns/svc/tcp/p ─► endpoint-H-…__10.42.0.5/80 (dnat)
//                                          └─ fib daddr type local … vmap @service-nodeports ─► external-H-… ─► service-… | local-…
//   filter hooks ─► service-endpoints-check (@no-endpoint-services: reject/drop), cluster-ips-check (bad port: reject), then -unallocated (the rest of the service CIDR: drop)
//   nat-postrouting ─► masquerading (what mark-for-masquerade marked)
import { createHash } from "node:crypto";
import type { ProxyEndpoint, ServicePortPlan } from "./service-ports.ts";

export interface ProxyNetwork {
  /** Pod addresses: traffic from elsewhere to a ClusterIP is masqueraded (kube-proxy's --cluster-cidr). */
  clusterCIDRs: string[];
  /** Where ClusterIPs come from: traffic to one that is not allocated is dropped, never routed out. */
  serviceCIDR: string;
}

export interface MapElement {
  map: string;
  key: string;
  /** The verdict for maps; absent for sets. */
  value?: string;
}

export interface Ruleset {
  chains: Map<string, string[]>;
  /** Set name → its body (type, flags, timeout). */
  sets: Map<string, string>;
  /** `map key` → element. */
  elements: Map<string, MapElement>;
}

export const MASQUERADE_MARK = "0x4000";

export const emptyRuleset = (): Ruleset => ({ chains: new Map(), sets: new Map(), elements: new Map() });

/** The table's fixed part: hooks, dispatch maps, checks. Written whole at start (full resync). */
export function baseTable(table: string, net: ProxyNetwork): string {
  const notLoopback = "ip daddr != 127.0.0.0/8";
  const chain = (name: string, hook: string | undefined, rules: string[]) => [`  chain ${name} {`, ...(hook ? [`    ${hook}`] : []), ...rules.map((r) => `    ${r}`), "  }"];
  return [
    `table ip ${table} {`,
    "  set cluster-ips { type ipv4_addr; }",
    "  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "  map service-nodeports { type inet_proto . inet_service : verdict; }",
    "  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "  map no-endpoint-nodeports { type inet_proto . inet_service : verdict; }",
    // nft 1.0.6 takes no `dstnat` keyword on output and no rule on the hook's line: numbers, one rule a line.
    ...chain("filter-input", "type filter hook input priority -110; policy accept;", ["ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check"]),
    ...chain("filter-forward", "type filter hook forward priority -110; policy accept;", ["ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"]),
    ...chain("filter-output", "type filter hook output priority -110; policy accept;", ["ct state new jump service-endpoints-check"]),
    ...chain("filter-output-post-dnat", "type filter hook output priority -90; policy accept;", ["ct state new jump cluster-ips-check"]),
    // Last, after every proxy's own checks (tests run several nodes in one namespace, whose
    // tables must not drop each other's Services before those are rejected or DNATed).
    ...chain("filter-forward-unallocated", "type filter hook forward priority -100; policy accept;", [`ct state new ip daddr ${net.serviceCIDR} drop`]),
    ...chain("filter-output-unallocated", "type filter hook output priority -80; policy accept;", [`ct state new ip daddr ${net.serviceCIDR} drop`]),
    ...chain("nat-prerouting", "type nat hook prerouting priority -100; policy accept;", ["jump services"]),
    ...chain("nat-output", "type nat hook output priority -100; policy accept;", ["jump services"]),
    ...chain("nat-postrouting", "type nat hook postrouting priority 100; policy accept;", ["jump masquerading"]),
    ...chain("mark-for-masquerade", undefined, [`meta mark set meta mark or ${MASQUERADE_MARK}`]),
    ...chain("masquerading", undefined, [`meta mark & ${MASQUERADE_MARK} == 0 return`, `meta mark set meta mark xor ${MASQUERADE_MARK}`, "masquerade fully-random"]),
    // NodePorts answer on every local address but loopback, as kube-proxy's nftables mode does.
    ...chain("services", undefined, ["ip daddr . meta l4proto . th dport vmap @service-ips", `fib daddr type local ${notLoopback} meta l4proto . th dport vmap @service-nodeports`]),
    ...chain("service-endpoints-check", undefined, ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"]),
    ...chain("nodeport-endpoints-check", undefined, [`${notLoopback} meta l4proto . th dport vmap @no-endpoint-nodeports`]),
    // A known ClusterIP on a port it does not serve. Traffic to an address of the service CIDR
    // nobody holds is dropped by the -unallocated chains: it would otherwise follow the
    // default route off the machine.
    ...chain("cluster-ips-check", undefined, ["ip daddr @cluster-ips reject"]),
    ...chain("reject-chain", undefined, ["reject"]),
    "}",
  ].join("\n");
}

/** kube-proxy's hashed chain prefix: 8 base32 characters of sha256, so names stay unique whatever they contain. */
function hashOf(text: string): string {
  const digest = createHash("sha256").update(text).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 8) break;
  }
  return out;
}

export const serviceChain = (p: ServicePortPlan) => `service-${hashOf(p.id)}-${p.id}`;
export const localChain = (p: ServicePortPlan) => `local-${hashOf(p.id)}-${p.id}`;
export const externalChain = (p: ServicePortPlan) => `external-${hashOf(p.id)}-${p.id}`;
const endpointSuffix = (p: ServicePortPlan, e: ProxyEndpoint) => `${hashOf(`${p.id}/${e.ip}:${e.port}`)}-${p.id}__${e.ip}/${e.port}`;
export const endpointChain = (p: ServicePortPlan, e: ProxyEndpoint) => `endpoint-${endpointSuffix(p, e)}`;
const affinitySet = (p: ServicePortPlan, e: ProxyEndpoint) => `affinity-${endpointSuffix(p, e)}`;

/** A chain choosing among endpoints: sticky clients first (affinity), then one at random. */
function balancingRules(p: ServicePortPlan, eps: ProxyEndpoint[]): string[] {
  const rules: string[] = [];
  if (p.affinitySeconds !== undefined) for (const e of eps) rules.push(`ip saddr @${affinitySet(p, e)} goto ${endpointChain(p, e)}`);
  rules.push(`numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${endpointChain(p, e)}`).join(", ")} }`);
  return rules;
}

/** Adds one Service port's chains, sets and map elements to the ruleset. */
export function addServicePort(rs: Ruleset, p: ServicePortPlan, net: ProxyNetwork): void {
  const proto = p.protocol.toLowerCase();
  const key = `${p.clusterIP} . ${proto} . ${p.port}`;
  rs.elements.set(`cluster-ips ${p.clusterIP}`, { map: "cluster-ips", key: p.clusterIP });
  const used = new Map<string, ProxyEndpoint>();
  const clusterChain = p.clusterEndpoints.length ? serviceChain(p) : undefined;
  const localOnly = p.localEndpoints.length ? localChain(p) : undefined;
  if (clusterChain) {
    const rules: string[] = [];
    // Falling through leaves the packet to whatever else serves the address (another node's
    // table when tests share a namespace); on a real node nothing else does.
    if (p.onlyFrom) rules.push(`ip saddr != { ${p.onlyFrom.join(", ")} } fib saddr type != local return`);
    if (!p.internalLocal) rules.push(`ip daddr ${p.clusterIP} ${proto} dport ${p.port} ip saddr != { ${net.clusterCIDRs.join(", ")} } jump mark-for-masquerade`);
    rs.chains.set(clusterChain, [...rules, ...balancingRules(p, p.clusterEndpoints)]);
    for (const e of p.clusterEndpoints) used.set(endpointChain(p, e), e);
  }
  if (localOnly && (p.internalLocal || p.externalLocal)) {
    rs.chains.set(localOnly, balancingRules(p, p.localEndpoints));
    for (const e of p.localEndpoints) used.set(endpointChain(p, e), e);
  }
  // No endpoint at all: refuse at once (the client sees "connection refused"); endpoints only
  // elsewhere under a Local policy: drop, as kube-proxy does.
  const noEndpoints = p.hasAnyEndpoints && p.clusterEndpoints.length ? "drop" : "goto reject-chain";
  const internal = p.internalLocal ? localOnly : clusterChain;
  if (internal) rs.elements.set(`service-ips ${key}`, { map: "service-ips", key, value: `goto ${internal}` });
  else rs.elements.set(`no-endpoint-services ${key}`, { map: "no-endpoint-services", key, value: noEndpoints });

  if (p.nodePort !== undefined) {
    const npKey = `${proto} . ${p.nodePort}`;
    if (clusterChain) {
      const ext = externalChain(p);
      const rules = p.externalLocal
        ? [
            // Pods and the node itself reach every endpoint; outside clients only this node's
            // (none here: dropped), keeping their source address.
            `ip saddr { ${net.clusterCIDRs.join(", ")} } goto ${clusterChain}`,
            "fib saddr type local jump mark-for-masquerade",
            `fib saddr type local goto ${clusterChain}`,
            localOnly ? `goto ${localOnly}` : "drop",
          ]
        : ["jump mark-for-masquerade", `goto ${clusterChain}`];
      rs.chains.set(ext, rules);
      rs.elements.set(`service-nodeports ${npKey}`, { map: "service-nodeports", key: npKey, value: `goto ${ext}` });
    } else {
      rs.elements.set(`no-endpoint-nodeports ${npKey}`, { map: "no-endpoint-nodeports", key: npKey, value: "goto reject-chain" });
    }
  }

  for (const [name, e] of used) {
    const rules = [`ip saddr ${e.ip} jump mark-for-masquerade`];
    if (p.affinitySeconds !== undefined) {
      const set = affinitySet(p, e);
      rs.sets.set(set, `type ipv4_addr; flags dynamic,timeout; timeout ${p.affinitySeconds}s;`);
      rules.push(`update @${set} { ip saddr }`);
    }
    rules.push(`meta l4proto ${proto} dnat to ${e.ip}:${e.port}`);
    rs.chains.set(name, rules);
  }
}
