// Table columns (meta.k8s.io/v1 Table) and the helpers kinds build theirs from. Each kind's
// columns live in its strategy, following Kubernetes' printers
// (pkg/printers/internalversion/printers.go); priority 1 columns show with -o wide.
import { getPath, humanAge, isPlainObject, type KubeObject } from "./objects.ts";

export interface Column {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: KubeObject) => unknown;
}

type R = Record<string, unknown>;
export const spec = (o: KubeObject) => (isPlainObject(o.spec) ? o.spec : {}) as R;
export const status = (o: KubeObject) => (isPlainObject(o.status) ? o.status : {}) as R;
export const num = (v: unknown) => (typeof v === "number" ? v : 0);
export const arr = (v: unknown) => (Array.isArray(v) ? (v as R[]) : []);
export const none = (v: unknown) => (v === undefined || v === null || v === "" ? "<none>" : String(v));

export const nameColumn: Column = { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", cell: (o) => o.metadata.name };
export const ageColumn: Column = { name: "Age", type: "string", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", cell: (o) => humanAge(o.metadata.creationTimestamp) };

/** A LabelSelector in kubectl's string form ("" for none): the Scale subresource's status.selector. */
export function labelSelectorString(sel: unknown): string {
  if (!isPlainObject(sel)) return "";
  const parts = Object.entries((sel.matchLabels ?? {}) as R).map(([k, v]) => `${k}=${v}`);
  for (const e of arr(sel.matchExpressions)) {
    const values = arr(e.values).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(String(e.key));
    else parts.push(`!${e.key}`);
  }
  return parts.join(",");
}

export const selectorText = (sel: unknown): string => labelSelectorString(sel) || "<none>";

/** The -o wide columns of workloads: containers and images of the pod template at path, and the selector. */
export const workloadWide = (path: string[]): Column[] => [
  { name: "Containers", type: "string", priority: 1, cell: (o) => arr(getPath(o, path)).map((c) => c.name).join(",") },
  { name: "Images", type: "string", priority: 1, cell: (o) => arr(getPath(o, path)).map((c) => c.image).join(",") },
  { name: "Selector", type: "string", priority: 1, cell: (o) => selectorText(spec(o).selector) },
];

export const POD_TEMPLATE_CONTAINERS = ["spec", "template", "spec", "containers"];
