// Secret: type Opaque by default; stringData is write-only, folded into data (base64) on
// every write; data must be base64.
import { ageColumn, nameColumn } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { CONFIG_KEY } from "../validation.ts";
import { dflt } from "./_fields.ts";
import type { Strategy } from "./types.ts";

export const secretStrategy: Strategy = {
  defaults(o) {
    dflt(o, "type", "Opaque");
  },
  canonicalize(o) {
    const sd = o.stringData;
    if (!isPlainObject(sd)) return;
    const data = isPlainObject(o.data) ? (o.data as Record<string, string>) : {};
    for (const [k, v] of Object.entries(sd)) data[k] = Buffer.from(String(v)).toString("base64");
    o.data = data;
    delete o.stringData;
  },
  validate(c, o) {
    for (const field of ["data", "stringData"]) {
      const d = o[field];
      if (!isPlainObject(d)) continue;
      for (const [k, v] of Object.entries(d)) {
        if (!CONFIG_KEY.test(k)) c.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
        if (field === "data" && (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))) c.invalid(`${field}[${k}]`, "<secret contents redacted>", "must be base64 encoded");
      }
    }
  },
  columns: [nameColumn, { name: "Type", type: "string", cell: (o) => o.type ?? "Opaque" }, { name: "Data", type: "integer", cell: (o) => Object.keys((o.data ?? {}) as object).length }, ageColumn],
};
