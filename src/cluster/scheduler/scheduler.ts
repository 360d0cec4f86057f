// The scheduler loop that `gantry server` runs (kube-scheduler's place): shared informers
// feed the cache and the queue; one worker takes the most important pending pod, runs the
// pure algorithm on the cache (schedule.ts), assumes the pod on the chosen node and binds it
// through pods/binding in the background; a pod that fits nowhere gets PodScheduled=False
// and a FailedScheduling event in Kubernetes' words, may preempt lower-priority pods
// (nominatedNodeName, then the victims deleted with their grace period), and waits in the
// queue for the cluster to change. Only pods for "default-scheduler" (or no scheduler
// name) without a node are its business.
import { realClock, type Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { counter, histogram, secondsSince } from "../../common/metrics.ts";
import { BY_NAMESPACE, Client, EventRecorder, InformerFactory, isConflict, isNotFound, type ApiTransport, type KubeObject, type ResourceRef } from "../client/index.ts";
import type { Node, Pod } from "./_types.ts";
import { SchedulerCache } from "./cache.ts";
import { fitErrorMessage } from "./fit-error.ts";
import { PodInfo } from "./node-info.ts";
import { preempt, type DisruptionBudget } from "./preemption.ts";
import { schedule } from "./schedule.ts";
import { delayedClaims, SELECTED_NODE_ANNOTATION } from "./plugins/volume-binding.ts";
import { SchedulingQueue, type QueueOptions } from "./scheduling-queue.ts";

export const SCHEDULER_NAME = "default-scheduler";

// kube-scheduler's metrics (pkg/scheduler/metrics): one attempt = one pass of the algorithm
// over a pod; the binding that follows a "scheduled" attempt is not part of its duration.
const attemptsMetric = counter({ name: "scheduler_schedule_attempts_total", help: "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.", labelNames: ["result", "profile"] });
const attemptDurationMetric = histogram({ name: "scheduler_scheduling_attempt_duration_seconds", help: "Scheduling attempt latency in seconds (the algorithm; binding follows asynchronously)", labelNames: ["result", "profile"], buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384] });

function recordAttempt(result: "scheduled" | "unschedulable" | "error", startedMs: number): void {
  attemptsMetric.inc({ result, profile: SCHEDULER_NAME });
  attemptDurationMetric.observe({ result, profile: SCHEDULER_NAME }, secondsSince(startedMs));
}

const ref = (group: string, resource: string, kind: string, namespaced: boolean): ResourceRef => ({ group, version: "v1", resource, kind, namespaced });
const REFS = {
  nodes: ref("", "nodes", "Node", false),
  pods: ref("", "pods", "Pod", true),
  namespaces: ref("", "namespaces", "Namespace", false),
  pvcs: ref("", "persistentvolumeclaims", "PersistentVolumeClaim", true),
  pvs: ref("", "persistentvolumes", "PersistentVolume", false),
  storageclasses: { group: "storage.k8s.io", version: "v1", resource: "storageclasses", kind: "StorageClass", namespaced: false } as ResourceRef,
  services: ref("", "services", "Service", true),
  replicasets: ref("apps", "replicasets", "ReplicaSet", true),
  statefulsets: ref("apps", "statefulsets", "StatefulSet", true),
  pdbs: ref("policy", "poddisruptionbudgets", "PodDisruptionBudget", true),
};

export interface SchedulerOptions {
  /** The process's shared informers (the controller manager's); a private factory when absent. */
  informers?: InformerFactory;
  clock?: Clock;
  log?: (message: string) => void;
  random?: () => number;
  queue?: QueueOptions;
  /** Bindings in flight at once. */
  maxInFlightBindings?: number;
}

export interface SchedulerStats {
  attempts: number;
  scheduled: number;
  unschedulable: number;
  preemptions: number;
  bindFailures: number;
  /** Milliseconds from a pod's first sight to its binding being accepted, per bound pod (bench). */
  latencies: number[];
}

