// The EndpointSlice controller (pkg/controller/endpointslice): for every Service with a
// selector, EndpointSlices `<svc>-<5 random>` (labels kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by, owned by the Service) holding at most 100
// endpoints each — one per pod with an address: ready/serving/terminating, targetRef,
// nodeName, zone, hostname — grouped by the ports the pods serve (named target ports differ
// per pod). Changes touch as few slices as they can: endpoints stay in their slice, empty
// slices go, new endpoints fill slices being written anyway before new slices are made. A
// Service with no endpoints keeps one empty placeholder slice, as upstream.
import { BY_LABEL, BY_NAMESPACE, BY_NODE_NAME, copyObject, isNotFound, objectKey, type Informer, type KubeObject } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { controllerOf, controllerRefTo } from "./_owner-refs.ts";
import { canonicalJson } from "./_pod-template-hash.ts";
import { isPodReady } from "./_pods.ts";
import { endpointPorts, followServicePods, hostnameFor, isHeadless, managesEndpoints, podIPv4, podRef, serviceSelects, shouldPodBeInEndpoints } from "./_service-endpoints.ts";
import { ENDPOINT_SLICES, NODES, PODS, SERVICES, type Endpoint, type EndpointPort, type EndpointSlice, type Pod, type Service } from "./_types.ts";
import { HEADLESS_LABEL } from "./endpoints.ts";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const MANAGED_BY = "endpointslice-controller.k8s.io";
export const MAX_ENDPOINTS_PER_SLICE = 100;
const ZONE_LABEL = "topology.kubernetes.io/zone";

export interface SliceChanges {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

interface DesiredEndpoints {
  /** Endpoints by the ports they serve (canonical JSON of the port list). */
  byPorts: Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>;
  /** Pods left out because their node is unknown: the Service is synced again later. */
  missingNodes: string[];
}

/** What a node tells an endpoint: that it exists, and its zone. */
export type NodeLookup = (name: string) => { labels?: Record<string, string> } | undefined;

/** One endpoint per pod the Service selects (podToEndpoint), by the ports the pod serves. */
export function desiredSliceEndpoints(svc: Service, pods: Pod[], node: NodeLookup): DesiredEndpoints {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const out: DesiredEndpoints = { byPorts: new Map(), missingNodes: [] };
  for (const pod of [...pods].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))) {
    if (!serviceSelects(svc, pod) || !shouldPodBeInEndpoints(pod, true)) continue;
    const nodeName = pod.spec?.nodeName ?? "";
    const n = node(nodeName);
    if (!n && !publishNotReady) {
      out.missingNodes.push(`${pod.metadata.name} on ${nodeName || "no node"}`);
      continue;
    }
    const serving = isPodReady(pod);
    const terminating = !!pod.metadata.deletionTimestamp;
    // "ready" is never true for a terminating pod unless the Service publishes not-ready addresses.
    const ep: Endpoint = { addresses: [podIPv4(pod)!], conditions: { ready: publishNotReady || (serving && !terminating), serving, terminating } };
    const hostname = hostnameFor(pod, svc);
    if (hostname) ep.hostname = hostname;
    ep.targetRef = podRef(pod);
    if (nodeName) ep.nodeName = nodeName;
    const zone = n?.labels?.[ZONE_LABEL];
    if (zone) ep.zone = zone;
    const ports = endpointPorts(svc, pod);
    const key = canonicalJson(ports);
    let group = out.byPorts.get(key);
    if (!group) out.byPorts.set(key, (group = { ports, endpoints: [] }));
    group.endpoints.push(ep);
  }
  return out;
}

/** The labels every slice of the Service carries (setEndpointSliceLabels). */
export function sliceLabels(svc: Service): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) if (k !== SERVICE_NAME_LABEL && k !== MANAGED_BY_LABEL) labels[k] = v;
  labels[SERVICE_NAME_LABEL] = svc.metadata.name!;
  labels[MANAGED_BY_LABEL] = MANAGED_BY;
  if (isHeadless(svc)) labels[HEADLESS_LABEL] = "";
  return labels;
}

