// The ResourceQuota admission plugin (plugin/pkg/admission/resourcequota), on create: what
// the new object uses is checked against every quota of its namespace that tracks it, and
// charged to their status.used before the object is stored. Each charge is a
// compare-and-swap of the quota (its resourceVersion), so two creates racing for the last
// unit cannot both win: the loser reads the quota again and is refused. A charge whose
// object then fails to be stored stays until the quota controller counts again, as in
// Kubernetes.
import {
  addValues,
  chargedNames,
  formatResourceList,
  formatValue,
  objectUsage,
  parseResourceList,
  quotaMatches,
  type QuotaUsage,
  type QuotaValue,
} from "../client/index.ts";
import { compareQuantities } from "../../common/quantity.ts";
import type { KubeObject } from "./objects.ts";
import { errForbidden } from "./status.ts";

/** How the plugin reads and writes quotas (the registry, with optimistic concurrency). */
export interface QuotaAccess {
  list(namespace: string): Promise<KubeObject[]>;
  /** Writes the quota's status from change(current), again on a conflict. */
  updateStatus(namespace: string, name: string, change: (cur: KubeObject) => KubeObject): Promise<void>;
}

/** Quota names that make each container state a request or a limit (the pod evaluator's Constraints). */
const MUST_SPECIFY = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

function containerNames(c: unknown): Set<string> {
  const res = ((c as { resources?: { requests?: object; limits?: object } }).resources ?? {}) as { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  const names = new Set<string>();
  for (const k of Object.keys(res.requests ?? {})) {
    names.add(`requests.${k}`);
    names.add(k);
  }
  for (const k of Object.keys(res.limits ?? {})) names.add(`limits.${k}`);
  return names;
}

/** "must specify limits.memory for: app; requests.cpu for: app,side", or undefined. */
function missingSpecifications(pod: KubeObject, tracked: string[]): string | undefined {
  const required = tracked.filter((n) => MUST_SPECIFY.includes(n));
  if (required.length === 0) return undefined;
  const spec = (pod.spec ?? {}) as { containers?: unknown[]; initContainers?: unknown[] };
  const missing = new Map<string, Set<string>>();
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const has = containerNames(c);
    for (const r of required) if (!has.has(r)) (missing.get(r) ?? missing.set(r, new Set()).get(r)!).add(String((c as { name?: string }).name));
  }
  if (missing.size === 0) return undefined;
  return `must specify ${[...missing.keys()].sort().map((r) => `${r} for: ${[...missing.get(r)!].sort().join(",")}`).join("; ")}`;
}

function mask(list: Map<string, QuotaValue>, names: Iterable<string>): Map<string, QuotaValue> {
  const out = new Map<string, QuotaValue>();
  for (const n of names) {
    const v = list.get(n);
    if (v) out.set(n, v);
  }
  return out;
}

interface Charge {
  quota: KubeObject;
  requested: Map<string, QuotaValue>;
}

/**
 * Refuses (403) or accepts one quota's charge for `usage`, given the quota as it is now:
 * returns the new status.used, or undefined when the quota does not track this object.
 */
function evaluate(quota: KubeObject, rt: { group: string; plural: string }, o: KubeObject, usage: QuotaUsage, forbidden: (why: string) => Error): Map<string, QuotaValue> | undefined {
  if (!quotaMatches(quota, rt.group, rt.plural, o)) return undefined;
  const status = (quota.status ?? {}) as { hard?: unknown; used?: unknown };
  const hard = parseResourceList(status.hard);
  const tracks = chargedNames(rt.group, rt.plural);
  const tracked = [...parseResourceList((quota.spec as { hard?: unknown } | undefined)?.hard).keys()].filter(tracks);
  if (tracked.length === 0) return undefined;
  const name = quota.metadata.name!;
  if (!rt.group && rt.plural === "pods") {
    const missing = missingSpecifications(o, tracked);
    if (missing) throw forbidden(`failed quota: ${name}: ${missing}`);
  }
  const used = parseResourceList(status.used);
  // The controller has not filled in status for what this object needs: refuse rather than guess.
  const unknown = tracked.filter((n) => !hard.has(n) || !used.has(n)).sort();
  if (unknown.length) throw forbidden(`status unknown for quota: ${name}, resources: ${unknown.join(",")}`);
  const requested = new Map([...mask(usage, tracked)].filter(([, v]) => v.q.num !== 0n));
  if (requested.size === 0) return undefined;
  const next = new Map(used);
  const exceeded: string[] = [];
  for (const [n, v] of requested) {
    const total = addValues(used.get(n), v);
    next.set(n, total);
    if (compareQuantities(total.q, hard.get(n)!.q) > 0) exceeded.push(n);
  }
  if (exceeded.length) {
    throw forbidden(`exceeded quota: ${name}, requested: ${formatResourceList(mask(requested, exceeded))}, used: ${formatResourceList(mask(used, exceeded))}, limited: ${formatResourceList(mask(hard, exceeded))}`);
  }
  return next;
}

/**
 * Checks a new object against its namespace's quotas and charges them (dryRun: checks only).
 * Throws Kubernetes' 403 (`exceeded quota: …`, `failed quota: …: must specify …`).
 */
export async function admitQuota(access: QuotaAccess, rt: { group: string; plural: string; namespaced: boolean }, o: KubeObject, nowMs: number, dryRun: boolean): Promise<void> {
  const ns = o.metadata.namespace;
  if (!rt.namespaced || !ns) return;
  const quotas = await access.list(ns);
  if (quotas.length === 0) return;
  const what = rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
  const forbidden = (why: string) => errForbidden(`${what} "${o.metadata.name ?? ""}" is forbidden: ${why}`, { name: o.metadata.name, kind: rt.plural });
  const usage = objectUsage(rt.group, rt.plural, o, nowMs);
  // Every quota is checked before any is charged, so one refusal charges none.
  const charges: Charge[] = [];
  for (const quota of quotas) {
    const next = evaluate(quota, rt, o, usage, forbidden);
    if (next) charges.push({ quota, requested: next });
  }
  if (dryRun) return;
  for (const { quota } of charges) {
    // Again on the quota as stored, inside the compare-and-swap: another create may have charged it meanwhile.
    await access.updateStatus(ns, quota.metadata.name!, (cur) => {
      const next = evaluate(cur, rt, o, usage, forbidden);
      if (!next) return cur;
      const used = Object.fromEntries([...next].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, formatValue(v)]));
      return { ...cur, status: { ...(cur.status ?? {}), used } };
    });
  }
}
