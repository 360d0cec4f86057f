// Preemption (DefaultPreemption's PostFilter): when a pod fits nowhere, look for a node
// where evicting pods of lower priority would make room, and the fewest and least
// important such pods. On each node that might be helped (refused for a reason removing
// pods can fix), every lower-priority pod is taken away; if the pod then fits, the most
// important of them are given back one at a time while it still fits (those whose
// PodDisruptionBudget forbids a disruption first), and the rest are the victims. Among the
// candidate nodes the pick is (pickOneNodeForPreemption): fewest budget violations, then
// the lowest highest victim priority, the smallest sum of priorities, the fewest victims,
// the latest start of the most important victims.
import type { LabelSelector } from "./_types.ts";
import { fitErrorMessage, type Diagnosis } from "./fit-error.ts";
import { unresolvable, type Snapshot, type Status } from "./framework.ts";
import type { NodeInfo, PodInfo } from "./node-info.ts";
import { defaultProfile, type Profile } from "./plugins/index.ts";
import { prepareFilters } from "./schedule.ts";
import { selectorMatches } from "./selectors.ts";

const NAME = "DefaultPreemption";

/** A PodDisruptionBudget as preemption weighs it. */
export interface DisruptionBudget {
  namespace: string;
  selector: LabelSelector | null;
  disruptionsAllowed: number;
}

export interface PreemptionOptions {
  profile?: Profile;
  budgets?: readonly DisruptionBudget[];
}

export type PreemptionResult = { node: string; victims: PodInfo[] } | { node?: undefined; message: string; clearNomination: boolean };

interface Candidate {
  node: NodeInfo;
  victims: PodInfo[];
  violations: number;
}

const startTime = (p: PodInfo) => Date.parse(p.pod.status?.startTime ?? p.pod.metadata.creationTimestamp ?? "") || 0;

/** MoreImportantPod: higher priority first, then the one that started earlier. */
const moreImportantFirst = (a: PodInfo, b: PodInfo) => b.priority - a.priority || startTime(a) - startTime(b);

/** Whether pod fits on node as it would be, judged with the whole cluster as the snapshot has it but that node replaced. */
function fitsOn(pod: PodInfo, node: NodeInfo, snapshot: Snapshot, profile: Profile): Status | undefined {
  const overlay: Snapshot = {
    ...snapshot,
    nodes: snapshot.nodes.map((n) => (n.name === node.name ? node : n)),
    get: (name) => (name === node.name ? node : snapshot.get(name)),
    nodesWithAffinityPods: undefined,
    namespaceLabels: snapshot.namespaceLabels?.bind(snapshot),
    persistentVolumeClaim: snapshot.persistentVolumeClaim?.bind(snapshot),
    persistentVolume: snapshot.persistentVolume?.bind(snapshot),
    workloadSelector: snapshot.workloadSelector?.bind(snapshot),
  };
  const prepared = prepareFilters(pod, overlay, profile);
  return "rejected" in prepared ? prepared.rejected : prepared.filter(node);
}

/** Splits pods into those whose budget allows no more disruptions and the rest, spending the budgets as it goes. */
function splitByBudget(pods: PodInfo[], budgets: readonly DisruptionBudget[]): { violating: PodInfo[]; free: PodInfo[] } {
  const allowed = budgets.map((b) => b.disruptionsAllowed);
  const violating: PodInfo[] = [];
  const free: PodInfo[] = [];
  for (const p of pods) {
    let violates = false;
    budgets.forEach((b, i) => {
      if (b.namespace !== p.namespace || !selectorMatches(b.selector, p.labels)) return;
      allowed[i]!--;
      if (allowed[i]! < 0) violates = true;
    });
    (violates ? violating : free).push(p);
  }
  return { violating, free };
}

