// Namespace: a label-shaped name, the kubernetes.io/metadata.name label, and deletion in two
// steps: DELETE turns it Terminating, and it goes once the namespace controller has emptied
// it and removed the "kubernetes" entry from spec.finalizers.
import { ageColumn, nameColumn, status } from "../columns.ts";
import { dflt, obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

/** Namespaces keep this in spec.finalizers until the namespace controller has emptied them. */
export const NAMESPACE_FINALIZER = "kubernetes";

export const namespaceStrategy: Strategy = {
  nameIsLabel: true,
  generation: false,
  defaults(o) {
    o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name ?? "" };
    dflt(obj(o, "spec"), "finalizers", [NAMESPACE_FINALIZER]);
    dflt(obj(o, "status"), "phase", "Active");
  },
  prepareForDelete(o) {
    obj(o, "status").phase = "Terminating";
  },
  extraFinalizers(o) {
    const spec = o.spec as { finalizers?: string[] } | undefined;
    return [...(spec?.finalizers ?? [])];
  },
  columns: [nameColumn, { name: "Status", type: "string", cell: (o) => status(o).phase ?? "Active" }, ageColumn],
};
