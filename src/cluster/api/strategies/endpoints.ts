// Endpoints: stored as given; the columns list ip:port pairs.
import { ageColumn, arr, nameColumn } from "../columns.ts";
import type { Strategy } from "./types.ts";

export const endpointsStrategy: Strategy = {
  columns: [
    nameColumn,
    { name: "Endpoints", type: "string", cell: (o) => arr(o.subsets).flatMap((s) => arr(s.addresses).flatMap((a) => (arr(s.ports).length ? arr(s.ports).map((p) => `${a.ip}:${p.port}`) : [String(a.ip)]))).join(",") || "<none>" },
    ageColumn,
  ],
};
