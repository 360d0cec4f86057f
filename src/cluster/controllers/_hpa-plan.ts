// The HorizontalPodAutoscaler's arithmetic, pure (pkg/controller/podautoscaler/
// replica_calculator.go and horizontal.go): replicas from resource usage against requests,
// with the 0.1 tolerance and the treatment of pods that have no metrics yet or are not ready;
// then the behavior: stabilisation windows over past recommendations and the scale-up/down
// rate policies over past scale events; then min/max.

export const TOLERANCE = 0.1;

/** One pod as the calculation sees it: its usage (undefined: no metrics yet) and request, in the metric's unit (millicores, bytes). */
export interface PodUsage {
  usage?: number;
  request: number;
  /** Ready, or not cpu (only cpu readings of unready pods are set aside, as Kubernetes does). */
  ready: boolean;
}

export interface ReplicaResult {
  replicas: number;
  /** Average usage as a percentage of the request (Utilization targets). */
  utilization?: number;
  /** Average usage per pod with metrics. */
  averageUsage: number;
}

/**
 * GetResourceReplicas: desired = ceil(readyPods × usage/target), where a pod without
 * metrics counts as using nothing when scaling up and its whole request when scaling down,
 * unready pods count as using nothing when scaling up (and are left out otherwise); within
 * tolerance, or when those assumptions would reverse the direction, the current count stays.
 * `target` is a utilization percentage (`utilization`), or a per-pod average in the metric's
 * unit (`averageValue`).
 */
export function resourceReplicas(currentReplicas: number, pods: PodUsage[], target: { utilization?: number; averageValue?: number }): ReplicaResult | undefined {
  const measured = pods.filter((p) => p.usage !== undefined && p.ready);
  const missing = pods.filter((p) => p.usage === undefined);
  const unready = pods.filter((p) => p.usage !== undefined && !p.ready);
  if (!measured.length) return undefined;
  const ratioOf = (ps: PodUsage[]) => {
    const usage = ps.reduce((s, p) => s + (p.usage ?? 0), 0);
    if (target.utilization !== undefined) {
      const requests = ps.reduce((s, p) => s + p.request, 0);
      const utilization = requests > 0 ? (usage * 100) / requests : 0;
      return { ratio: utilization / target.utilization, utilization: Math.floor(utilization), average: usage / ps.length };
    }
    const average = usage / ps.length;
    return { ratio: average / (target.averageValue || 1), utilization: undefined, average };
  };
  const first = ratioOf(measured);
  const result = (replicas: number): ReplicaResult => ({ replicas, averageUsage: first.average, ...(first.utilization !== undefined ? { utilization: first.utilization } : {}) });
  if (!missing.length && !unready.length) {
    if (Math.abs(1 - first.ratio) <= TOLERANCE) return result(currentReplicas);
    return result(Math.ceil(first.ratio * measured.length));
  }
  // Fill in what is not known in the direction that moves least.
  const filled: PodUsage[] = [...measured];
  if (first.ratio < 1) for (const p of missing) filled.push({ ...p, usage: target.utilization !== undefined ? p.request : (target.averageValue ?? 0), ready: true });
  else if (first.ratio > 1) for (const p of missing) filled.push({ ...p, usage: 0, ready: true });
  if (first.ratio > 1) for (const p of unready) filled.push({ ...p, usage: 0, ready: true });
  const second = ratioOf(filled);
  if (Math.abs(1 - second.ratio) <= TOLERANCE || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) return result(currentReplicas);
  const replicas = Math.ceil(second.ratio * filled.length);
  // The assumptions must not scale the other way than the measured pods ask.
  if ((first.ratio > 1 && replicas < currentReplicas) || (first.ratio < 1 && replicas > currentReplicas)) return result(currentReplicas);
  return result(replicas);
}

export interface ScalingPolicy {
  type: "Pods" | "Percent";
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: "Max" | "Min" | "Disabled";
  policies?: ScalingPolicy[];
}

export interface Behavior {
  scaleUp?: ScalingRules;
  scaleDown?: ScalingRules;
}

