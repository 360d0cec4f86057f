// Deployment: RollingUpdate 25%/25% and the other defaults describe and rollout read.
import { ageColumn, nameColumn, num, POD_TEMPLATE_CONTAINERS, spec, status, workloadWide } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, validateWorkload } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

export const deploymentStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "replicas", 1);
    const strategy = obj(s, "strategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") {
      const ru = obj(strategy, "rollingUpdate");
      dflt(ru, "maxUnavailable", "25%");
      dflt(ru, "maxSurge", "25%");
    }
    dflt(s, "revisionHistoryLimit", 10);
    dflt(s, "progressDeadlineSeconds", 600);
    defaultTemplate(s);
  },
  validate(c, o) {
    const s = specOf(o);
    validateWorkload(c, s);
    const st = isPlainObject(s.strategy) ? s.strategy.type : undefined;
    if (st !== undefined && st !== "RollingUpdate" && st !== "Recreate") c.unsupported("spec.strategy.type", st, ["Recreate", "RollingUpdate"]);
  },
  columns: [
    nameColumn,
    { name: "Ready", type: "string", cell: (o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}` },
    { name: "Up-to-date", type: "integer", cell: (o) => num(status(o).updatedReplicas) },
    { name: "Available", type: "integer", cell: (o) => num(status(o).availableReplicas) },
    ageColumn,
    ...workloadWide(POD_TEMPLATE_CONTAINERS),
  ],
};
