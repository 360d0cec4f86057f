// The service proxy's public module: what `gantry server` and `gantry agent` start for their node.
export { DEFAULT_CLUSTER_CIDR, DEFAULT_SERVICE_CIDR, proxyTableName, startServiceProxy, type RunningServiceProxy, type ServiceProxyOptions, type SyncReport } from "./proxier.ts";
export { planServicePorts, isProxied, type ServicePortPlan, type ProxyEndpoint } from "./service-ports.ts";
export { addServicePort, baseTable, emptyRuleset, type ProxyNetwork, type Ruleset } from "./nft-ruleset.ts";
export { diffScript, fullScript } from "./nft-transaction.ts";
