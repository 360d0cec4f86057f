// Node: registered by its agent together with its status; STATUS shows Ready and cordoning.
// spec.podCIDR(s) comes from the cluster CIDR (node-pod-cidrs.ts) and never changes once set.
import { ageColumn, arr, nameColumn, none, spec, status } from "../columns.ts";
import { getPath } from "../objects.ts";
import { isIPv4Cidr, nodePodCidrAllocator } from "../node-pod-cidrs.ts";
import { specOf } from "../validation.ts";
import { obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const nodeStrategy: Strategy = {
  statusOnCreate: true,
  defaults(o) {
    const s = obj(o, "spec");
    // The single-value field and the list say the same (Kubernetes' conversion keeps them so).
    if (typeof s.podCIDR === "string" && s.podCIDR && !Array.isArray(s.podCIDRs)) s.podCIDRs = [s.podCIDR];
    if (!s.podCIDR && Array.isArray(s.podCIDRs) && typeof s.podCIDRs[0] === "string") s.podCIDR = s.podCIDRs[0];
  },
  validate(c, o, old) {
    const s = specOf(o);
    const cidrs = Array.isArray(s.podCIDRs) ? s.podCIDRs : [];
    if (cidrs.length > 1) c.invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family");
    cidrs.forEach((v: unknown, i: number) => {
      if (typeof v !== "string" || !isIPv4Cidr(v)) c.invalid(`spec.podCIDRs[${i}]`, v, "must be a valid CIDR");
    });
    if (s.podCIDR !== undefined && s.podCIDR !== "" && cidrs[0] !== s.podCIDR) c.invalid("spec.podCIDR", s.podCIDR, "must match spec.podCIDRs[0]");
    const before = old ? specOf(old).podCIDR : undefined;
    // Kubernetes' ValidateNodeUpdate: set once, then fixed (left out, the allocator keeps it).
    if (before && s.podCIDR && s.podCIDR !== before) c.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid');
  },
  allocator: nodePodCidrAllocator,
  columns: [
    nameColumn,
    { name: "Status", type: "string", cell: (o) => (arr(status(o).conditions).find((c) => c.type === "Ready")?.status === "True" ? "Ready" : "NotReady") + (spec(o).unschedulable ? ",SchedulingDisabled" : "") },
    { name: "Roles", type: "string", cell: (o) => Object.keys(o.metadata.labels ?? {}).filter((l) => l.startsWith("node-role.kubernetes.io/")).map((l) => l.slice(24)).join(",") || "<none>" },
    ageColumn,
    { name: "Version", type: "string", cell: (o) => getPath(o, ["status", "nodeInfo", "kubeletVersion"]) ?? "" },
    { name: "Internal-IP", type: "string", priority: 1, cell: (o) => none(arr(status(o).addresses).find((a) => a.type === "InternalIP")?.address) },
  ],
};
