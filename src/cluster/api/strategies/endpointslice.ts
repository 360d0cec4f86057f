// EndpointSlice: an address type from the three Kubernetes knows.
import { ageColumn, arr, nameColumn } from "../columns.ts";
import type { Strategy } from "./types.ts";

const ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"];

export const endpointSliceStrategy: Strategy = {
  validate(c, o) {
    if (!ADDRESS_TYPES.includes(String(o.addressType))) c.unsupported("addressType", o.addressType, ADDRESS_TYPES);
  },
  columns: [
    nameColumn,
    { name: "AddressType", type: "string", cell: (o) => o.addressType ?? "" },
    { name: "Ports", type: "string", cell: (o) => arr(o.ports).map((p) => p.port).join(",") || "<unset>" },
    { name: "Endpoints", type: "string", cell: (o) => arr(o.endpoints).flatMap((e) => arr(e.addresses)).join(",") || "<unset>" },
    ageColumn,
  ],
};