/** Kubernetes' defaults (SetDefaults_HorizontalPodAutoscalerBehavior): up at most double or +4 per 15 s, no window; down any amount, the window of the controller's flag. */
export function behaviorWithDefaults(b: Behavior | undefined, downscaleStabilizationSeconds: number): Required<{ scaleUp: Required<ScalingRules>; scaleDown: Required<ScalingRules> }> {
  return {
    scaleUp: {
      stabilizationWindowSeconds: b?.scaleUp?.stabilizationWindowSeconds ?? 0,
      selectPolicy: b?.scaleUp?.selectPolicy ?? "Max",
      policies: b?.scaleUp?.policies ?? [
        { type: "Pods", value: 4, periodSeconds: 15 },
        { type: "Percent", value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: b?.scaleDown?.stabilizationWindowSeconds ?? downscaleStabilizationSeconds,
      selectPolicy: b?.scaleDown?.selectPolicy ?? "Max",
      policies: b?.scaleDown?.policies ?? [{ type: "Percent", value: 100, periodSeconds: 15 }],
    },
  };
}

export interface Recommendation {
  atMs: number;
  replicas: number;
}

export interface ScaleEvent {
  atMs: number;
  /** Replicas added (> 0) or removed (< 0). */
  change: number;
}

export interface NormalizeInput {
  nowMs: number;
  currentReplicas: number;
  desired: number;
  minReplicas: number;
  maxReplicas: number;
  behavior: ReturnType<typeof behaviorWithDefaults>;
  /** Past recommendations (the new one is added by the caller after). */
  recommendations: Recommendation[];
  events: ScaleEvent[];
}

export interface Normalized {
  replicas: number;
  /** Why it differs from what the metrics asked, for the ScalingLimited condition. */
  limitedBy?: "TooManyReplicas" | "TooFewReplicas" | "ScaleUpLimit" | "ScaleDownLimit";
  stabilized: boolean;
}

/** stabilizeRecommendationWithBehaviors, then convertDesiredReplicasWithBehaviorRate, then min/max. */
export function normalizeReplicas(i: NormalizeInput): Normalized {
  // Stabilisation: scale up no further than the lowest, down no further than the highest recommendation in each window.
  const upCutoff = i.nowMs - i.behavior.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = i.nowMs - i.behavior.scaleDown.stabilizationWindowSeconds * 1000;
  let up = i.desired;
  let down = i.desired;
  for (const r of i.recommendations) {
    if (r.atMs > upCutoff) up = Math.min(up, r.replicas);
    if (r.atMs > downCutoff) down = Math.max(down, r.replicas);
  }
  let replicas = i.currentReplicas;
  if (replicas < up) replicas = up;
  if (replicas > down) replicas = down;
  const stabilized = replicas !== i.desired;

  let limitedBy: Normalized["limitedBy"];
  if (replicas > i.currentReplicas) {
    const limit = rateLimit(i.behavior.scaleUp, i.events, i.nowMs, i.currentReplicas, "up");
    if (replicas > limit) {
      replicas = limit;
      limitedBy = "ScaleUpLimit";
    }
    if (replicas > i.maxReplicas) {
      replicas = i.maxReplicas;
      limitedBy = "TooManyReplicas";
    }
  } else if (replicas < i.currentReplicas) {
    const limit = rateLimit(i.behavior.scaleDown, i.events, i.nowMs, i.currentReplicas, "down");
    if (replicas < limit) {
      replicas = limit;
      limitedBy = "ScaleDownLimit";
    }
    if (replicas < i.minReplicas) {
      replicas = i.minReplicas;
      limitedBy = "TooFewReplicas";
    }
  }
  if (replicas > i.maxReplicas) return { replicas: i.maxReplicas, limitedBy: "TooManyReplicas", stabilized };
  if (replicas < i.minReplicas) return { replicas: i.minReplicas, limitedBy: "TooFewReplicas", stabilized };
  return { replicas, ...(limitedBy ? { limitedBy } : {}), stabilized };
}

/** The furthest the policies let replicas go from the count at each policy period's start. */
function rateLimit(rules: Required<ScalingRules>, events: ScaleEvent[], nowMs: number, current: number, direction: "up" | "down"): number {
  if (rules.selectPolicy === "Disabled") return current;
  const limits = rules.policies.map((p) => {
    const since = nowMs - p.periodSeconds * 1000;
    const changed = events.filter((e) => e.atMs > since && (direction === "up" ? e.change > 0 : e.change < 0)).reduce((s, e) => s + e.change, 0);
    const start = current - changed;
    if (direction === "up") return p.type === "Pods" ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    return p.type === "Pods" ? start - p.value : Math.ceil(start * (1 - p.value / 100));
  });
  if (!limits.length) return current;
  // "Max" picks the policy that allows the most change.
  const most = direction === "up" ? Math.max(...limits) : Math.min(...limits);
  const least = direction === "up" ? Math.min(...limits) : Math.max(...limits);
  return rules.selectPolicy === "Min" ? least : most;
}
