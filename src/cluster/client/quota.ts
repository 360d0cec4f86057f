// ResourceQuota accounting (pkg/quota/v1 and its evaluators), pure and shared: the API
// server's quota admission charges what a new object uses, and the quota controller sums
// what the objects in a namespace use, with the same functions. Usage is named as quota
// names it: "pods", "count/pods", "requests.cpu" (and its alias "cpu"), "limits.memory",
// "services.nodeports", "requests.storage", "count/deployments.apps", …
import { podQosClass } from "./pod-qos.ts";
import {
  addQuantities,
  compareQuantities,
  formatQuantity,
  isBinaryQuantity,
  parseQuantity,
  type Quantity,
} from "../../common/quantity.ts";
import type { KubeObject } from "./objects.ts";

/** A usage or limit value, with whether Kubernetes prints it with a binary suffix. */
export interface QuotaValue {
  q: Quantity;
  binary: boolean;
}

export type QuotaUsage = Map<string, QuotaValue>;

const ONE: QuotaValue = { q: { num: 1n, den: 1n }, binary: false };
const ZERO: QuotaValue = { q: { num: 0n, den: 1n }, binary: false };

/** The kinds quota names without `count/` (the "legacy" object counts) and what they are called. */
const LEGACY_COUNT_NAMES: Record<string, string> = {
  "/pods": "pods",
  "/services": "services",
  "/configmaps": "configmaps",
  "/secrets": "secrets",
  "/persistentvolumeclaims": "persistentvolumeclaims",
  "/replicationcontrollers": "replicationcontrollers",
  "/resourcequotas": "resourcequotas",
};

/** `count/<plural>` for the core group, `count/<plural>.<group>` for others. */
export function countResourceName(group: string, plural: string): string {
  return group ? `count/${plural}.${group}` : `count/${plural}`;
}

/** The group and plural a `count/…` or legacy count name is about, if it is one. */
export function countedResource(name: string): { group: string; plural: string } | undefined {
  for (const [key, legacy] of Object.entries(LEGACY_COUNT_NAMES)) {
    if (legacy === name) return { group: "", plural: key.slice(1) };
  }
  if (!name.startsWith("count/")) return undefined;
  const rest = name.slice("count/".length);
  const dot = rest.indexOf(".");
  return dot < 0 ? { group: "", plural: rest } : { group: rest.slice(dot + 1), plural: rest.slice(0, dot) };
}

function value(raw: unknown): QuotaValue | undefined {
  const q = parseQuantity(raw);
  return q ? { q, binary: isBinaryQuantity(raw) } : undefined;
}

/** Kubernetes' Quantity.Add: a zero receiver takes the other's format. */
export function addValues(a: QuotaValue | undefined, b: QuotaValue): QuotaValue {
  if (!a) return b;
  const binary = a.q.num === 0n ? b.binary : a.binary;
  return { q: addQuantities(a.q, b.q), binary };
}

export function formatValue(v: QuotaValue): string {
  return formatQuantity(v.q, v.binary);
}

function addInto(usage: QuotaUsage, name: string, v: QuotaValue): void {
  usage.set(name, addValues(usage.get(name), v));
}

type ResourceList = Record<string, unknown>;

function resourcesOf(c: unknown, field: "requests" | "limits"): ResourceList {
  const r = (c as { resources?: Record<string, unknown> } | undefined)?.resources?.[field];
  return r && typeof r === "object" ? (r as ResourceList) : {};
}

/**
 * A pod's requests or limits as the scheduler counts them (PodRequests/PodLimits): app
 * containers summed, each init container's own need if bigger, sidecars (init containers
 * with restartPolicy Always) added to everything after them, overhead on top.
 */
export function podResourceList(pod: KubeObject, field: "requests" | "limits"): Map<string, QuotaValue> {
  const spec = (pod.spec ?? {}) as { containers?: unknown[]; initContainers?: unknown[]; overhead?: ResourceList };
  const sum = new Map<string, QuotaValue>();
  for (const c of spec.containers ?? []) {
    for (const [k, raw] of Object.entries(resourcesOf(c, field))) {
      const v = value(raw);
      if (v) addInto(sum, k, v);
    }
  }
  const sidecars = new Map<string, QuotaValue>();
  const initMax = new Map<string, QuotaValue>();
  for (const c of spec.initContainers ?? []) {
    const own = new Map<string, QuotaValue>();
    for (const [k, raw] of Object.entries(resourcesOf(c, field))) {
      const v = value(raw);
      if (v) own.set(k, v);
    }
    if ((c as { restartPolicy?: string }).restartPolicy === "Always") {
      for (const [k, v] of own) {
        addInto(sum, k, v);
        addInto(sidecars, k, v);
      }
      continue;
    }
    for (const [k, v] of own) {
      const need = addValues(sidecars.get(k), v);
      const cur = initMax.get(k);
      if (!cur || compareQuantities(need.q, cur.q) > 0) initMax.set(k, need);
    }
  }
  for (const [k, v] of initMax) {
    const cur = sum.get(k);
    if (!cur || compareQuantities(v.q, cur.q) > 0) sum.set(k, v);
  }
  for (const [k, raw] of Object.entries(spec.overhead ?? {})) {
    const v = value(raw);
    if (v && sum.has(k)) addInto(sum, k, v);
  }
  return sum;
}

