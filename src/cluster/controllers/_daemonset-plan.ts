// What a DaemonSet asks of the cluster, decided without I/O (pkg/controller/daemon): which
// nodes should run its pod (nodeSelector, required node affinity, taints against the
// tolerations Kubernetes adds to every daemon pod), the pod for a node (pinned with node
// affinity on metadata.name, bound by the scheduler), the pods to create and delete, the
// old pods a RollingUpdate may replace within maxUnavailable, and the status.
import type { KubeObject } from "../client/index.ts";
import { computeTemplateHash } from "./_pod-template-hash.ts";
import { controllerRefTo } from "./_owner-refs.ts";
import { isPodAvailable, isPodReady } from "./_pods.ts";
import { scaledValue } from "./_rollout.ts";
import { DAEMON_SETS, type DaemonSet, type DaemonSetStatus, type Node, type NodeSelectorRequirement, type NodeSelectorTerm, type Pod, type Taint, type Toleration } from "./_types.ts";

/** The label naming the ControllerRevision (template hash) a pod was made from. */
export const REVISION_HASH_LABEL = "controller-revision-hash";

/** The template's hash: a pod carrying another one is old. */
export function daemonSetHash(ds: DaemonSet): string {
  return computeTemplateHash(ds.spec.template, ds.status?.collisionCount);
}

/** The tolerations every daemon pod gets (AddOrUpdateDaemonPodTolerations), so it runs where others may not. */
export function daemonPodTolerations(spec: Record<string, unknown>): Toleration[] {
  const own = (spec.tolerations as Toleration[] | undefined) ?? [];
  const add: Toleration[] = [
    { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
    { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
    { key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" },
    { key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" },
    { key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule" },
    { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
  ];
  if (spec.hostNetwork === true) add.push({ key: "node.kubernetes.io/network-unavailable", operator: "Exists", effect: "NoSchedule" });
  const out = [...own];
  for (const t of add) if (!out.some((o) => o.key === t.key && o.effect === t.effect)) out.push(t);
  return out;
}

function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.operator === "Exists") return !t.key || t.key === taint.key;
  return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
}

function requirementHolds(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      const n = Number(value);
      const bound = Number(values[0]);
      if (value === undefined || Number.isNaN(n) || Number.isNaN(bound)) return false;
      return r.operator === "Gt" ? n > bound : n < bound;
    }
    default:
      return false;
  }
}

function termMatches(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  return exprs.every((r) => requirementHolds(r, node.metadata.labels?.[r.key])) && fields.every((r) => requirementHolds(r, r.key === "metadata.name" ? node.metadata.name : undefined));
}

/** nodeSelector and required node affinity (nodeaffinity.GetRequiredNodeAffinity). */
export function nodeMatchesPodSpec(spec: Record<string, unknown>, node: Node): boolean {
  const selector = (spec.nodeSelector as Record<string, string> | undefined) ?? {};
  if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v)) return false;
  const terms = (spec.affinity as { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } } } | undefined)?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return !terms || terms.some((t) => termMatches(t, node));
}

/**
 * Whether the daemon pod should be started on the node, and whether one already there may
 * stay (NodeShouldRunDaemonPod): an untolerated NoSchedule taint keeps a new pod off but
 * lets a running one stay; an untolerated NoExecute taint or a selector miss does neither.
 */
export function nodeShouldRunDaemonPod(ds: DaemonSet, node: Node): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec.template?.spec ?? {};
  if (typeof spec.nodeName === "string" && spec.nodeName !== "" && spec.nodeName !== node.metadata.name) return { shouldRun: false, shouldContinueRunning: false };
  if (!nodeMatchesPodSpec(spec, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = daemonPodTolerations(spec);
  const untolerated = (node.spec?.taints ?? []).filter((t) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && !tolerations.some((tol) => tolerates(tol, t)));
  if (untolerated.some((t) => t.effect === "NoExecute")) return { shouldRun: false, shouldContinueRunning: false };
  if (untolerated.length) return { shouldRun: false, shouldContinueRunning: true };
  return { shouldRun: true, shouldContinueRunning: true };
}

/** The daemon pod for a node: the template with the revision label, Kubernetes' tolerations, and node affinity to that node alone. */
export function daemonPodFor(ds: DaemonSet, nodeName: string, hash: string): Pod {
  const t = ds.spec.template ?? {};
  const spec = structuredClone(t.spec ?? {});
  spec.tolerations = daemonPodTolerations(spec);
  const affinity = (spec.affinity as Record<string, unknown> | undefined) ?? {};
  const nodeAffinity = (affinity.nodeAffinity as Record<string, unknown> | undefined) ?? {};
  nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: [nodeName] }] }] };
  affinity.nodeAffinity = nodeAffinity;
  spec.affinity = affinity;
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { generateName: `${ds.metadata.name}-`, namespace: ds.metadata.namespace, labels: { ...(t.metadata?.labels ?? {}), [REVISION_HASH_LABEL]: hash }, ownerReferences: [controllerRefTo(ds, DAEMON_SETS)] },
    spec,
  };
  if (t.metadata?.annotations) pod.metadata.annotations = { ...t.metadata.annotations };
  return pod;
}

