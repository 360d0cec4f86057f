// NodeResourcesFit: a pod fits when each resource it requests is at most the node's
// allocatable minus what the node's pods request, and the node has room for one more pod.
// Its score is the default LeastAllocated strategy: the share of cpu and memory left free
// after placing the pod (weight 1 each), with containers that request nothing counted at
// the scheduler's defaults, so empty nodes win and a workload spreads.
import { MAX_NODE_SCORE, unschedulable, type FilterPlugin, type ScorePlugin } from "../framework.ts";
import type { NodeInfo, PodInfo } from "../node-info.ts";

const NAME = "NodeResourcesFit";

/** Every reason the node lacks room for the pod ("Too many pods", "Insufficient cpu", ...), none when it has room. */
export function insufficientResources(pod: PodInfo, node: NodeInfo): string[] {
  const reasons: string[] = [];
  if (node.pods.size + 1 > node.allowedPodCount) reasons.push("Too many pods");
  const want = pod.requests;
  const free = (alloc: number, used: number) => alloc - used;
  if (want.milliCpu > 0 && want.milliCpu > free(node.allocatable.milliCpu, node.requested.milliCpu)) reasons.push("Insufficient cpu");
  if (want.memory > 0 && want.memory > free(node.allocatable.memory, node.requested.memory)) reasons.push("Insufficient memory");
  if (want.ephemeralStorage > 0 && want.ephemeralStorage > free(node.allocatable.ephemeralStorage, node.requested.ephemeralStorage)) reasons.push("Insufficient ephemeral-storage");
  for (const [name, q] of Object.entries(want.scalar)) {
    if (q > 0 && q > free(node.allocatable.scalar[name] ?? 0, node.requested.scalar[name] ?? 0)) reasons.push(`Insufficient ${name}`);
  }
  return reasons;
}

/** leastRequestedScore: the free share of capacity, 0..100 (0 when over-committed). */
function leastRequested(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

export const nodeResourcesFit: FilterPlugin & ScorePlugin = {
  name: NAME,
  weight: 1,
  prepareFilter(pod) {
    return (node) => {
      const reasons = insufficientResources(pod, node);
      return reasons.length ? unschedulable(NAME, ...reasons) : undefined;
    };
  },
  prepareScore(pod) {
    const want = pod.nonZeroRequests;
    return {
      score(node) {
        let sum = 0;
        let weights = 0;
        const pairs = [
          [node.nonZeroRequested.milliCpu + want.milliCpu, node.allocatable.milliCpu],
          [node.nonZeroRequested.memory + want.memory, node.allocatable.memory],
        ] as const;
        for (const [requested, capacity] of pairs) {
          if (capacity === 0) continue;
          sum += leastRequested(requested, capacity);
          weights += 1;
        }
        return weights ? Math.trunc(sum / weights) : 0;
      },
    };
  },
};
