// ConfigMap: keys of data and binaryData must be config keys.
import { ageColumn, nameColumn } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { CONFIG_KEY } from "../validation.ts";
import type { Strategy } from "./types.ts";

export const configMapStrategy: Strategy = {
  validate(c, o) {
    for (const field of ["data", "binaryData"]) {
      const d = o[field];
      if (d === undefined || d === null) continue;
      if (!isPlainObject(d)) {
        c.invalid(field, d, "must be a map of strings");
        continue;
      }
      for (const k of Object.keys(d)) if (!CONFIG_KEY.test(k) || k.length > 253) c.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
    }
  },
  columns: [nameColumn, { name: "Data", type: "integer", cell: (o) => Object.keys((o.data ?? {}) as object).length + Object.keys((o.binaryData ?? {}) as object).length }, ageColumn],
};
