// NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods that tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint (DaemonSet pods do).
import { unresolvable, type FilterPlugin } from "../framework.ts";
import { isTolerated } from "./taint-toleration.ts";

const NAME = "NodeUnschedulable";
const UNSCHEDULABLE_TAINT = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" };

export const nodeUnschedulable: FilterPlugin = {
  name: NAME,
  prepareFilter(pod) {
    const tolerates = isTolerated(pod.pod.spec?.tolerations ?? [], UNSCHEDULABLE_TAINT);
    return (node) => (node.node.spec?.unschedulable && !tolerates ? unresolvable(NAME, "node(s) were unschedulable") : undefined);
  },
};
