// The default profile's filters, in kube-scheduler's order (a node is refused by the first
// filter that fails, so the order decides which reason it reports), and its scores with
// their weights (pkg/scheduler/apis/config/v1 default_plugins.go).
import type { FilterPlugin, ScorePlugin } from "../framework.ts";
import { balancedAllocation } from "./balanced-allocation.ts";
import { interPodAffinity } from "./inter-pod-affinity.ts";
import { nodeAffinity } from "./node-affinity.ts";
import { nodePorts } from "./node-ports.ts";
import { nodeResourcesFit } from "./node-resources-fit.ts";
import { nodeUnschedulable } from "./node-unschedulable.ts";
import { podTopologySpread } from "./pod-topology-spread.ts";
import { taintToleration } from "./taint-toleration.ts";
import { volumeBinding } from "./volume-binding.ts";

export interface Profile {
  filters: readonly FilterPlugin[];
  scores: readonly ScorePlugin[];
}

export const defaultProfile: Profile = {
  filters: [nodeUnschedulable, taintToleration, nodeAffinity, nodePorts, nodeResourcesFit, volumeBinding, podTopologySpread, interPodAffinity],
  scores: [taintToleration, nodeAffinity, nodeResourcesFit, podTopologySpread, interPodAffinity, balancedAllocation],
};