/** The node a daemon pod is for: where it is bound, else the node its affinity pins (util.GetTargetNodeName). */
export function targetNodeOf(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = (pod.spec?.affinity as { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } } } | undefined)?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  for (const term of terms ?? []) {
    for (const f of term.matchFields ?? []) if (f.key === "metadata.name" && f.operator === "In" && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}

const created = (p: KubeObject) => Date.parse(p.metadata.creationTimestamp ?? "") || 0;
const oldestFirst = (a: Pod, b: Pod) => created(a) - created(b) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");

export interface DaemonSetPlan {
  /** Nodes that get a new pod. */
  create: string[];
  /** Pods to delete: on nodes that should not run them, duplicates, failed ones, and old ones a rolling update replaces. */
  delete: Pod[];
  status: DaemonSetStatus;
}

/**
 * The whole decision for one DaemonSet: `pods` are the set's pods not being deleted, `nodes`
 * every node. A rolling update deletes old pods (unavailable ones at once, available ones
 * while fewer than maxUnavailable are down); manage then creates their replacements.
 */
export function planDaemonSet(ds: DaemonSet, nodes: Node[], pods: Pod[], hash: string, now: number): DaemonSetPlan {
  const minReady = ds.spec.minReadySeconds ?? 0;
  const byNode = new Map<string, Pod[]>();
  const create: string[] = [];
  const del: Pod[] = [];
  for (const pod of pods) {
    const node = targetNodeOf(pod) ?? "";
    byNode.set(node, [...(byNode.get(node) ?? []), pod]);
  }
  const nodeNames = new Set(nodes.map((n) => n.metadata.name!));
  // Pods for nodes that are gone (or for no node at all) go with them.
  for (const [node, list] of byNode) if (!nodeNames.has(node)) del.push(...list);

  const surge = allowsSurge(ds);
  const shouldRunOn = new Set<string>();
  const status: DaemonSetStatus = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0, updatedNumberScheduled: 0, numberAvailable: 0 };
  const kept = new Map<string, Pod[]>();
  for (const node of nodes) {
    const name = node.metadata.name!;
    const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(ds, node);
    const here = (byNode.get(name) ?? []).sort(oldestFirst);
    if (shouldRun) {
      status.desiredNumberScheduled++;
      shouldRunOn.add(name);
    }
    if (here.length && shouldRun) status.currentNumberScheduled++;
    if (here.length && !shouldRun) status.numberMisscheduled++;
    if (!shouldContinueRunning) {
      del.push(...here);
      continue;
    }
    const failed = here.filter((p) => p.status?.phase === "Failed");
    del.push(...failed);
    const live = here.filter((p) => p.status?.phase !== "Failed");
    if (shouldRun && live.length === 0) create.push(name);
    // More than one: the oldest stays (the newest ones when some are updated and some not);
    // with surge, one old and one new pod may share a node while the new one comes up.
    const updated = live.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
    const keep = live.length <= 1 ? live : surge ? surgeKeep(live, hash, minReady, now) : updated.length && updated.length < live.length ? [updated[0]!] : [live[0]!];
    del.push(...live.filter((p) => !keep.includes(p)));
    if (keep.length) kept.set(name, keep);
    const first = keep[0];
    if (shouldRun && first) {
      if (isPodReady(first)) {
        status.numberReady++;
        if (isPodAvailable(first, minReady, now)) status.numberAvailable!++;
      }
      if (first.metadata.labels?.[REVISION_HASH_LABEL] === hash) status.updatedNumberScheduled!++;
    }
  }
  const unavailable = status.desiredNumberScheduled - status.numberAvailable!;
  if (unavailable > 0) status.numberUnavailable = unavailable;
  status.observedGeneration = ds.metadata.generation;
  if (ds.status?.collisionCount !== undefined) status.collisionCount = ds.status.collisionCount;

  if ((ds.spec.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate") {
    if (surge) {
      const step = rollingUpdateSurge(ds, kept, shouldRunOn, hash, status.desiredNumberScheduled, now);
      create.push(...step.create);
      del.push(...step.delete);
    } else del.push(...rollingUpdateDeletions(ds, kept, create, hash, status.desiredNumberScheduled, now));
  }
  return { create, delete: del, status };
}

/** util.AllowsSurge: a RollingUpdate whose maxSurge is not 0 (a percentage counts as at least one pod). */
export function allowsSurge(ds: DaemonSet): boolean {
  if ((ds.spec.updateStrategy?.type ?? "RollingUpdate") !== "RollingUpdate") return false;
  const maxSurge = ds.spec.updateStrategy?.rollingUpdate?.maxSurge;
  return maxSurge !== undefined && scaledValue(maxSurge, 1, true) !== 0;
}

/**
 * Which of a node's several pods stay when surging (the manage loop's rule): the oldest new
 * and the oldest old one; the old one goes once it is not ready or the new one is available,
 * and every other pod goes.
 */
function surgeKeep(live: Pod[], hash: string, minReady: number, now: number): Pod[] {
  const oldestNew = live.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
  const oldestOld = live.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] !== hash);
  if (oldestNew && oldestOld && (!isPodReady(oldestOld) || isPodAvailable(oldestNew, minReady, now))) return [oldestNew];
  return live.filter((p) => p === oldestNew || p === oldestOld);
}

