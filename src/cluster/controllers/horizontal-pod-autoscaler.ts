// The HorizontalPodAutoscaler controller (pkg/controller/podautoscaler/horizontal.go): every
// sync period each HPA reads its target's scale subresource (current replicas, selector),
// the selected pods and their metrics.k8s.io PodMetrics, computes the replicas each Resource
// metric (cpu, memory; Utilization of the request or AverageValue) asks for (_hpa-plan.ts),
// takes the largest, applies the behavior (stabilisation windows, rate policies) and
// min/max, writes the scale when it changed, and records status (currentReplicas,
// desiredReplicas, currentMetrics, lastScaleTime, conditions AbleToScale / ScalingActive /
// ScalingLimited) and a SuccessfulRescale event as Kubernetes does. Recommendations and
// scale events live in memory, as in kube-controller-manager: a restart starts afresh.
import { quantityMilliValue, quantityValue } from "../../common/quantity.ts";
import { copyObject, isNotFound, objectKey, type Informer, type KubeObject, type ResourceRef } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { EventRecorder } from "./_events.ts";
import { behaviorWithDefaults, normalizeReplicas, resourceReplicas, type Behavior, type PodUsage, type Recommendation, type ScaleEvent } from "./_hpa-plan.ts";
import { PODS, type Pod } from "./_types.ts";

export const HPAS: ResourceRef = { group: "autoscaling", version: "v2", resource: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true };

export interface HorizontalPodAutoscalerOptions {
  /** --horizontal-pod-autoscaler-sync-period (default 15 s). */
  syncPeriodMs?: number;
  /** --horizontal-pod-autoscaler-downscale-stabilization (default 5 min): the scale-down window when behavior sets none. */
  downscaleStabilizationMs?: number;
}

interface MetricTarget {
  type?: string;
  averageUtilization?: number;
  averageValue?: string;
}
interface MetricSpec {
  type?: string;
  resource?: { name?: string; target?: MetricTarget };
}
interface Condition {
  type: string;
  status: "True" | "False";
  reason: string;
  message: string;
  lastTransitionTime?: string;
}
interface Hpa extends KubeObject {
  spec?: { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string }; minReplicas?: number; maxReplicas?: number; metrics?: MetricSpec[]; behavior?: Behavior };
  status?: { currentReplicas?: number; desiredReplicas?: number; lastScaleTime?: string; conditions?: Condition[]; currentMetrics?: unknown[]; observedGeneration?: number };
}
interface Scale extends KubeObject {
  spec?: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}