function selectVictims(pod: PodInfo, node: NodeInfo, snapshot: Snapshot, opts: PreemptionOptions): Candidate | Status {
  const profile = opts.profile ?? defaultProfile;
  const trial = node.clone();
  const potential = [...trial.pods.values()].filter((p) => p.priority < pod.priority);
  if (!potential.length) return unresolvable(NAME, "No preemption victims found for incoming pod");
  for (const p of potential) trial.removePod(p.key);
  const status = fitsOn(pod, trial, snapshot, profile);
  if (status) return status;
  potential.sort(moreImportantFirst);
  const { violating, free } = splitByBudget(potential, opts.budgets ?? []);
  const victims: PodInfo[] = [];
  let violations = 0;
  const reprieve = (p: PodInfo, violates: boolean) => {
    trial.addPod(p);
    if (fitsOn(pod, trial, snapshot, profile)) {
      trial.removePod(p.key);
      victims.push(p);
      if (violates) violations++;
    }
  };
  for (const p of violating) reprieve(p, true);
  for (const p of free) reprieve(p, false);
  return { node, victims, violations };
}

/** Preemption's pick among candidates (each criterion narrows the field; the first left wins). */
function pickCandidate(candidates: Candidate[]): Candidate {
  const narrow = (cs: Candidate[], key: (c: Candidate) => number): Candidate[] => {
    const best = Math.min(...cs.map(key));
    return cs.filter((c) => key(c) === best);
  };
  const highest = (c: Candidate) => (c.victims.length ? Math.max(...c.victims.map((v) => v.priority)) : Number.MIN_SAFE_INTEGER);
  let cs = narrow(candidates, (c) => c.violations);
  cs = narrow(cs, highest);
  // Priorities are shifted to be positive, as kube-scheduler adds MaxInt32+1, so more victims never look cheaper.
  cs = narrow(cs, (c) => c.victims.reduce((s, v) => s + v.priority + 2 ** 31, 0));
  cs = narrow(cs, (c) => c.victims.length);
  // The latest start among each node's most important victims: disturb what ran the shortest.
  cs = narrow(cs, (c) => {
    const top = highest(c);
    return -Math.min(...c.victims.filter((v) => v.priority === top).map(startTime));
  });
  return cs[0]!;
}

/** Whether the pod may preempt at all (PodEligibleToPreemptOthers); a reason when not. */
function ineligible(pod: PodInfo, snapshot: Snapshot): string | undefined {
  if (pod.pod.spec?.preemptionPolicy === "Never") return "not eligible due to preemptionPolicy=Never.";
  const nominated = pod.pod.status?.nominatedNodeName;
  const node = nominated ? snapshot.get(nominated) : undefined;
  // Victims of an earlier preemption still terminating there: wait for them rather than evict more.
  if (node) for (const p of node.pods.values()) if (p.pod.metadata.deletionTimestamp && p.priority < pod.priority) return "not eligible due to a terminating pod on the nominated node.";
  return undefined;
}

export function preempt(pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis, opts: PreemptionOptions = {}): PreemptionResult {
  const why = ineligible(pod, snapshot);
  if (why) return { message: `preemption: ${why}`, clearNomination: false };
  const statuses = new Map<string, Status>();
  const candidates: Candidate[] = [];
  for (const node of snapshot.nodes) {
    const status = diagnosis.nodeStatuses.get(node.name);
    if (!status) continue;
    if (status.code === "UnschedulableAndUnresolvable") {
      statuses.set(node.name, unresolvable(NAME, "Preemption is not helpful for scheduling"));
      continue;
    }
    const found = selectVictims(pod, node, snapshot, opts);
    if ("victims" in found) candidates.push(found);
    else statuses.set(node.name, found);
  }
  if (!candidates.length) {
    return { message: `preemption: ${fitErrorMessage({ numAllNodes: diagnosis.numAllNodes, nodeStatuses: statuses })}`, clearNomination: true };
  }
  const best = pickCandidate(candidates);
  return { node: best.node.name, victims: best.victims };
}
