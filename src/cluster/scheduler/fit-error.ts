// The message of a pod that fits nowhere, in kube-scheduler's words (framework.FitError):
//   0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.
// — every reason counted over the nodes, "<count> <reason>" sorted as strings and joined
// with ", " — then what preemption found, "preemption: 0/3 nodes are available: ...". A
// reason that rejected the pod before any node was looked at (an unbound claim) stands
// alone instead of the per-node counts.
import type { Status } from "./framework.ts";

export interface Diagnosis {
  numAllNodes: number;
  /** Each node's refusal. */
  nodeStatuses: Map<string, Status>;
  /** A PreFilter's refusal of every node. */
  preFilterMessage?: string;
}

export function fitErrorMessage(d: Diagnosis, postFilterMessage?: string): string {
  let msg = `0/${d.numAllNodes} nodes are available:`;
  if (d.preFilterMessage) msg += ` ${d.preFilterMessage}.`;
  else {
    const counts = new Map<string, number>();
    for (const status of d.nodeStatuses.values()) for (const r of status.reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    const parts = [...counts].map(([reason, n]) => `${n} ${reason}`).sort();
    if (parts.length) msg += ` ${parts.join(", ")}.`;
  }
  if (postFilterMessage) msg += ` ${postFilterMessage}`;
  return msg;
}