interface PodMetrics {
  metadata: { name: string; namespace: string };
  containers: { name: string; usage: { cpu?: string; memory?: string } }[];
}

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export class HorizontalPodAutoscalerController extends Controller {
  private readonly hpas: Informer<Hpa>;
  private readonly syncPeriodMs: number;
  private readonly downscaleStabilizationSeconds: number;
  private readonly events: EventRecorder;
  private readonly recommendations = new Map<string, Recommendation[]>();
  private readonly scaleEvents = new Map<string, ScaleEvent[]>();

  constructor(ctx: ControllerContext, opts: HorizontalPodAutoscalerOptions = {}) {
    super("horizontal-pod-autoscaler", ctx);
    this.syncPeriodMs = opts.syncPeriodMs ?? 15_000;
    this.downscaleStabilizationSeconds = (opts.downscaleStabilizationMs ?? 300_000) / 1000;
    this.events = new EventRecorder(ctx.client, "horizontal-pod-autoscaler", ctx.clock, ctx.log);
    this.hpas = ctx.informers.informerFor<Hpa>(HPAS);
    this.hpas.addHandlers({
      onAdd: (h) => this.queue.add(objectKey(h)),
      onUpdate: (o, h) => {
        if (o.metadata.generation !== h.metadata.generation) this.queue.add(objectKey(h));
      },
      onDelete: (h) => {
        this.recommendations.delete(objectKey(h));
        this.scaleEvents.delete(objectKey(h));
      },
    });
  }

  /** The scalable resource a scaleTargetRef names, from discovery (apps/v1 Deployment, ReplicaSet, StatefulSet, …). */
  private targetRef(ref: { apiVersion?: string; kind?: string }): ResourceRef | undefined {
    const [group, version] = ref.apiVersion?.includes("/") ? ref.apiVersion.split("/") : ["", ref.apiVersion];
    return this.ctx.resources.find((r) => r.kind === ref.kind && r.group === group && (!version || r.version === version));
  }

  async reconcile(key: string): Promise<void> {
    const cached = this.hpas.cache.get(key);
    if (!cached) return;
    // Level-triggered on a clock: whatever happens, look again after the sync period.
    this.queue.addAfter(key, this.syncPeriodMs);
    const hpa = copyObject(cached);
    const spec = hpa.spec ?? {};
    const ns = hpa.metadata.namespace!;
    const ref = spec.scaleTargetRef ?? {};
    const conditions: Condition[] = [];
    const status = { ...(hpa.status ?? {}), observedGeneration: hpa.metadata.generation };
    const target = this.targetRef(ref);
    let scale: Scale | undefined;
    try {
      if (!target || !ref.name) throw new Error(`the server could not find the requested resource ${ref.kind}`);
      scale = await this.ctx.client.resource<Scale>(target).getSubresource<Scale>(ns, ref.name, "scale");
    } catch (err) {
      conditions.push({ type: "AbleToScale", status: "False", reason: "FailedGetScale", message: `the HPA controller was unable to get the target's current scale: ${(err as Error).message}` });
      if (!isNotFound(err)) this.ctx.log(`horizontal-pod-autoscaler: ${key}: ${(err as Error).message}`);
      return this.writeStatus(hpa, status, conditions);
    }
    const current = scale.spec?.replicas ?? 0;
    const minReplicas = spec.minReplicas ?? 1;
    const maxReplicas = spec.maxReplicas ?? minReplicas;
    status.currentReplicas = scale.status?.replicas ?? current;
    conditions.push({ type: "AbleToScale", status: "True", reason: "SucceededGetScale", message: "the HPA controller was able to get the target's current scale" });
    if (current === 0 && minReplicas !== 0) {
      conditions.push({ type: "ScalingActive", status: "False", reason: "ScalingDisabled", message: "scaling is disabled since the replica count of the target is zero" });
      status.desiredReplicas = 0;
      status.currentMetrics = [];
      return this.writeStatus(hpa, status, conditions);
    }

    let proposal: { replicas: number; metric: string } | undefined;
    const currentMetrics: unknown[] = [];
    try {
      const pods = (await this.ctx.client.resource<Pod>(PODS).list(ns, { labelSelector: scale.status?.selector ?? "" })).items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== "Failed" && p.status?.phase !== "Succeeded");
      const metrics = await this.podMetrics(ns, scale.status?.selector ?? "");
      for (const m of spec.metrics ?? []) {
        const r = m.resource;
        if (m.type !== "Resource" || !r?.name || (r.name !== "cpu" && r.name !== "memory")) continue;
        const name = r.name;
        const unit = name === "cpu" ? quantityMilliValue : quantityValue;
        const usages: PodUsage[] = [];
        for (const p of pods) {
          const containers = (p.spec?.containers ?? []) as { name: string; resources?: { requests?: Record<string, string> } }[];
          const requests = containers.map((c) => c.resources?.requests?.[name]);
          if (r.target?.type === "Utilization" && requests.some((q) => q === undefined)) throw new Error(`failed to get ${name} utilization: missing request for ${name} in container ${containers.find((c) => !c.resources?.requests?.[name])?.name} of Pod ${p.metadata.name}`);
          const pm = metrics.get(p.metadata.name!);
          const usage = pm ? pm.containers.reduce((s, c) => s + unit(c.usage[name] ?? "0"), 0) : undefined;
          usages.push({ usage, request: requests.reduce((s, q) => s + unit(q ?? "0"), 0), ready: name !== "cpu" || isReady(p) });
        }
        const t = r.target ?? {};
        const res = resourceReplicas(current, usages, t.type === "Utilization" ? { utilization: t.averageUtilization ?? 80 } : { averageValue: unit(t.averageValue ?? "0") });
        if (!res) throw new Error(`failed to get ${name} utilization: did not receive metrics for targeted pods (pods might be unready)`);
        const average = name === "cpu" ? `${Math.round(res.averageUsage)}m` : `${Math.round(res.averageUsage)}`;
        currentMetrics.push({ type: "Resource", resource: { name, current: { averageValue: average, ...(res.utilization !== undefined ? { averageUtilization: res.utilization } : {}) } } });
        if (!proposal || res.replicas > proposal.replicas) proposal = { replicas: res.replicas, metric: `${name} resource${res.utilization !== undefined ? " utilization (percentage of request)" : ""}` };
      }
      if (!proposal) throw new Error("no metric the controller can act on (Resource cpu or memory)");
    } catch (err) {
      conditions.push({ type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric", message: `the HPA was unable to compute the replica count: ${(err as Error).message}` });
      this.events.event(HPAS, hpa, "Warning", "FailedGetResourceMetric", (err as Error).message);
      status.desiredReplicas = current;
      return this.writeStatus(hpa, status, conditions);
    }
    conditions.push({ type: "ScalingActive", status: "True", reason: "ValidMetricFound", message: `the HPA was able to successfully calculate a replica count from ${proposal.metric}` });

    const now = this.ctx.clock.now();
    const behavior = behaviorWithDefaults(spec.behavior, this.downscaleStabilizationSeconds);
    const keepMs = Math.max(behavior.scaleUp.stabilizationWindowSeconds, behavior.scaleDown.stabilizationWindowSeconds, ...behavior.scaleUp.policies.map((p) => p.periodSeconds), ...behavior.scaleDown.policies.map((p) => p.periodSeconds)) * 1000;
    const recs = (this.recommendations.get(key) ?? []).filter((r) => r.atMs > now - keepMs);
    const events = (this.scaleEvents.get(key) ?? []).filter((e) => e.atMs > now - keepMs);
    const n = normalizeReplicas({ nowMs: now, currentReplicas: current, desired: proposal.replicas, minReplicas, maxReplicas, behavior, recommendations: recs, events });
    recs.push({ atMs: now, replicas: proposal.replicas });
    this.recommendations.set(key, recs);
    conditions.push(
      n.limitedBy
        ? { type: "ScalingLimited", status: "True", reason: n.limitedBy, message: n.limitedBy === "TooManyReplicas" ? "the desired replica count is more than the maximum replica count" : n.limitedBy === "TooFewReplicas" ? "the desired replica count is less than the minimum replica count" : `the desired replica count is ${n.limitedBy === "ScaleUpLimit" ? "increasing" : "decreasing"} faster than the maximum scale rate` }
        : { type: "ScalingLimited", status: "False", reason: "DesiredWithinRange", message: "the desired count is within the acceptable range" },
    );
    status.desiredReplicas = n.replicas;
    status.currentMetrics = currentMetrics;
    if (n.replicas !== current) {
      await this.ctx.client.resource<Scale>(target).updateSubresource<Scale>({ ...scale, spec: { ...scale.spec, replicas: n.replicas } }, "scale");
      events.push({ atMs: now, change: n.replicas - current });
      this.scaleEvents.set(key, events);
      status.lastScaleTime = new Date(now).toISOString();
      const direction = n.replicas > current ? "above" : "below";
      const reason = `${proposal.metric} ${direction} target`;
      this.events.event(HPAS, hpa, "Normal", "SuccessfulRescale", `New size: ${n.replicas}; reason: ${n.limitedBy === "TooFewReplicas" ? "All metrics below target" : reason}`);
      conditions[0] = { type: "AbleToScale", status: "True", reason: "SucceededRescale", message: `the HPA controller was able to update the target scale to ${n.replicas}` };
    } else if (n.stabilized) {
      conditions[0] = { type: "AbleToScale", status: "True", reason: "ScaleDownStabilized", message: "recent recommendations were higher than current one, applying the highest recent recommendation" };
    } else {
      conditions[0] = { type: "AbleToScale", status: "True", reason: "ReadyForNewScale", message: "recommended size matches current size" };
    }
    return this.writeStatus(hpa, status, conditions);
  }

  /** The selected pods' PodMetrics, by pod name (none when the metrics API has nothing yet). */
  private async podMetrics(ns: string, selector: string): Promise<Map<string, PodMetrics>> {
    const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : "";
    const list = await this.ctx.client.send<{ items?: PodMetrics[] }>("GET", `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(ns)}/pods${q}`);
    return new Map((list.items ?? []).map((m) => [m.metadata.name, m]));
  }

  /** Status with conditions whose lastTransitionTime moves only when their status does. */
  private async writeStatus(hpa: Hpa, status: NonNullable<Hpa["status"]>, conditions: Condition[]): Promise<void> {
    const now = new Date(this.ctx.clock.now()).toISOString();
    const old = new Map((hpa.status?.conditions ?? []).map((c) => [c.type, c]));
    status.conditions = conditions.map((c) => ({ ...c, lastTransitionTime: old.get(c.type)?.status === c.status ? old.get(c.type)!.lastTransitionTime : now }));
    if (JSON.stringify(status) === JSON.stringify(hpa.status ?? {})) return;
    try {
      await this.ctx.client.resource<Hpa>(HPAS).updateStatus({ ...hpa, status });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
