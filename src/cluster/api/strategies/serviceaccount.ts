// ServiceAccount: stored as given.
import { ageColumn, arr, nameColumn } from "../columns.ts";
import type { Strategy } from "./types.ts";

export const serviceAccountStrategy: Strategy = {
  columns: [nameColumn, { name: "Secrets", type: "integer", cell: (o) => arr(o.secrets).length }, ageColumn],
};
