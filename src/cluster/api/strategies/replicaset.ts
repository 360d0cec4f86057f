// ReplicaSet: one replica by default.
import { ageColumn, nameColumn, num, POD_TEMPLATE_CONTAINERS, spec, status, workloadWide, type Column } from "../columns.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, validateWorkload } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

/** kubectl get's columns of replica sets and ReplicationControllers; wide: the -o wide ones. */
export const replicaColumns = (wide: Column[]): Column[] => [
  nameColumn,
  { name: "Desired", type: "integer", cell: (o) => num(spec(o).replicas) },
  { name: "Current", type: "integer", cell: (o) => num(status(o).replicas) },
  { name: "Ready", type: "integer", cell: (o) => num(status(o).readyReplicas) },
  ageColumn,
  ...wide,
];

export const replicaSetStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "replicas", 1);
    defaultTemplate(s);
  },
  validate(c, o) {
    validateWorkload(c, specOf(o));
  },
  columns: replicaColumns(workloadWide(POD_TEMPLATE_CONTAINERS)),
};
