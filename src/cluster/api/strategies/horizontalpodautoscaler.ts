// HorizontalPodAutoscaler (autoscaling/v2): defaults and validation as kube-apiserver's
// (pkg/apis/autoscaling/v2/defaults.go, validation.go): minReplicas 1, a cpu utilization
// target of 80% when no metric is given; maxReplicas ≥ 1 and ≥ minReplicas; the scale
// target named by kind and name; Resource metrics of cpu or memory with a Utilization or
// AverageValue target (the kinds the controller acts on). Columns as kubectl prints them.
import { ageColumn, nameColumn, spec, status } from "../columns.ts";
import { isPlainObject, type KubeObject } from "../objects.ts";
import { specOf } from "../validation.ts";
import type { Strategy } from "./types.ts";

const METRIC_TYPES = ["Resource", "ContainerResource", "Pods", "Object", "External"];
const TARGET_TYPES = ["Utilization", "AverageValue", "Value"];

interface MetricSpec {
  type?: string;
  resource?: { name?: string; target?: { type?: string; averageUtilization?: number; averageValue?: string; value?: string } };
}
interface MetricStatus {
  type?: string;
  resource?: { name?: string; current?: { averageUtilization?: number; averageValue?: string } };
}

/** kubectl's TARGETS column: "cpu: 45%/50%" per metric, "<unknown>" before the first reading. */
function targets(o: KubeObject): string {
  const metrics = (spec(o).metrics as MetricSpec[] | undefined) ?? [];
  const current = (status(o).currentMetrics as MetricStatus[] | undefined) ?? [];
  const parts = metrics.map((m, i) => {
    const r = m.resource;
    if (m.type !== "Resource" || !r) return `<unsupported>`;
    const cur = current[i]?.resource;
    if (r.target?.type === "Utilization") return `${r.name}: ${cur?.current?.averageUtilization !== undefined ? `${cur.current.averageUtilization}%` : "<unknown>"}/${r.target.averageUtilization}%`;
    return `${r.name}: ${cur?.current?.averageValue ?? "<unknown>"}/${r.target?.averageValue ?? r.target?.value}`;
  });
  return parts.length ? parts.join(", ") : "<none>";
}

export const horizontalPodAutoscalerStrategy: Strategy = {
  defaults(o) {
    const s = specOf(o);
    if (!isPlainObject(o.spec)) o.spec = s;
    if (s.minReplicas === undefined) s.minReplicas = 1;
    if (!Array.isArray(s.metrics) || s.metrics.length === 0) s.metrics = [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } } }];
  },
  validate(c, o) {
    const s = specOf(o);
    const ref = isPlainObject(s.scaleTargetRef) ? (s.scaleTargetRef as Record<string, unknown>) : undefined;
    if (!ref) c.required("spec.scaleTargetRef");
    else {
      if (!ref.kind) c.required("spec.scaleTargetRef.kind");
      if (!ref.name) c.required("spec.scaleTargetRef.name");
    }
    const min = s.minReplicas as number;
    const max = s.maxReplicas;
    if (typeof min !== "number" || !Number.isInteger(min) || min < 1) c.invalid("spec.minReplicas", min, "must be greater than or equal to 1");
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1) c.invalid("spec.maxReplicas", max, "must be greater than 0");
    else if (typeof min === "number" && max < min) c.invalid("spec.maxReplicas", max, "must be greater than or equal to `minReplicas`");
    ((s.metrics as MetricSpec[] | undefined) ?? []).forEach((m, i) => {
      const field = `spec.metrics[${i}]`;
      if (!METRIC_TYPES.includes(String(m.type))) return c.unsupported(`${field}.type`, m.type, METRIC_TYPES);
      if (m.type !== "Resource") return;
      const r = m.resource;
      if (!r?.name) return c.required(`${field}.resource.name`);
      const t = r.target;
      if (!t || !TARGET_TYPES.includes(String(t.type))) return c.unsupported(`${field}.resource.target.type`, t?.type, TARGET_TYPES);
      if (t.type === "Utilization" && (typeof t.averageUtilization !== "number" || t.averageUtilization < 1)) c.invalid(`${field}.resource.target.averageUtilization`, t.averageUtilization, "must be greater than 0");
      if (t.type === "AverageValue" && !t.averageValue) c.required(`${field}.resource.target.averageValue`);
      if (t.type === "Value") c.invalid(`${field}.resource.target.type`, t.type, "must be either Utilization or AverageValue");
    });
  },
  columns: [
    nameColumn,
    { name: "Reference", type: "string", cell: (o) => `${(spec(o).scaleTargetRef as { kind?: string })?.kind}/${(spec(o).scaleTargetRef as { name?: string })?.name}` },
    { name: "Targets", type: "string", cell: (o) => targets(o) },
    { name: "MinPods", type: "integer", cell: (o) => (spec(o).minReplicas as number | undefined) ?? 1 },
    { name: "MaxPods", type: "integer", cell: (o) => spec(o).maxReplicas as number },
    { name: "Replicas", type: "integer", cell: (o) => (status(o).currentReplicas as number | undefined) ?? 0 },
    ageColumn,
  ],
};
