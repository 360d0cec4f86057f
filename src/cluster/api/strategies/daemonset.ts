// DaemonSet: the defaulted RollingUpdate strategy kubectl rollout status needs.
import { ageColumn, nameColumn, num, POD_TEMPLATE_CONTAINERS, status, workloadWide } from "../columns.ts";
import { getPath } from "../objects.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import { defaultTemplate, validateWorkload } from "./_pod-template.ts";
import type { Strategy } from "./types.ts";

export const daemonSetStrategy: Strategy = {
  defaults(o) {
    const s = obj(o, "spec");
    const strategy = obj(s, "updateStrategy");
    dflt(strategy, "type", "RollingUpdate");
    if (strategy.type === "RollingUpdate") {
      const ru = obj(strategy, "rollingUpdate");
      dflt(ru, "maxUnavailable", 1);
      dflt(ru, "maxSurge", 0);
    }
    dflt(s, "revisionHistoryLimit", 10);
    defaultTemplate(s);
  },
  validate(c, o) {
    validateWorkload(c, specOf(o), false);
    // ValidateRollingUpdateDaemonSet: exactly one of maxSurge and maxUnavailable is non-zero.
    const ru = getPath(o, ["spec", "updateStrategy", "rollingUpdate"]) as { maxSurge?: unknown; maxUnavailable?: unknown } | undefined;
    if (getPath(o, ["spec", "updateStrategy", "type"]) === "RollingUpdate" && ru) {
      const nonZero = (v: unknown) => v !== undefined && v !== null && v !== 0 && v !== "0%" && v !== "0";
      if (nonZero(ru.maxSurge) && nonZero(ru.maxUnavailable)) c.invalid("spec.updateStrategy.rollingUpdate.maxSurge", ru.maxSurge, "may not be set when maxUnavailable is non-zero");
      else if (!nonZero(ru.maxSurge) && !nonZero(ru.maxUnavailable)) c.required("spec.updateStrategy.rollingUpdate.maxUnavailable");
    }
  },
  columns: [
    nameColumn,
    { name: "Desired", type: "integer", cell: (o) => num(status(o).desiredNumberScheduled) },
    { name: "Current", type: "integer", cell: (o) => num(status(o).currentNumberScheduled) },
    { name: "Ready", type: "integer", cell: (o) => num(status(o).numberReady) },
    { name: "Up-to-date", type: "integer", cell: (o) => num(status(o).updatedNumberScheduled) },
    { name: "Available", type: "integer", cell: (o) => num(status(o).numberAvailable) },
    { name: "Node Selector", type: "string", cell: (o) => Object.entries((getPath(o, ["spec", "template", "spec", "nodeSelector"]) ?? {}) as Record<string, unknown>).map(([k, v]) => `${k}=${v}`).join(",") || "<none>" },
    ageColumn,
    ...workloadWide(POD_TEMPLATE_CONTAINERS),
  ],
};
