// Docker's argv conventions for the container verbs, as pure functions: repeated flags,
// integers, sizes, `--filter k=v` and `--since 10m`.
import { invalidArgument } from "../../../common/errors.ts";
import type { Filters } from "../../../engine/index.ts";
import { parseSize } from "../../../volume/index.ts";

/** commander's accumulator for a repeatable flag. */
export const collect = (v: string, prev: string[]) => [...prev, v];

export function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid argument "${v}" for "${flag}": not an integer`);
  return n;
}

/** Docker's RAMInBytes (1024-based k, m, g, t; b optional), and -1 for "unlimited". */
export function parseBytes(text: string, flag: string): number {
  if (text === "-1") return -1;
  return parseSize(text, `size for ${flag}`);
}

/** `--filter name=value`, repeatable, into the filters parameter. */
export function parseFilters(list: string[]): Filters {
  const f: Filters = {};
  for (const s of list) {
    const eq = s.indexOf("=");
    if (eq < 0) throw invalidArgument(`bad format of filter (expected name=value): ${s}`);
    (f[s.slice(0, eq)] ??= []).push(s.slice(eq + 1));
  }
  return f;
}

/** `--since`: a duration before now (10s, 5m, 2h), a date, or a unix time passed through. */
export function sinceParam(text: string, now = Date.now()): string {
  const m = /^(\d+)([smh])$/.exec(text);
  if (m) return String(Math.floor(now / 1000) - Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"]);
  return String(Math.floor(Date.parse(text) / 1000) || text);
}