function newSlice(svc: Service, ports: EndpointPort[] | null, endpoints: Endpoint[]): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { generateName: `${svc.metadata.name}-`, namespace: svc.metadata.namespace, labels: sliceLabels(svc), ownerReferences: [controllerRefTo(svc, SERVICES)] },
    addressType: "IPv4",
    endpoints,
    ports,
  };
}

const endpointKey = (e: Endpoint) => e.targetRef?.uid ?? e.addresses.join(",");
const portsKey = (s: EndpointSlice) => canonicalJson(s.ports ?? []);
const isPlaceholder = (s: EndpointSlice) => (s.endpoints ?? []).length === 0 && (s.ports ?? []).length === 0;

/**
 * The writes that turn `existing` (the Service's slices) into `desired` (reconcileByPortMapping,
 * simplified): endpoints keep their slice while they exist, changed ones are rewritten there,
 * slices left empty are deleted, and new endpoints go first into slices being updated anyway,
 * then — when fewer than a slice's worth remain — into the fullest unchanged slice with room,
 * else into new slices of at most MAX_ENDPOINTS_PER_SLICE.
 */
export function planEndpointSlices(svc: Service, desired: DesiredEndpoints, existing: EndpointSlice[]): SliceChanges {
  const changes: SliceChanges = { create: [], update: [], delete: [] };
  const labels = sliceLabels(svc);
  const mine = existing.filter((s) => controllerOf(s)?.uid === svc.metadata.uid);
  // Slices of an earlier Service of the same name, or hand-labelled ones this controller did not make.
  changes.delete.push(...existing.filter((s) => !mine.includes(s)));
  let kept = 0;
  for (const [key, group] of desired.byPorts) {
    const want = new Map(group.endpoints.map((e) => [endpointKey(e), e]));
    const slices = mine.filter((s) => portsKey(s) === key);
    const toUpdate: EndpointSlice[] = [];
    const unchanged: EndpointSlice[] = [];
    for (const slice of slices) {
      const next: Endpoint[] = [];
      let changed = canonicalJson(slice.metadata.labels ?? {}) !== canonicalJson(labels);
      for (const e of slice.endpoints ?? []) {
        const d = want.get(endpointKey(e));
        if (!d) {
          changed = true;
          continue;
        }
        want.delete(endpointKey(e));
        if (canonicalJson(d) !== canonicalJson(e)) changed = true;
        next.push(d);
      }
      const wasEmpty = (slice.endpoints ?? []).length === 0;
      if (next.length === 0 && !wasEmpty) {
        changes.delete.push(slice);
        continue;
      }
      const updated = copyObject(slice);
      updated.endpoints = next;
      updated.metadata.labels = labels;
      // An empty slice with these ports (a placeholder) is filled rather than replaced.
      if (changed || wasEmpty) toUpdate.push(updated);
      else unchanged.push(updated);
    }
    let rest = [...want.values()];
    for (const slice of toUpdate) {
      const room = MAX_ENDPOINTS_PER_SLICE - slice.endpoints!.length;
      if (room > 0 && rest.length) {
        slice.endpoints!.push(...rest.slice(0, room));
        rest = rest.slice(room);
      }
      if (slice.endpoints!.length) changes.update.push(slice);
      else changes.delete.push(slice);
    }
    while (rest.length) {
      // What is left fits in a slice not being written? Fill the fullest one that has the room (getSliceToFill).
      const fits = rest.length < MAX_ENDPOINTS_PER_SLICE ? unchanged.filter((u) => MAX_ENDPOINTS_PER_SLICE - u.endpoints!.length >= rest.length).sort((a, b) => b.endpoints!.length - a.endpoints!.length)[0] : undefined;
      if (fits) {
        unchanged.splice(unchanged.indexOf(fits), 1);
        fits.endpoints!.push(...rest);
        changes.update.push(fits);
        rest = [];
        break;
      }
      changes.create.push(newSlice(svc, group.ports, rest.slice(0, MAX_ENDPOINTS_PER_SLICE)));
      rest = rest.slice(MAX_ENDPOINTS_PER_SLICE);
    }
    kept += unchanged.length;
  }
  // Slices for ports no pod serves any more go; with no endpoints at all, one empty slice stays.
  const stale = mine.filter((s) => !desired.byPorts.has(portsKey(s)) && !changes.delete.includes(s));
  const anyEndpoints = changes.create.length + changes.update.length + kept > 0;
  const placeholder = anyEndpoints ? undefined : stale.find(isPlaceholder);
  for (const s of stale) if (s !== placeholder) changes.delete.push(s);
  if (!anyEndpoints && !placeholder) changes.create.push(newSlice(svc, null, []));
  if (placeholder && canonicalJson(placeholder.metadata.labels ?? {}) !== canonicalJson(labels)) {
    const relabelled = copyObject(placeholder);
    relabelled.metadata.labels = labels;
    changes.update.push(relabelled);
  }
  return changes;
}

