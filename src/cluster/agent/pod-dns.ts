// A pod's /etc/resolv.conf as the kubelet makes it (pkg/kubelet/network/dns/dns.go), pure.
// dnsPolicy ClusterFirst (the default): the cluster DNS Service's address, the search path
// <ns>.svc.<domain> svc.<domain> <domain> then the node's, ndots:5 — except with hostNetwork,
// where it means Default; ClusterFirstWithHostNet: cluster DNS even then; Default: the node's
// resolv.conf; None: nothing but dnsConfig. dnsConfig then adds nameservers and searches
// (duplicates dropped) and options (one of the same name replaced).
import type { Pod } from "./pod-types.ts";

export interface ClusterDnsConfig {
  /** The cluster DNS Service's addresses (kubelet --cluster-dns); empty: none. */
  servers: string[];
  domain: string;
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** The nameserver, search/domain and options lines of a resolv.conf. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const line of text.split("\n")) {
    const [key, ...vals] = line.replace(/[#;].*/, "").trim().split(/\s+/);
    if (key === "nameserver" && vals[0]) out.nameservers.push(vals[0]);
    else if (key === "search" || key === "domain") out.search = vals;
    else if (key === "options") out.options.push(...vals);
  }
  return out;
}

// The kubelet's limits (validation.MaxDNSNameservers, MaxDNSSearchPaths).
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

export function podResolvConf(pod: Pod, cluster: ClusterDnsConfig, node: ResolvConf): string {
  const policy = pod.spec.dnsPolicy ?? "ClusterFirst";
  const useCluster = cluster.servers.length > 0 && (policy === "ClusterFirstWithHostNet" || (policy === "ClusterFirst" && !pod.spec.hostNetwork));
  let conf: ResolvConf;
  if (policy === "None") conf = { nameservers: [], search: [], options: [] };
  else if (useCluster) {
    const ns = pod.metadata.namespace ?? "default";
    const d = cluster.domain;
    conf = { nameservers: [...cluster.servers], search: [`${ns}.svc.${d}`, `svc.${d}`, d, ...node.search], options: ["ndots:5"] };
  } else conf = { nameservers: [...node.nameservers], search: [...node.search], options: [...node.options] };
  const extra = pod.spec.dnsConfig;
  if (extra) {
    conf.nameservers = [...new Set([...conf.nameservers, ...(extra.nameservers ?? [])])];
    conf.search = [...new Set([...conf.search, ...(extra.searches ?? [])])];
    const byName = new Map(conf.options.map((o) => [o.split(":")[0]!, o]));
    for (const o of extra.options ?? []) byName.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
    conf.options = [...byName.values()];
  }
  const lines = [
    ...conf.nameservers.slice(0, MAX_NAMESERVERS).map((n) => `nameserver ${n}`),
    ...(conf.search.length ? [`search ${conf.search.slice(0, MAX_SEARCHES).join(" ")}`] : []),
    ...(conf.options.length ? [`options ${conf.options.join(" ")}`] : []),
  ];
  return lines.join("\n") + "\n";
}
