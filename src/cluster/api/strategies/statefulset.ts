// StatefulSet: OrderedReady, RollingUpdate with partition 0, PVCs retained by default.
import { ageColumn, nameColumn, num, POD_TEMPLATE_CONTAINERS, spec, status, workloadWide } from "../columns.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, validateWorkload } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

export const statefulSetStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "replicas", 1);
    dflt(s, "podManagementPolicy", "OrderedReady");
    const strategy = obj(s, "updateStrategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") dflt(obj(strategy, "rollingUpdate"), "partition", 0);
    dflt(s, "revisionHistoryLimit", 10);
    dflt(s, "persistentVolumeClaimRetentionPolicy", { whenDeleted: "Retain", whenScaled: "Retain" });
    defaultTemplate(s);
  },
  validate(c, o) {
    validateWorkload(c, specOf(o));
  },
  columns: [
    nameColumn,
    { name: "Ready", type: "string", cell: (o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}` },
    ageColumn,
    ...workloadWide(POD_TEMPLATE_CONTAINERS).slice(0, 2),
  ],
};
