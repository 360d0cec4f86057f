// The node lifecycle controller (pkg/controller/nodelifecycle with its NoExecute taint
// manager). A node proves it is alive by renewing its Lease in kube-node-lease (or posting a
// fresh Ready heartbeat); the controller notes, on its own clock, when it last saw either
// change. A node silent for the grace period gets its conditions set to Unknown ("Kubelet
// stopped posting node status."), its pods Ready=False, and the taints
// node.kubernetes.io/unreachable NoSchedule + NoExecute (not-ready when the kubelet says
// Ready=False). Pods on a node with NoExecute taints they do not tolerate are deleted once
// their tolerationSeconds have passed since the taint was added. A node heard from again
// loses the taints. Nothing polls: each node's key is requeued at its next deadline.
import { BY_NODE_NAME, copyObject, isNotFound, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { EventRecorder } from "./_events.ts";
import { rfc3339 } from "./_time.ts";
import { TAINT_NOT_READY, TAINT_UNREACHABLE, noExecuteStay, type Taint, type Toleration } from "./_taints.ts";
import { LEASES, NODES, PODS, type Condition, type Pod } from "./_types.ts";

export const NODE_LEASE_NAMESPACE = "kube-node-lease";
/** kube-controller-manager's --node-monitor-grace-period as the issue asks (1.32 says 50 s). */
export const DEFAULT_NODE_MONITOR_GRACE_SECONDS = 40;

export interface NodeLifecycleOptions {
  /** How long a node may stay silent before it is marked Unknown and tainted. */
  gracePeriodSeconds?: number;
}

interface Node extends KubeObject {
  spec?: { taints?: Taint[]; unschedulable?: boolean; [k: string]: unknown };
  status?: { conditions?: Condition[]; [k: string]: unknown };
}

interface Lease extends KubeObject {
  spec?: { renewTime?: string; holderIdentity?: string };
}

/** The conditions a silent node's kubelet is no longer vouching for (MarkAllConditionsUnknown). */
const NODE_CONDITIONS = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

const readyOf = (node: Node) => node.status?.conditions?.find((c) => c.type === "Ready");
const heartbeatOf = (node: Node) => (readyOf(node) as { lastHeartbeatTime?: string } | undefined)?.lastHeartbeatTime;
const isOurTaint = (t: Taint) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY;

/** The conditions of a node nobody has heard from, as nodelifecycle writes them. */
export function unknownConditions(conditions: Condition[], now: number): Condition[] {
  const out = conditions.map((c) => ({ ...c }));
  for (const type of NODE_CONDITIONS) {
    const c = out.find((x) => x.type === type);
    if (!c) {
      out.push({ type, status: "Unknown", reason: "NodeStatusNeverUpdated", message: "Kubelet never posted node status.", lastHeartbeatTime: rfc3339(now), lastTransitionTime: rfc3339(now) } as Condition);
    } else if (c.status !== "Unknown") {
      Object.assign(c, { status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status.", lastTransitionTime: rfc3339(now) });
    }
  }
  return out;
}

/** The taints a node's Ready status calls for: unreachable when Unknown, not-ready when False, none when True. */
export function wantedTaints(node: Node, now: number): Taint[] {
  const status = readyOf(node)?.status;
  const key = status === "Unknown" ? TAINT_UNREACHABLE : status === "False" ? TAINT_NOT_READY : undefined;
  const others = (node.spec?.taints ?? []).filter((t) => !isOurTaint(t));
  if (!key) return others;
  const kept = (node.spec?.taints ?? []).filter((t) => t.key === key);
  const noSchedule = kept.find((t) => t.effect === "NoSchedule") ?? { key, effect: "NoSchedule" };
  const noExecute = kept.find((t) => t.effect === "NoExecute") ?? { key, effect: "NoExecute", timeAdded: rfc3339(now) };
  return [...others, noSchedule, noExecute];
}

export class NodeLifecycleController extends Controller {
  private readonly nodes: Informer<Node>;
  private readonly leases: Informer<Lease>;
  private readonly pods: Informer<Pod>;
  private readonly events: EventRecorder;
  private readonly graceMs: number;
  /** When this controller last saw each node's lease or heartbeat change (its clock), and what it saw. */
  private readonly probes = new Map<string, { at: number; seen: string }>();

  constructor(ctx: ControllerContext, opts: NodeLifecycleOptions = {}) {
    super("node-lifecycle", ctx);
    this.graceMs = (opts.gracePeriodSeconds ?? DEFAULT_NODE_MONITOR_GRACE_SECONDS) * 1000;
    this.events = new EventRecorder(ctx.client, "node-controller", ctx.clock, ctx.log);
    this.nodes = ctx.informers.informerFor<Node>(NODES);
    this.leases = ctx.informers.informerFor<Lease>(LEASES);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.nodes.addHandlers({
      onAdd: (n) => this.queue.add(n.metadata.name!),
      onUpdate: (_o, n) => this.queue.add(n.metadata.name!),
      onDelete: (n) => {
        this.probes.delete(n.metadata.name!);
        this.queue.add(n.metadata.name!);
      },
    });
    const leaseChanged = (l: Lease) => {
      if (l.metadata.namespace === NODE_LEASE_NAMESPACE) this.queue.add(l.metadata.name!);
    };
    this.leases.addHandlers({ onAdd: leaseChanged, onUpdate: (_o, l) => leaseChanged(l) });
    const podChanged = (p: Pod) => {
      if (p.spec?.nodeName) this.queue.add(p.spec.nodeName);
    };
    this.pods.addHandlers({ onAdd: podChanged, onUpdate: (_o, p) => podChanged(p) });
  }

  /** The last time the node was heard from: updated whenever its lease renewal or Ready heartbeat differs from what was seen. */
  private lastProbe(node: Node): number {
    const name = node.metadata.name!;
    const lease = this.leases.cache.get(`${NODE_LEASE_NAMESPACE}/${name}`);
    const seen = `${lease?.spec?.renewTime ?? ""}|${heartbeatOf(node) ?? ""}`;
    const prev = this.probes.get(name);
    if (prev && prev.seen === seen) return prev.at;
    // First sight (a new node, or this controller just started) counts as hearing from it.
    const at = this.ctx.clock.now();
    this.probes.set(name, { at, seen });
    return at;
  }

  async reconcile(name: string): Promise<void> {
    let node = this.nodes.cache.get(name);
    if (!node) return;
    const now = this.ctx.clock.now();
    const deadline = this.lastProbe(node) + this.graceMs;
    const nodes = this.ctx.client.resource<Node>(NODES);
    try {
      if (now >= deadline && readyOf(node)?.status !== "Unknown") {
        const next = copyObject(node);
        next.status = { ...next.status, conditions: unknownConditions(node.status?.conditions ?? [], now) };
        node = await nodes.updateStatus(next);
        await this.events.event(NODES, node, "Normal", "NodeNotReady", `Node ${name} status is now: NodeNotReady`);
      } else if (now < deadline) {
        this.queue.addAfter(name, deadline - now);
      }
      const taints = wantedTaints(node, now);
      if (JSON.stringify(taints) !== JSON.stringify(node.spec?.taints ?? [])) {
        const next = copyObject(node);
        next.spec = { ...next.spec, taints };
        if (!taints.length) delete next.spec.taints;
        node = await nodes.update(next);
      }
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    await this.actOnPods(node, now);
  }

  /** Marks the pods of a silent node not ready, and deletes those whose toleration of its NoExecute taints has run out. */
  private async actOnPods(node: Node, now: number): Promise<void> {
    const pods = this.ctx.client.resource<Pod>(PODS);
    const silent = readyOf(node)?.status === "Unknown";
    const noExecute = (node.spec?.taints ?? []).filter((t) => t.effect === "NoExecute");
    const since = Math.max(0, ...noExecute.map((t) => (t.timeAdded ? Date.parse(t.timeAdded) : now)));
    let nextEviction = Infinity;
    for (const pod of this.pods.cache.byIndex(BY_NODE_NAME, node.metadata.name!)) {
      if (pod.spec?.nodeName !== node.metadata.name || pod.metadata.deletionTimestamp) continue;
      if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
      try {
        if (noExecute.length) {
          const evictAt = since + noExecuteStay((pod.spec?.tolerations ?? []) as Toleration[], noExecute);
          if (evictAt <= now) {
            await this.events.event(PODS, pod, "Normal", "TaintManagerEviction", `Marking for deletion Pod ${pod.metadata.namespace}/${pod.metadata.name}`);
            await pods.delete(pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
            continue;
          }
          nextEviction = Math.min(nextEviction, evictAt);
        }
        const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
        if (silent && ready?.status === "True") {
          const conditions = (pod.status?.conditions ?? []).map((c) => (c.type === "Ready" ? { ...c, status: "False" as const, lastTransitionTime: rfc3339(now) } : c));
          await pods.patch(pod.metadata.namespace, pod.metadata.name!, "strategic", { status: { conditions } }, { subresource: "status" });
        }
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (nextEviction < Infinity) this.queue.addAfter(node.metadata.name!, nextEviction - now);
  }
}
