// LimitRange (core/v1): per-namespace defaults and bounds for containers, pods and claims,
// applied by the LimitRanger admission (limit-ranger.ts). Defaulting is SetDefaults_LimitRangeItem.
import { arr, nameColumn } from "../columns.ts";
import { isPlainObject } from "../objects.ts";
import { parseQuantity } from "../../../common/quantity.ts";
import { specOf } from "../validation.ts";
import { obj } from "./_fields.ts";
import type { Strategy } from "./types.ts";

const TYPES = ["Container", "Pod", "PersistentVolumeClaim"];

export const limitRangeStrategy: Strategy = {
  // A Container item's default limit falls back to max, its default request to the default
  // limit, then to min.
  defaults(o) {
    for (const item of arr(obj(o, "spec").limits)) {
      if (item.type !== "Container") continue;
      const dflt = obj(item, "default");
      const request = obj(item, "defaultRequest");
      for (const [k, v] of Object.entries(isPlainObject(item.max) ? item.max : {})) if (!(k in dflt)) dflt[k] = v;
      for (const [k, v] of Object.entries(dflt)) if (!(k in request)) request[k] = v;
      for (const [k, v] of Object.entries(isPlainObject(item.min) ? item.min : {})) if (!(k in request)) request[k] = v;
    }
  },
  validate(c, o) {
    arr(specOf(o).limits).forEach((item, i) => {
      const at = `spec.limits[${i}]`;
      if (!TYPES.includes(String(item.type))) c.invalid(`${at}.type`, item.type, `supported values: ${TYPES.map((t) => `"${t}"`).join(", ")}`);
      for (const field of ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"]) {
        const list = item[field];
        if (list === undefined || list === null) continue;
        if (!isPlainObject(list)) {
          c.invalid(`${at}.${field}`, list, "must be a map of resource names to quantities");
          continue;
        }
        for (const [k, v] of Object.entries(list)) {
          const q = parseQuantity(v);
          if (!q) c.invalid(`${at}.${field}[${k}]`, v, "must be a quantity");
          else if (q.num < 0n) c.invalid(`${at}.${field}[${k}]`, v, "must be greater than or equal to 0");
        }
      }
    });
  },
  columns: [nameColumn, { name: "Created At", type: "date", cell: (o) => o.metadata.creationTimestamp }],
};
