// The LimitRanger admission plugin (plugin/pkg/admission/limitranger), on create: every
// LimitRange in the pod's namespace first fills in the default requests and limits its
// Container items name (noting what it set in the `kubernetes.io/limit-ranger` annotation),
// then the pod is checked against min, max and maxLimitRequestRatio per container and for
// the pod as a whole; claims against their PersistentVolumeClaim items. Violations are one
// 403 with Kubernetes' messages.
import { compareQuantities, parseQuantity, quantityMilliValue, type Quantity } from "../../common/quantity.ts";
import { formatValue, podResourceList } from "../client/index.ts";
import { isPlainObject, type KubeObject } from "./objects.ts";
import { errForbidden } from "./status.ts";

type ResourceList = Record<string, unknown>;
interface LimitRangeItem {
  type?: string;
  max?: ResourceList;
  min?: ResourceList;
  default?: ResourceList;
  defaultRequest?: ResourceList;
  maxLimitRequestRatio?: ResourceList;
}

const ANNOTATION = "kubernetes.io/limit-ranger";

function itemsOf(ranges: readonly KubeObject[], type: string): LimitRangeItem[] {
  return ranges.flatMap((r) => (((r.spec ?? {}) as { limits?: LimitRangeItem[] }).limits ?? []).filter((i) => i?.type === type));
}

const listOf = (v: unknown): ResourceList => (isPlainObject(v) ? v : {});

/** Fills in a new pod's requests and limits from the namespace's Container defaults. */
export function applyLimitRangeDefaults(pod: KubeObject, ranges: readonly KubeObject[]): void {
  const items = itemsOf(ranges, "Container");
  if (items.length === 0) return;
  const requests: ResourceList = {};
  const limits: ResourceList = {};
  for (const item of items) {
    Object.assign(requests, listOf(item.defaultRequest));
    Object.assign(limits, listOf(item.default));
  }
  const spec = (pod.spec ?? {}) as { containers?: unknown[]; initContainers?: unknown[] };
  const notes: string[] = [];
  const merge = (c: unknown, kind: string) => {
    if (!isPlainObject(c)) return;
    if (!isPlainObject(c.resources)) c.resources = {};
    const res = c.resources as Record<string, unknown>;
    const setInto = (field: "requests" | "limits", defaults: ResourceList): string[] => {
      if (!isPlainObject(res[field])) res[field] = {};
      const target = res[field] as ResourceList;
      const set: string[] = [];
      for (const [k, v] of Object.entries(defaults)) {
        if (target[k] === undefined) {
          target[k] = v;
          set.push(k);
        }
      }
      if (Object.keys(target).length === 0) delete res[field];
      return set.sort();
    };
    const setLimits = setInto("limits", limits);
    const setRequests = setInto("requests", requests);
    if (setRequests.length) notes.push(`${setRequests.join(", ")} request for ${kind} ${String(c.name)}`);
    if (setLimits.length) notes.push(`${setLimits.join(", ")} limit for ${kind} ${String(c.name)}`);
  };
  for (const c of spec.initContainers ?? []) merge(c, "init container");
  for (const c of spec.containers ?? []) merge(c, "container");
  if (notes.length) {
    pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [ANNOTATION]: `LimitRanger plugin set: ${notes.join("; ")}` };
  }
}

const qty = (v: unknown): Quantity | undefined => parseQuantity(v);
const show = (v: unknown): string => String(v);

function minConstraint(limitType: string, name: string, enforced: unknown, request: ResourceList, limit: ResourceList): string | undefined {
  const e = qty(enforced)!;
  const req = qty(request[name]);
  const lim = qty(limit[name]);
  if (!req) return `minimum ${name} usage per ${limitType} is ${show(enforced)}.  No request is specified`;
  if (compareQuantities(req, e) < 0) return `minimum ${name} usage per ${limitType} is ${show(enforced)}, but request is ${show(request[name])}`;
  if (lim && compareQuantities(lim, e) < 0) return `minimum ${name} usage per ${limitType} is ${show(enforced)}, but limit is ${show(limit[name])}`;
  return undefined;
}

function maxConstraint(limitType: string, name: string, enforced: unknown, request: ResourceList, limit: ResourceList): string | undefined {
  const e = qty(enforced)!;
  const req = qty(request[name]);
  const lim = qty(limit[name]);
  if (!lim) return `maximum ${name} usage per ${limitType} is ${show(enforced)}.  No limit is specified`;
  if (compareQuantities(lim, e) > 0) return `maximum ${name} usage per ${limitType} is ${show(enforced)}, but limit is ${show(limit[name])}`;
  if (req && compareQuantities(req, e) > 0) return `maximum ${name} usage per ${limitType} is ${show(enforced)}, but request is ${show(request[name])}`;
  return undefined;
}