/**
 * Whether quota still counts a pod: not when it has finished, nor when it is being deleted
 * and its grace period has run out (QuotaV1Pod).
 */
export function podCountsForQuota(pod: KubeObject, nowMs: number): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase === "Succeeded" || phase === "Failed") return false;
  const deletion = pod.metadata.deletionTimestamp;
  if (deletion) {
    const grace = pod.metadata.deletionGracePeriodSeconds ?? 0;
    if (nowMs > Date.parse(deletion) + grace * 1000) return false;
  }
  return true;
}

/** What one pod uses: pods, count/pods, requests.* (and cpu, memory, ephemeral-storage), limits.*. */
function podUsage(pod: KubeObject, nowMs: number): QuotaUsage {
  const usage: QuotaUsage = new Map();
  if (!podCountsForQuota(pod, nowMs)) return usage;
  usage.set("pods", ONE);
  usage.set("count/pods", ONE);
  for (const [k, v] of podResourceList(pod, "requests")) {
    usage.set(`requests.${k}`, v);
    if (k === "cpu" || k === "memory" || k === "ephemeral-storage") usage.set(k, v);
  }
  for (const [k, v] of podResourceList(pod, "limits")) {
    if (k === "cpu" || k === "memory" || k === "ephemeral-storage" || k.startsWith("hugepages-")) usage.set(`limits.${k}`, v);
  }
  return usage;
}

function serviceUsage(svc: KubeObject): QuotaUsage {
  const usage: QuotaUsage = new Map([["services", ONE], ["count/services", ONE]]);
  const spec = (svc.spec ?? {}) as { type?: string; ports?: unknown[] };
  const ports = (spec.ports ?? []).length;
  if (spec.type === "LoadBalancer") usage.set("services.loadbalancers", ONE);
  if (spec.type === "NodePort" || spec.type === "LoadBalancer") usage.set("services.nodeports", { q: { num: BigInt(ports), den: 1n }, binary: false });
  else usage.set("services.nodeports", ZERO);
  if (spec.type !== "LoadBalancer") usage.set("services.loadbalancers", ZERO);
  return usage;
}

function claimUsage(pvc: KubeObject): QuotaUsage {
  const usage: QuotaUsage = new Map([["persistentvolumeclaims", ONE], ["count/persistentvolumeclaims", ONE]]);
  const spec = (pvc.spec ?? {}) as { storageClassName?: string; resources?: { requests?: ResourceList } };
  const storage = value(spec.resources?.requests?.storage);
  const cls = spec.storageClassName;
  if (cls) usage.set(`${cls}.storageclass.storage.k8s.io/persistentvolumeclaims`, ONE);
  if (storage) {
    usage.set("requests.storage", storage);
    if (cls) usage.set(`${cls}.storageclass.storage.k8s.io/requests.storage`, storage);
  }
  return usage;
}

/** Everything an object of a kind uses, by quota resource name (an object always counts once under count/…). */
export function objectUsage(group: string, plural: string, o: KubeObject, nowMs: number): QuotaUsage {
  let usage: QuotaUsage;
  if (!group && plural === "pods") return podUsage(o, nowMs);
  if (!group && plural === "services") usage = serviceUsage(o);
  else if (!group && plural === "persistentvolumeclaims") usage = claimUsage(o);
  else usage = new Map();
  const legacy = LEGACY_COUNT_NAMES[`${group}/${plural}`];
  if (legacy) usage.set(legacy, ONE);
  usage.set(countResourceName(group, plural), ONE);
  return usage;
}

interface ScopedResourceSelectorRequirement {
  scopeName?: string;
  operator?: string;
  values?: string[];
}

