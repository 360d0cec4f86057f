// NodeResourcesBalancedAllocation: prefers nodes where cpu and memory would be used in equal
// shares after placing the pod, so one resource is not exhausted while the other idles:
// (1 - the standard deviation of the used fractions) × 100. Pods that request neither
// are skipped (they change nothing).
import { MAX_NODE_SCORE, type ScorePlugin } from "../framework.ts";

const NAME = "NodeResourcesBalancedAllocation";

export const balancedAllocation: ScorePlugin = {
  name: NAME,
  weight: 1,
  prepareScore(pod) {
    const want = pod.requests;
    if (want.milliCpu === 0 && want.memory === 0) return undefined;
    return {
      score(node) {
        const fractions: number[] = [];
        const pairs = [
          [node.requested.milliCpu + want.milliCpu, node.allocatable.milliCpu],
          [node.requested.memory + want.memory, node.allocatable.memory],
        ] as const;
        for (const [requested, capacity] of pairs) {
          if (capacity === 0) continue;
          fractions.push(Math.min(1, requested / capacity));
        }
        const std = fractions.length === 2 ? Math.abs((fractions[0]! - fractions[1]!) / 2) : 0;
        return Math.trunc((1 - std) * MAX_NODE_SCORE);
      },
    };
  },
};