/** Claims have no limits: a max bounds the request (maxRequestConstraint). */
function maxRequestConstraint(limitType: string, name: string, enforced: unknown, request: ResourceList): string | undefined {
  const req = qty(request[name]);
  if (!req) return `maximum ${name} usage per ${limitType} is ${show(enforced)}.  No request is specified`;
  if (compareQuantities(req, qty(enforced)!) > 0) return `maximum ${name} usage per ${limitType} is ${show(enforced)}, but request is ${show(request[name])}`;
  return undefined;
}

function ratioConstraint(limitType: string, name: string, enforced: unknown, request: ResourceList, limit: ResourceList): string | undefined {
  const req = quantityMilliValue(request[name]);
  const lim = quantityMilliValue(limit[name]);
  if (request[name] === undefined || req === 0) return `${name} max limit to request ratio per ${limitType} is ${show(enforced)}, but no request is specified or request is 0`;
  if (limit[name] === undefined || lim === 0) return `${name} max limit to request ratio per ${limitType} is ${show(enforced)}, but no limit is specified or limit is 0`;
  const ratio = lim / req;
  if (ratio * 1000 > quantityMilliValue(enforced)) return `${name} max limit to request ratio per ${limitType} is ${show(enforced)}, but provided ratio is ${ratio.toFixed(6)}`;
  return undefined;
}

function checkBounds(item: LimitRangeItem, limitType: string, request: ResourceList, limit: ResourceList, errs: string[]): void {
  const push = (e: string | undefined) => e && errs.push(e);
  for (const [k, v] of Object.entries(listOf(item.min))) if (qty(v)) push(minConstraint(limitType, k, v, request, limit));
  for (const [k, v] of Object.entries(listOf(item.max))) if (qty(v)) push(maxConstraint(limitType, k, v, request, limit));
  for (const [k, v] of Object.entries(listOf(item.maxLimitRequestRatio))) if (qty(v)) push(ratioConstraint(limitType, k, v, request, limit));
}

/** A pod's requests or limits summed as quota and the scheduler sum them (quantities as Kubernetes prints them). */
function podList(pod: KubeObject, field: "requests" | "limits"): ResourceList {
  return Object.fromEntries([...podResourceList(pod, field)].map(([k, v]) => [k, formatValue(v)]));
}

/** The LimitRanger's validation of a new pod or claim; the refusal is a 403 naming every violation. */
export function checkLimitRanges(rt: { plural: string; group: string }, o: KubeObject, ranges: readonly KubeObject[]): void {
  const errs: string[] = [];
  if (!rt.group && rt.plural === "pods") {
    const spec = (o.spec ?? {}) as { containers?: unknown[]; initContainers?: unknown[] };
    for (const item of itemsOf(ranges, "Container")) {
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        const res = (isPlainObject(c) && isPlainObject(c.resources) ? c.resources : {}) as Record<string, unknown>;
        checkBounds(item, "Container", listOf(res.requests), listOf(res.limits), errs);
      }
    }
    const podItems = itemsOf(ranges, "Pod");
    if (podItems.length) {
      const requests = podList(o, "requests");
      const limits = podList(o, "limits");
      for (const item of podItems) checkBounds(item, "Pod", requests, limits, errs);
    }
  } else if (!rt.group && rt.plural === "persistentvolumeclaims") {
    const requests = listOf(((o.spec ?? {}) as { resources?: { requests?: unknown } }).resources?.requests);
    for (const item of itemsOf(ranges, "PersistentVolumeClaim")) {
      for (const [k, v] of Object.entries(listOf(item.min))) if (qty(v)) errs.push(...[minConstraint("PersistentVolumeClaim", k, v, requests, {})].filter((e): e is string => !!e));
      for (const [k, v] of Object.entries(listOf(item.max))) if (qty(v)) errs.push(...[maxRequestConstraint("PersistentVolumeClaim", k, v, requests)].filter((e): e is string => !!e));
    }
  }
  if (errs.length === 0) return;
  const what = rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
  // utilerrors.NewAggregate: one error alone, several in brackets.
  const message = errs.length === 1 ? errs[0]! : `[${errs.join(", ")}]`;
  throw errForbidden(`${what} "${o.metadata.name ?? ""}" is forbidden: ${message}`, { name: o.metadata.name, kind: rt.plural });
}

/** Whether the LimitRanger looks at a kind at all. */
export function limitRangerApplies(rt: { plural: string; group: string }): boolean {
  return !rt.group && (rt.plural === "pods" || rt.plural === "persistentvolumeclaims");
}
