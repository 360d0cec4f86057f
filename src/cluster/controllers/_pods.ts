// What the workload controllers ask of a pod (k8s.io/kubernetes pkg/api/v1/pod and
// pkg/controller's helpers): is it active, ready, available; and the order in which a
// controller with too many pods deletes them (controller.ActivePodsWithRanks).
import type { Pod } from "./_types.ts";

/** Not finished and not being deleted: the pods a ReplicaSet counts (controller.IsPodActive). */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed" && !pod.metadata.deletionTimestamp;
}

export function isPodTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed";
}

function readyCondition(pod: Pod) {
  return pod.status?.conditions?.find((c) => c.type === "Ready");
}

export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === "True";
}

/** When the pod last became ready, in ms since the epoch (undefined when not ready or not recorded). */
export function podReadySince(pod: Pod): number | undefined {
  const c = readyCondition(pod);
  if (c?.status !== "True" || !c.lastTransitionTime) return undefined;
  const t = Date.parse(c.lastTransitionTime);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Ready for at least minReadySeconds at `now` (podutil.IsPodAvailable). A ready pod whose
 * Ready condition carries no time counts as available only when minReadySeconds is 0.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = podReadySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

function maxRestarts(pod: Pod): number {
  let max = 0;
  for (const c of pod.status?.containerStatuses ?? []) max = Math.max(max, c.restartCount ?? 0);
  return max;
}

function creationTime(pod: Pod): number | undefined {
  const t = pod.metadata.creationTimestamp ? Date.parse(pod.metadata.creationTimestamp) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

function deletionCost(pod: Pod): number {
  const v = pod.metadata.annotations?.["controller.kubernetes.io/pod-deletion-cost"];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) ? n : 0;
}

const PHASE_ORDER: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
const phaseOrder = (p: Pod) => PHASE_ORDER[p.status?.phase ?? "Pending"] ?? 0;

/** afterOrZero: a missing time sorts first, then the later one. */
function laterOrMissingFirst(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined) return a === undefined ? (b === undefined ? 0 : -1) : 1;
  return b - a;
}

/**
 * LogarithmicScaleDown: times are compared by the power of two of their age in nanoseconds,
 * so pods of about the same age count as equal and the uid decides (a random pick, which
 * spreads deletions over the pods a scale-up created at once).
 */
function logRank(t: number, now: number): number {
  const ageNs = (now - t) * 1e6;
  return ageNs > 0 ? Math.floor(Math.log2(ageNs)) : -1;
}

function byAge(a: number | undefined, b: number | undefined, pa: Pod, pb: Pod, now: number | undefined): number {
  if (a === b) return 0;
  if (now === undefined || a === undefined || b === undefined) return laterOrMissingFirst(a, b);
  const diff = logRank(a, now) - logRank(b, now);
  if (diff !== 0) return diff;
  const ua = pa.metadata.uid ?? "";
  const ub = pb.metadata.uid ?? "";
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/**
 * The order in which surplus pods are deleted, first to go first (ActivePodsWithRanks.Less):
 * unscheduled before scheduled, Pending before Unknown before Running, not ready before
 * ready, lower pod-deletion-cost first, pods sharing a node with more of their kind first
 * (rank), ready for less time first, more restarts first, newer first.
 */
export function compareForDeletion(a: Pod, b: Pod, rank: (p: Pod) => number, now: number | undefined): number {
  const na = a.spec?.nodeName ?? "";
  const nb = b.spec?.nodeName ?? "";
  if (na !== nb && (na === "" || nb === "")) return na === "" ? -1 : 1;
  if (phaseOrder(a) !== phaseOrder(b)) return phaseOrder(a) - phaseOrder(b);
  const ra = isPodReady(a);
  if (ra !== isPodReady(b)) return ra ? 1 : -1;
  if (deletionCost(a) !== deletionCost(b)) return deletionCost(a) - deletionCost(b);
  if (rank(a) !== rank(b)) return rank(b) - rank(a);
  if (ra) {
    const c = byAge(podReadySince(a), podReadySince(b), a, b, now);
    if (c !== 0) return c;
  }
  if (maxRestarts(a) !== maxRestarts(b)) return maxRestarts(b) - maxRestarts(a);
  return byAge(creationTime(a), creationTime(b), a, b, now);
}

/**
 * The `count` pods to delete out of `pods` (getPodsToDelete): ranked by how many active
 * pods of the same owner family (`related`) share their node.
 */
export function podsToDelete(pods: Pod[], related: Pod[], count: number, now: number): Pod[] {
  if (count <= 0) return [];
  const onNode = new Map<string, number>();
  for (const p of related) {
    if (!isPodActive(p)) continue;
    const node = p.spec?.nodeName ?? "";
    onNode.set(node, (onNode.get(node) ?? 0) + 1);
  }
  const rank = (p: Pod) => onNode.get(p.spec?.nodeName ?? "") ?? 0;
  return [...pods].sort((a, b) => compareForDeletion(a, b, rank, now)).slice(0, count);
}