/**
 * rollingUpdate with maxSurge (daemon/update.go): a node whose old pod is unavailable gets its
 * new pod at once; others get one while fewer than maxSurge new pods are still coming up; an
 * old pod is deleted once the new one beside it is available. No node is ever left without a
 * pod for the update's sake.
 */
function rollingUpdateSurge(ds: DaemonSet, kept: Map<string, Pod[]>, shouldRunOn: Set<string>, hash: string, desired: number, now: number): { create: string[]; delete: Pod[] } {
  const minReady = ds.spec.minReadySeconds ?? 0;
  const maxSurge = scaledValue(ds.spec.updateStrategy?.rollingUpdate?.maxSurge ?? 0, desired, true);
  let numSurge = 0;
  const allowed: string[] = [];
  const candidates: string[] = [];
  const del: Pod[] = [];
  for (const [node, pods] of [...kept].sort(([a], [b]) => a.localeCompare(b))) {
    if (!shouldRunOn.has(node)) continue;
    const newPod = pods.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
    const oldPod = pods.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] !== hash);
    if (!oldPod) continue;
    if (!newPod) {
      if (!isPodAvailable(oldPod, minReady, now)) allowed.push(node);
      else if (numSurge < maxSurge) candidates.push(node);
    } else if (!isPodAvailable(newPod, minReady, now)) numSurge++;
    else del.push(oldPod);
  }
  const room = Math.min(Math.max(maxSurge - numSurge, 0), candidates.length);
  return { create: [...allowed, ...candidates.slice(0, room)], delete: del };
}

/** rollingUpdate without surge: old pods that may go now. */
function rollingUpdateDeletions(ds: DaemonSet, kept: Map<string, Pod[]>, creating: string[], hash: string, desired: number, now: number): Pod[] {
  const minReady = ds.spec.minReadySeconds ?? 0;
  const maxUnavailable = Math.max(scaledValue(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired, true), 1);
  // A node still waiting for its pod is down already.
  let numUnavailable = creating.length;
  const now_: Pod[] = [];
  const candidates: Pod[] = [];
  for (const [, [pod]] of kept) {
    if (!pod) continue;
    const available = isPodAvailable(pod, minReady, now);
    if (pod.metadata.labels?.[REVISION_HASH_LABEL] === hash) {
      if (!available) numUnavailable++;
    } else if (!available) now_.push(pod);
    else if (numUnavailable < maxUnavailable) candidates.push(pod);
  }
  numUnavailable += now_.length;
  const room = Math.min(Math.max(maxUnavailable - numUnavailable, 0), candidates.length);
  return [...now_, ...candidates.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "")).slice(0, room)];
}
