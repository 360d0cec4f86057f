// ControllerRevision: an immutable snapshot of a DaemonSet's or StatefulSet's template
// (data) with its revision number, what `kubectl rollout history|undo` reads.
import { ageColumn, nameColumn } from "../columns.ts";
import type { Strategy } from "./types.ts";

export const controllerRevisionStrategy: Strategy = {
  validate(c, o) {
    const revision = (o as { revision?: unknown }).revision;
    if (typeof revision !== "number" || !Number.isInteger(revision) || revision < 0) c.invalid("revision", revision, "must be greater than or equal to 0");
  },
  columns: [
    nameColumn,
    { name: "Controller", type: "string", cell: (o) => ((o as { metadata?: { ownerReferences?: { controller?: boolean; kind: string; apiVersion: string; name: string }[] } }).metadata?.ownerReferences ?? []).filter((r) => r.controller).map((r) => `${r.kind.toLowerCase()}${r.apiVersion.includes("/") ? `.${r.apiVersion.split("/")[0]}` : ""}/${r.name}`)[0] ?? "<none>" },
    { name: "Revision", type: "integer", cell: (o) => (o as { revision?: number }).revision ?? 0 },
    ageColumn,
  ],
};
