// Service: defaults, port checks, ClusterIP and NodePort allocation (service-addresses.ts),
// and an immutable ClusterIP once set.
import { ageColumn, arr, nameColumn, none, spec } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { serviceAllocator } from "../service-addresses.ts";
import { specOf } from "../validation.ts";
import { dflt, obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const serviceStrategy: Strategy = {
  nameIsLabel: true,
  defaults(o) {
    const s = obj(o, "spec");
    dflt(s, "type", "ClusterIP");
    dflt(s, "sessionAffinity", "None");
    dflt(s, "ipFamilyPolicy", "SingleStack");
    dflt(s, "ipFamilies", ["IPv4"]);
    dflt(s, "internalTrafficPolicy", "Cluster");
    for (const p of Array.isArray(s.ports) ? s.ports : []) {
      if (!isPlainObject(p)) continue;
      dflt(p, "protocol", "TCP");
      dflt(p, "targetPort", p.port);
    }
    obj(obj(o, "status"), "loadBalancer");
  },
  validate(c, o, old) {
    const s = specOf(o);
    const type = s.type;
    const types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if (type !== undefined && !types.includes(String(type))) c.unsupported("spec.type", type, types);
    const ports = Array.isArray(s.ports) ? s.ports : [];
    if (ports.length === 0 && type !== "ExternalName" && s.clusterIP !== "None") c.required("spec.ports");
    ports.forEach((p: unknown, i: number) => {
      const port = isPlainObject(p) ? p.port : undefined;
      if (typeof port !== "number" || port < 1 || port > 65535) c.invalid(`spec.ports[${i}].port`, port, "must be between 1 and 65535, inclusive");
      if (ports.length > 1 && !(isPlainObject(p) && p.name)) c.required(`spec.ports[${i}].name`);
    });
    const before = old ? specOf(old).clusterIP : undefined;
    // Left out on an update, it is kept (the allocator copies it back); changed, it is refused.
    if (before && s.clusterIP && s.clusterIP !== before && type !== "ExternalName" && specOf(old!).type !== "ExternalName") c.immutable("spec.clusterIPs[0]", s.clusterIP);
  },
  allocator: serviceAllocator,
  columns: [
    nameColumn,
    { name: "Type", type: "string", cell: (o) => spec(o).type ?? "ClusterIP" },
    { name: "Cluster-IP", type: "string", cell: (o) => none(spec(o).clusterIP) },
    { name: "External-IP", type: "string", cell: (o) => (arr(spec(o).externalIPs).length ? arr(spec(o).externalIPs).join(",") : "<none>") },
    { name: "Port(s)", type: "string", cell: (o) => arr(spec(o).ports).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",") || "<none>" },
    ageColumn,
    { name: "Selector", type: "string", priority: 1, cell: (o) => (isPlainObject(spec(o).selector) ? Object.entries(spec(o).selector as Record<string, unknown>).map(([k, v]) => `${k}=${v}`).join(",") : "<none>") },
  ],
};
