// Cluster DNS's public module: what `gantry server` and `gantry agent` start for their node.
export { answerQuery, DEFAULT_CLUSTER_DNS, DEFAULT_CLUSTER_DOMAIN, startClusterDns, type ClusterDnsOptions, type RunningClusterDns } from "./dns-server.ts";
export { resolveQuestion, type ClusterView, type DnsSettings, type Resolution } from "./records.ts";