export interface RunningScheduler {
  readonly stats: SchedulerStats;
  readonly queue: SchedulingQueue;
  readonly cache: SchedulerCache;
  /** No pod is active or in flight (waiting pods may remain). */
  isIdle(): boolean;
  stop(): Promise<void>;
}

const responsible = (p: Pod) => !p.spec?.schedulerName || p.spec.schedulerName === SCHEDULER_NAME;
const pending = (p: Pod) => responsible(p) && !p.spec?.nodeName && !p.metadata.deletionTimestamp && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";
const keyOf = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;

/** Whether a node changed in a way that may let a waiting pod fit (kube-scheduler's NodeUpdate filter). */
function nodeChangeMatters(old: Node, cur: Node): boolean {
  const j = (v: unknown) => JSON.stringify(v ?? null);
  return (
    j(old.status?.allocatable) !== j(cur.status?.allocatable) ||
    j(old.metadata.labels) !== j(cur.metadata.labels) ||
    j(old.spec?.taints) !== j(cur.spec?.taints) ||
    Boolean(old.spec?.unschedulable) !== Boolean(cur.spec?.unschedulable)
  );
}

export async function startScheduler(transport: ApiTransport, opts: SchedulerOptions = {}): Promise<RunningScheduler> {
  const clock = opts.clock ?? realClock;
  const log = opts.log ?? (() => {});
  const random = opts.random ?? Math.random;
  const client = new Client(transport, { fieldManager: SCHEDULER_NAME });
  const ownFactory = opts.informers ? undefined : new InformerFactory(client, { clock, log });
  const informers = opts.informers ?? ownFactory!;
  const inf = Object.fromEntries(Object.entries(REFS).map(([k, r]) => [k, informers.informerFor(r)])) as Record<keyof typeof REFS, ReturnType<InformerFactory["informerFor"]>>;
  const events = new EventRecorder(client, SCHEDULER_NAME, clock, log);
  const pods = client.resource<KubeObject>(REFS.pods);
  const pvcs = client.resource<KubeObject>(REFS.pvcs);

  const cache = new SchedulerCache({
    namespace: (name) => inf.namespaces.cache.get(name),
    pvc: (ns, name) => inf.pvcs.cache.get(`${ns}/${name}`),
    pv: (name) => inf.pvs.cache.get(name),
    pvs: () => inf.pvs.cache.list(),
    storageClass: (name) => inf.storageclasses.cache.get(name),
    services: (ns) => inf.services.cache.byIndex(BY_NAMESPACE, ns),
    controller: (kind, ns, name) => (kind === "ReplicaSet" ? inf.replicasets : kind === "StatefulSet" ? inf.statefulsets : undefined)?.cache.get(`${ns}/${name}`),
  });
  const queue = new SchedulingQueue(clock, opts.queue);
  const stats: SchedulerStats = { attempts: 0, scheduled: 0, unschedulable: 0, preemptions: 0, bindFailures: 0, latencies: [] };
  const firstSeen = new Map<string, number>();
  const priorityOf = (p: Pod) => p.spec?.priority ?? 0;

  const enqueue = (p: Pod) => {
    const key = keyOf(p);
    if (!firstSeen.has(key)) firstSeen.set(key, clock.now());
    queue.add(key, priorityOf(p));
  };
  const dequeue = (key: string) => {
    queue.delete(key);
    firstSeen.delete(key);
  };

  inf.nodes.addHandlers({
    onAdd: (n) => {
      cache.setNode(n as Node);
      queue.moveAllUnschedulable();
    },
    onUpdate: (old, cur) => {
      cache.setNode(cur as Node);
      if (nodeChangeMatters(old as Node, cur as Node)) queue.moveAllUnschedulable();
    },
    onDelete: (n) => cache.removeNode(n.metadata.name!),
  });
  inf.pods.addHandlers({
    onAdd: (o) => {
      const p = o as Pod;
      cache.setPod(p);
      if (pending(p)) enqueue(p);
      else if (p.spec?.nodeName) queue.moveAllUnschedulable();
    },
    onUpdate: (old, cur) => {
      const p = cur as Pod;
      const was = old as Pod;
      cache.setPod(p);
      if (pending(p)) {
        // Its own change may let it fit (new tolerations, a removed scheduling gate).
        enqueue(p);
        return;
      }
      if (queue.has(keyOf(p)) && !cache.isAssumed(keyOf(p))) dequeue(keyOf(p));
      // A pod bound elsewhere, finished, or starting to terminate frees or changes room.
      if (!was.spec?.nodeName || p.status?.phase !== was.status?.phase || (p.metadata.deletionTimestamp && !was.metadata.deletionTimestamp)) queue.moveAllUnschedulable();
    },
    onDelete: (o) => {
      const key = keyOf(o);
      cache.removePod(key);
      dequeue(key);
      if ((o as Pod).spec?.nodeName) queue.moveAllUnschedulable();
    },
  });
  const onStorage = { onAdd: () => queue.moveAllUnschedulable(), onUpdate: () => queue.moveAllUnschedulable() };
  inf.pvcs.addHandlers(onStorage);
  inf.pvs.addHandlers(onStorage);
  inf.storageclasses.addHandlers(onStorage);

  informers.start();
  await Promise.all(Object.values(inf).map((i) => i.whenSynced()));

  let startIndex = 0;
  let stopped = false;
  const binds = new Set<Promise<void>>();
  const maxBinds = opts.maxInFlightBindings ?? 32;

  const budgets = (): DisruptionBudget[] =>
    inf.pdbs.cache.list().map((b) => ({
      namespace: b.metadata.namespace ?? "",
      selector: ((b.spec as { selector?: DisruptionBudget["selector"] } | undefined)?.selector ?? null) as DisruptionBudget["selector"],
      disruptionsAllowed: Number((b.status as { disruptionsAllowed?: number } | undefined)?.disruptionsAllowed ?? 0),
    }));

  async function bind(pod: Pod, node: string): Promise<void> {
    const key = keyOf(pod);
    const { namespace, name, uid } = pod.metadata;
    try {
      // Claims that waited for this pod learn their node first (PreBind); their provisioner
      // or the PV controller binds them while the pod is already on its way to the node.
      for (const claim of delayedClaims(pod, cache)) {
        await pvcs.patch(claim.metadata.namespace, claim.metadata.name!, "merge", { metadata: { annotations: { [SELECTED_NODE_ANNOTATION]: node } } });
      }
      await pods.createSubresource(namespace, name!, "binding", { apiVersion: "v1", kind: "Binding", metadata: { name, namespace, uid }, target: { apiVersion: "v1", kind: "Node", name: node } });
      stats.scheduled++;
      const seen = firstSeen.get(key);
      if (seen !== undefined) stats.latencies.push(clock.now() - seen);
      queue.done(key);
      firstSeen.delete(key);
      void events.record(pod, "Normal", "Scheduled", `Successfully assigned ${namespace}/${name} to ${node}`);
    } catch (err) {
      stats.bindFailures++;
      cache.forget(key);
      // Gone, or bound by someone else meanwhile: nothing more to do for it.
      if (isNotFound(err) || (isConflict(err) && /already assigned|being deleted/.test((err as Error).message))) {
        dequeue(key);
        return;
      }
      log(`scheduler: binding ${key} to ${node}: ${describeError(err)}`);
      queue.retry(key);
    }
  }

  async function recordFailure(pod: Pod, message: string, nominatedNode?: string): Promise<void> {
    const { namespace, name } = pod.metadata;
    const cond = pod.status?.conditions?.find((c) => c.type === "PodScheduled") as { status?: string; reason?: string; message?: string } | undefined;
    const changed = cond?.status !== "False" || cond.reason !== "Unschedulable" || cond.message !== message || (nominatedNode && pod.status?.nominatedNodeName !== nominatedNode);
    if (changed) {
      const now = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
      const condition = { type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastProbeTime: null, lastTransitionTime: cond?.status === "False" ? (cond as { lastTransitionTime?: string }).lastTransitionTime : now };
      const status: Record<string, unknown> = { conditions: [condition] };
      if (nominatedNode) status.nominatedNodeName = nominatedNode;
      await pods.patch(namespace, name!, "strategic", { status }, { subresource: "status" }).catch((err: unknown) => {
        if (!isNotFound(err)) log(`scheduler: status of ${namespace}/${name}: ${describeError(err)}`);
      });
    }
    await events.record(pod, "Warning", "FailedScheduling", message);
  }

  async function evict(preemptor: Pod, node: string, victims: PodInfo[]): Promise<void> {
    const now = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    await Promise.all(
      victims.map(async (v) => {
        const { namespace, name, uid } = v.pod.metadata;
        try {
          const condition = { type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler", message: `${SCHEDULER_NAME}: preempting to accommodate a higher priority pod`, lastTransitionTime: now };
          await pods.patch(namespace, name!, "strategic", { status: { conditions: [condition] } }, { subresource: "status" });
          await pods.delete(namespace, name!, { gracePeriodSeconds: v.pod.spec?.terminationGracePeriodSeconds ?? 30, preconditions: { uid } });
          void events.record(v.pod, "Normal", "Preempted", `Preempted by pod ${preemptor.metadata.uid} on node ${node}`);
        } catch (err) {
          if (!isNotFound(err)) log(`scheduler: preempting ${namespace}/${name}: ${describeError(err)}`);
        }
      }),
    );
  }

  async function scheduleOne(key: string): Promise<void> {
    const pod = inf.pods.cache.get(key) as Pod | undefined;
    if (!pod || !pending(pod) || cache.isAssumed(key)) {
      if (!cache.isAssumed(key)) dequeue(key);
      return;
    }
    if (pod.spec?.schedulingGates?.length) {
      // Gated pods wait outside the queue; removing the gates is an update that brings them back.
      dequeue(key);
      return;
    }
    stats.attempts++;
    const started = performance.now();
    const info = new PodInfo(pod);
    let result: ReturnType<typeof schedule>;
    try {
      result = schedule(info, cache, { startIndex, random, nominatedPods: (n) => cache.nominatedPods(n) });
    } catch (err) {
      recordAttempt("error", started);
      throw err;
    }
    startIndex = result.nextStartIndex;
    recordAttempt(result.node !== undefined ? "scheduled" : "unschedulable", started);
    if (result.node !== undefined) {
      cache.assume(info, result.node);
      const p = bind(pod, result.node).finally(() => binds.delete(p));
      binds.add(p);
      if (binds.size >= maxBinds) await Promise.race(binds);
      return;
    }
    stats.unschedulable++;
    const pre = preempt(info, cache, result.diagnosis, { budgets: budgets() });
    queue.unschedulable(key);
    if (pre.node !== undefined) {
      stats.preemptions++;
      await recordFailure(pod, fitErrorMessage(result.diagnosis), pre.node);
      await evict(pod, pre.node, pre.victims);
      return;
    }
    await recordFailure(pod, fitErrorMessage(result.diagnosis, pre.message));
  }

  const worker = (async () => {
    for (let key = await queue.pop(); key !== undefined && !stopped; key = await queue.pop()) {
      try {
        await scheduleOne(key);
      } catch (err) {
        log(`scheduler: ${key}: ${describeError(err)}`);
        queue.retry(key);
      }
    }
  })();
  log(`scheduler: ${SCHEDULER_NAME} running over ${cache.nodes.length} nodes`);

  return {
    stats,
    queue,
    cache,
    isIdle: () => {
      const s = queue.stats();
      return s.active === 0 && s.inflight === 0 && s.backoff === 0 && binds.size === 0;
    },
    async stop() {
      stopped = true;
      queue.close();
      await worker;
      await Promise.allSettled([...binds]);
      await ownFactory?.stop();
    },
  };
}
