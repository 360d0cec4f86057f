// NodePorts: two pods cannot hold the same host port and protocol on one node, unless they
// bind different, specific host IPs (0.0.0.0 takes the port on every address).
import type { HostPort } from "../node-info.ts";
import { unschedulable, type FilterPlugin } from "../framework.ts";

const NAME = "NodePorts";

const conflicts = (a: HostPort, b: HostPort) => a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === "0.0.0.0" || b.ip === "0.0.0.0");

export const nodePorts: FilterPlugin = {
  name: NAME,
  prepareFilter(pod) {
    if (!pod.hostPorts.length) return undefined;
    return (node) => {
      for (const used of node.usedPorts()) {
        if (pod.hostPorts.some((want) => conflicts(want, used))) return unschedulable(NAME, "node(s) didn't have free ports for the requested pod ports");
      }
      return undefined;
    };
  },
};
