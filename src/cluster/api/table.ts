// Table responses for `kubectl get` (meta.k8s.io/v1 Table), with each kind's columns from
// its strategy (name and age for kinds without their own). The server computes the Age cell.
import { ageColumn, nameColumn } from "./columns.ts";
import type { KubeObject } from "./objects.ts";
import type { ResourceType } from "./resources.ts";
import { strategyFor } from "./strategies/index.ts";

/** A Table of objects; each row's object is PartialObjectMetadata, as `includeObject=Metadata` (the default). */
export function toTable(rt: ResourceType, objects: KubeObject[], listMeta: Record<string, unknown>) {
  const cols = strategyFor(rt).columns ?? [nameColumn, ageColumn];
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? "", description: c.description ?? "", priority: c.priority ?? 0 })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
