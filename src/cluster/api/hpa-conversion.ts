// autoscaling/v1 HorizontalPodAutoscaler ⇄ the stored autoscaling/v2 one (Kubernetes'
// pkg/apis/autoscaling/v1/conversion.go, cut down): v1's targetCPUUtilizationPercentage is
// v2's cpu Utilization metric; status currentCPUUtilizationPercentage comes from the cpu
// metric's current utilization. Served for create (what `kubectl autoscale` sends), get, list,
// watch and delete; not for update or patch, as v1 cannot carry v2's other metrics or behavior.
import type { KubeObject } from "./objects.ts";

interface V2Metric {
  type?: string;
  resource?: { name?: string; target?: { type?: string; averageUtilization?: number }; current?: { averageUtilization?: number } };
}

const cpuUtilization = (metrics: unknown) => ((metrics as V2Metric[] | undefined) ?? []).find((m) => m.type === "Resource" && m.resource?.name === "cpu")?.resource;

export function hpaV1ToV2(o: KubeObject): KubeObject {
  const { targetCPUUtilizationPercentage, ...spec } = (o.spec ?? {}) as Record<string, unknown>;
  const metrics = targetCPUUtilizationPercentage === undefined ? undefined : [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: targetCPUUtilizationPercentage } } }];
  const { status: _dropped, ...rest } = o;
  return { ...rest, apiVersion: "autoscaling/v2", spec: { ...spec, ...(metrics ? { metrics } : {}) } };
}

export function hpaV2ToV1(o: KubeObject): KubeObject {
  const { metrics, behavior: _behavior, ...spec } = (o.spec ?? {}) as Record<string, unknown>;
  const { currentMetrics, conditions: _conditions, ...status } = (o.status ?? {}) as Record<string, unknown>;
  const target = cpuUtilization(metrics)?.target?.averageUtilization;
  const current = cpuUtilization(currentMetrics)?.current?.averageUtilization;
  return {
    ...o,
    apiVersion: "autoscaling/v1",
    spec: { ...spec, ...(target !== undefined ? { targetCPUUtilizationPercentage: target } : {}) },
    status: { ...status, ...(current !== undefined ? { currentCPUUtilizationPercentage: current } : {}) },
  };
}
