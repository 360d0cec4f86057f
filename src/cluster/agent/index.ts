// The node agent's public module: what `gantry server` and `gantry agent` start.
export { startAgent, KUBELET_VERSION, DEFAULT_POD_BRIDGE, DEFAULT_POD_SUBNET, type AgentOptions, type RunningAgent } from "./agent.ts";
export { parseReserve, type Reserve } from "./node-object.ts";
