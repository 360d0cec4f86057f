// Node: registered by its agent together with its status; STATUS shows Ready and cordoning.
import { ageColumn, arr, nameColumn, none, spec, status } from "../columns.ts";
import { getPath } from "../objects.ts";
import { obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const nodeStrategy: Strategy = {
  statusOnCreate: true,
  defaults(o) {
    obj(o, "spec");
  },
  columns: [
    nameColumn,
    { name: "Status", type: "string", cell: (o) => (arr(status(o).conditions).find((c) => c.type === "Ready")?.status === "True" ? "Ready" : "NotReady") + (spec(o).unschedulable ? ",SchedulingDisabled" : "") },
    { name: "Roles", type: "string", cell: (o) => Object.keys(o.metadata.labels ?? {}).filter((l) => l.startsWith("node-role.kubernetes.io/")).map((l) => l.slice(24)).join(",") || "<none>" },
    ageColumn,
    { name: "Version", type: "string", cell: (o) => getPath(o, ["status", "nodeInfo", "kubeletVersion"]) ?? "" },
    { name: "Internal-IP", type: "string", priority: 1, cell: (o) => none(arr(status(o).addresses).find((a) => a.type === "InternalIP")?.address) },
  ],
};
