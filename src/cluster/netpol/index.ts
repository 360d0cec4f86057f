// NetworkPolicy's public module: what `gantry server` and `gantry agent` start for their node, beside the service proxy.
export { netpolTableName, startNetworkPolicy, type NetworkPolicyOptions, type RunningNetworkPolicy } from "./enforcer.ts";
export { renderPolicies, policyScript, type PolicyRuleset, type PolicyState } from "./ruleset.ts";