export class EndpointSliceController extends Controller {
  private readonly services: Informer<Service>;
  private readonly pods: Informer<Pod>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly nodes: Informer<KubeObject>;

  constructor(ctx: ControllerContext) {
    super("endpointslice", ctx);
    this.services = ctx.informers.informerFor<Service>(SERVICES);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.slices = ctx.informers.informerFor<EndpointSlice>(ENDPOINT_SLICES);
    this.nodes = ctx.informers.informerFor(NODES);
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.services.addHandlers({ onAdd: enqueue, onUpdate: (_o, s) => enqueue(s), onDelete: enqueue });
    const sliceChanged = (s: EndpointSlice) => {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.queue.add(`${s.metadata.namespace}/${svc}`);
    };
    this.slices.addHandlers({ onAdd: sliceChanged, onUpdate: (_o, s) => sliceChanged(s), onDelete: sliceChanged });
    const podChanged = followServicePods(this.services, this.pods, (key) => this.queue.add(key));
    // A node that appears lets its pods in; its zone label is copied into their endpoints.
    const nodeChanged = (node: KubeObject) => {
      for (const pod of this.pods.cache.byIndex(BY_NODE_NAME, node.metadata.name!)) podChanged(pod);
    };
    this.nodes.addHandlers({ onAdd: nodeChanged, onUpdate: (_o, n) => nodeChanged(n) });
  }

  async reconcile(key: string): Promise<void> {
    const svc = this.services.cache.get(key);
    // A deleted Service's slices are the garbage collector's (they are owned by it).
    if (!svc || !managesEndpoints(svc) || svc.metadata.deletionTimestamp) return;
    const ns = svc.metadata.namespace ?? "";
    const existing = this.slices.cache.byIndex(BY_LABEL, `${SERVICE_NAME_LABEL}=${svc.metadata.name}`).filter((s) => s.metadata.namespace === ns && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
    const desired = desiredSliceEndpoints(svc, this.pods.cache.byIndex(BY_NAMESPACE, ns), (name) => this.nodes.cache.get(name)?.metadata);
    const changes = planEndpointSlices(svc, desired, existing);
    const api = this.ctx.client.resource<EndpointSlice>(ENDPOINT_SLICES);
    for (const s of changes.create) await api.create(ns, s);
    for (const s of changes.update) await api.update(s);
    for (const s of changes.delete) {
      try {
        await api.delete(ns, s.metadata.name!, { preconditions: { uid: s.metadata.uid } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (desired.missingNodes.length) throw new Error(`skipped pods whose node is not known yet: ${desired.missingNodes.join(", ")}`);
  }
}
