// The `filters` of GET /networks and GET /volumes as dockerd applies them (moby's
// api/types/filters Args.Match and MatchKVList, daemon/network/filter.go, volume/service):
// values of one key are alternatives, keys all apply; `name` and `id` match as Go regular
// expressions against the name or id (so "alpha" also finds "alphabet" and "^alpha$" only
// "alpha"), `label` takes "key" or "key=value", and a key a list does not know is refused
// with dockerd's "invalid filter". Pure: the routes hand it the Docker shapes.
import { invalidArgument } from "../common/errors.ts";

type Filters = Record<string, string[]>;

/** moby's Args.Match: the term equals the source, or matches it as a regular expression. */
function matchesTerm(term: string, source: string): boolean {
  if (term === source) return true;
  try {
    return new RegExp(term).test(source);
  } catch {
    return false;
  }
}

function anyMatch(filters: Filters, key: string, source: string): boolean {
  const terms = filters[key];
  return !terms?.length || terms.some((t) => matchesTerm(t, source));
}

/** moby's MatchKVList: each "key" must be a label, each "key=value" that label's value. */
function labelsMatch(filters: Filters, labels: Record<string, string> | null | undefined): boolean {
  return (filters.label ?? []).every((l) => {
    const eq = l.indexOf("=");
    const key = eq < 0 ? l : l.slice(0, eq);
    if (!labels || !(key in labels)) return false;
    return eq < 0 || labels[key] === l.slice(eq + 1);
  });
}

function checkKeys(filters: Filters, allowed: string[]): void {
  for (const k of Object.keys(filters)) if (!allowed.includes(k)) throw invalidArgument(`invalid filter '${k}'`);
}

function boolTerm(filters: Filters, key: string): boolean | undefined {
  const v = filters[key]?.[0];
  if (v === undefined) return undefined;
  if (["true", "1"].includes(v)) return true;
  if (["false", "0"].includes(v)) return false;
  throw invalidArgument(`invalid filter '${key}=${v}'`);
}

export interface ListedNetwork {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Labels?: Record<string, string> | null;
  Containers?: Record<string, unknown> | null;
}

const BUILTIN_NETWORKS = ["bridge", "host", "none"];

/** GET /networks?filters=: driver, id, label, name, scope, type (custom|builtin), dangling. */
export function filterNetworks<T extends ListedNetwork>(list: T[], filters: Filters): T[] {
  checkKeys(filters, ["driver", "id", "label", "name", "scope", "type", "dangling"]);
  for (const t of filters.type ?? []) if (t !== "custom" && t !== "builtin") throw invalidArgument(`invalid filter: 'type'='${t}'`);
  const dangling = boolTerm(filters, "dangling");
  return list.filter((n) => {
    const builtin = BUILTIN_NETWORKS.includes(n.Name);
    if (filters.type?.length && !filters.type.includes(builtin ? "builtin" : "custom")) return false;
    // dangling: custom networks no container is on (the builtin ones never are).
    if (dangling !== undefined && (!builtin && Object.keys(n.Containers ?? {}).length === 0) !== dangling) return false;
    return anyMatch(filters, "name", n.Name) && anyMatch(filters, "id", n.Id) && anyMatch(filters, "driver", n.Driver) && anyMatch(filters, "scope", n.Scope) && labelsMatch(filters, n.Labels);
  });
}

export interface ListedVolume {
  Name: string;
  Driver: string;
  Labels?: Record<string, string> | null;
  UsageData?: { RefCount: number } | null;
}

/** GET /volumes?filters=: name, driver, label, dangling. */
export function filterVolumes<T extends ListedVolume>(list: T[], filters: Filters): T[] {
  checkKeys(filters, ["name", "driver", "label", "dangling"]);
  const dangling = boolTerm(filters, "dangling");
  return list.filter(
    (v) =>
      (dangling === undefined || ((v.UsageData?.RefCount ?? 0) === 0) === dangling) &&
      anyMatch(filters, "name", v.Name) &&
      anyMatch(filters, "driver", v.Driver) &&
      labelsMatch(filters, v.Labels),
  );
}
