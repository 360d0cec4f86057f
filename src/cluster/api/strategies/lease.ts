// Lease: a positive duration when one is given.
import { ageColumn, nameColumn, spec } from "../columns.ts";
import { specOf } from "../validation.ts";
import type { Strategy } from "./types.ts";

export const leaseStrategy: Strategy = {
  validate(c, o) {
    const d = specOf(o).leaseDurationSeconds;
    if (d !== undefined && d !== null && (typeof d !== "number" || d <= 0)) c.invalid("spec.leaseDurationSeconds", d, "must be greater than 0");
  },
  columns: [nameColumn, { name: "Holder", type: "string", cell: (o) => spec(o).holderIdentity ?? "" }, ageColumn],
};