/** The scopes a quota asks for (spec.scopes and spec.scopeSelector), as requirements. */
function quotaScopes(quota: KubeObject): ScopedResourceSelectorRequirement[] {
  const spec = (quota.spec ?? {}) as { scopes?: string[]; scopeSelector?: { matchExpressions?: ScopedResourceSelectorRequirement[] } };
  return [...(spec.scopes ?? []).map((s) => ({ scopeName: s, operator: "Exists" })), ...(spec.scopeSelector?.matchExpressions ?? [])];
}

function isBestEffort(pod: KubeObject): boolean {
  return podQosClass((pod.spec ?? {}) as Parameters<typeof podQosClass>[0]) === "BestEffort";
}

function podMatchesScope(pod: KubeObject, s: ScopedResourceSelectorRequirement): boolean {
  const spec = (pod.spec ?? {}) as { activeDeadlineSeconds?: number; priorityClassName?: string };
  switch (s.scopeName) {
    case "Terminating":
      return typeof spec.activeDeadlineSeconds === "number" && spec.activeDeadlineSeconds >= 0;
    case "NotTerminating":
      return !(typeof spec.activeDeadlineSeconds === "number" && spec.activeDeadlineSeconds >= 0);
    case "BestEffort":
      return isBestEffort(pod);
    case "NotBestEffort":
      return !isBestEffort(pod);
    case "PriorityClass": {
      const name = spec.priorityClassName ?? "";
      const values = s.values ?? [];
      if (s.operator === "In") return values.includes(name);
      if (s.operator === "NotIn") return !values.includes(name);
      if (s.operator === "Exists") return name !== "";
      if (s.operator === "DoesNotExist") return name === "";
      return false;
    }
    default:
      return false;
  }
}

/** Whether a quota counts this object: quotas with scopes count pods only, and those that match every scope. */
export function quotaMatches(quota: KubeObject, group: string, plural: string, o: KubeObject): boolean {
  const scopes = quotaScopes(quota);
  if (scopes.length === 0) return true;
  if (group || plural !== "pods") return false;
  return scopes.every((s) => podMatchesScope(o, s));
}

/** The resource names a quota limits (spec.hard). */
export function quotaHard(quota: KubeObject): Map<string, QuotaValue> {
  const hard = new Map<string, QuotaValue>();
  const raw = ((quota.spec ?? {}) as { hard?: ResourceList }).hard ?? {};
  for (const [k, v] of Object.entries(raw)) {
    const parsed = value(v);
    if (parsed) hard.set(k, parsed);
  }
  return hard;
}

/** The resource names a kind's objects are charged under (what a quota must limit to care about the kind). */
export function chargedNames(group: string, plural: string): (name: string) => boolean {
  if (!group && plural === "pods") return (n) => n === "pods" || n === "count/pods" || n === "cpu" || n === "memory" || n === "ephemeral-storage" || n.startsWith("requests.") || n.startsWith("limits.");
  if (!group && plural === "services") return (n) => n === "services" || n === "count/services" || n === "services.loadbalancers" || n === "services.nodeports";
  if (!group && plural === "persistentvolumeclaims") return (n) => n === "persistentvolumeclaims" || n === "count/persistentvolumeclaims" || n === "requests.storage" || n.includes(".storageclass.storage.k8s.io/");
  const legacy = LEGACY_COUNT_NAMES[`${group}/${plural}`];
  const count = countResourceName(group, plural);
  return (n) => n === count || n === legacy;
}

/** `status.used` for a quota from the objects it may count (each with its kind). */
export function computeQuotaUsed(quota: KubeObject, objects: { group: string; plural: string; items: readonly KubeObject[] }[], nowMs: number): Record<string, string> {
  const hard = quotaHard(quota);
  const used = new Map<string, QuotaValue>();
  for (const name of hard.keys()) used.set(name, ZERO);
  for (const { group, plural, items } of objects) {
    for (const o of items) {
      if (!quotaMatches(quota, group, plural, o)) continue;
      for (const [name, v] of objectUsage(group, plural, o, nowMs)) {
        if (hard.has(name)) used.set(name, addValues(used.get(name), v));
      }
    }
  }
  return Object.fromEntries([...used].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, formatValue(v)]));
}

/** Kubernetes' prettyPrint of a resource list: `pods=1,requests.cpu=500m`, names sorted. */
export function formatResourceList(list: Map<string, QuotaValue>): string {
  return [...list].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${formatValue(v)}`).join(",");
}

/** A resource list (status.used, spec.hard) parsed into values. */
export function parseResourceList(raw: unknown): Map<string, QuotaValue> {
  const out = new Map<string, QuotaValue>();
  if (!raw || typeof raw !== "object") return out;
  for (const [k, v] of Object.entries(raw as ResourceList)) {
    const parsed = value(v);
    if (parsed) out.set(k, parsed);
  }
  return out;
}
