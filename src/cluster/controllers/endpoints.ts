// The Endpoints controller (pkg/controller/endpoint): for every Service with a selector, an
// Endpoints object of the same name listing its pods' addresses — ready ones under
// `addresses`, others under `notReadyAddresses` (all ready with publishNotReadyAddresses) —
// with the ports each pod serves, repacked into Kubernetes' canonical subsets. Selector-less
// Services keep the Endpoints their users write; a deleted Service's Endpoints go.
import { BY_NAMESPACE, copyObject, isAlreadyExists, isNotFound, objectKey, type Informer } from "../client/index.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { EventRecorder } from "./_events.ts";
import { canonicalJson } from "./_pod-template-hash.ts";
import { isPodReady } from "./_pods.ts";
import { endpointPorts, followServicePods, hostnameFor, isHeadless, managesEndpoints, podIPv4, podRef, serviceSelects, shouldPodBeInEndpoints } from "./_service-endpoints.ts";
import { ENDPOINTS, PODS, SERVICES, type EndpointAddress, type EndpointPort, type Endpoints, type EndpointSubset, type Pod, type Service } from "./_types.ts";

export const HEADLESS_LABEL = "service.kubernetes.io/headless";

/** A port never served: stands for "no ports" in a headless Service's subsets (RepackSubsets' sentinel). */
const NO_PORT = "-";

const addressKey = (a: EndpointAddress) => `${a.ip}|${a.targetRef?.uid ?? ""}`;
const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Repacks per-pod subsets into the canonical layout (endpoints.RepackSubsets): each port is
 * mapped to the addresses that serve it (an address ready for it if ready anywhere), and
 * ports served by the same addresses share a subset. Addresses are sorted by IP, ports by
 * name and number, subsets by their first address.
 */
export function repackSubsets(subsets: EndpointSubset[]): EndpointSubset[] {
  const addresses = new Map<string, EndpointAddress>();
  const byPort = new Map<string, { port?: EndpointPort; ready: Map<string, boolean> }>();
  for (const s of subsets) {
    const ports = s.ports?.length ? s.ports : [undefined];
    for (const port of ports) {
      const pk = port ? canonicalJson(port) : NO_PORT;
      let entry = byPort.get(pk);
      if (!entry) byPort.set(pk, (entry = { port, ready: new Map() }));
      for (const [list, ready] of [[s.addresses ?? [], true], [s.notReadyAddresses ?? [], false]] as const) {
        for (const a of list) {
          const k = addressKey(a);
          if (!addresses.has(k)) addresses.set(k, a);
          if (!entry.ready.get(k)) entry.ready.set(k, ready);
        }
      }
    }
  }
  const groups = new Map<string, { ready: Map<string, boolean>; ports: EndpointPort[] }>();
  for (const { port, ready } of byPort.values()) {
    const gk = [...ready.entries()].map(([k, r]) => `${k}=${r}`).sort().join(",");
    let g = groups.get(gk);
    if (!g) groups.set(gk, (g = { ready, ports: [] }));
    if (port) g.ports.push(port);
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress) => compareStrings(a.ip, b.ip) || compareStrings(a.targetRef?.uid ?? "", b.targetRef?.uid ?? "");
  const out: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const s: EndpointSubset = {};
    const ready = [...g.ready].filter(([, r]) => r).map(([k]) => addresses.get(k)!).sort(byIp);
    const notReady = [...g.ready].filter(([, r]) => !r).map(([k]) => addresses.get(k)!).sort(byIp);
    if (ready.length) s.addresses = ready;
    if (notReady.length) s.notReadyAddresses = notReady;
    if (g.ports.length) s.ports = g.ports.sort((a, b) => compareStrings(a.name ?? "", b.name ?? "") || a.port - b.port || compareStrings(a.protocol ?? "", b.protocol ?? ""));
    out.push(s);
  }
  const first = (s: EndpointSubset) => (s.addresses ?? s.notReadyAddresses ?? [])[0]?.ip ?? "";
  return out.sort((a, b) => compareStrings(first(a), first(b)) || compareStrings(canonicalJson(a.ports ?? []), canonicalJson(b.ports ?? [])));
}

/** The subsets a Service's pods give it (syncService's loop, then RepackSubsets). */
export function computeEndpointSubsets(svc: Service, pods: Pod[]): EndpointSubset[] {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const subsets: EndpointSubset[] = [];
  for (const pod of pods) {
    if (!serviceSelects(svc, pod) || !shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const address: EndpointAddress = { ip: podIPv4(pod)!, nodeName: pod.spec?.nodeName ?? "", targetRef: podRef(pod) };
    const hostname = hostnameFor(pod, svc);
    if (hostname) address.hostname = hostname;
    const ready = publishNotReady || isPodReady(pod);
    const place = (ports: EndpointPort[] | undefined) => subsets.push(ready ? { addresses: [address], ports } : { notReadyAddresses: [address], ports });
    if ((svc.spec?.ports ?? []).length === 0) {
      // Only a headless Service may have no ports; its addresses are still published.
      if (isHeadless(svc)) place(undefined);
      continue;
    }
    for (const port of endpointPorts(svc, pod)) place([port]);
  }
  return repackSubsets(subsets);
}

/** The Endpoints a Service should have: its name, its labels (plus the headless label), the subsets. */
export function desiredEndpoints(svc: Service, pods: Pod[], current: Endpoints | undefined): Endpoints {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (isHeadless(svc)) labels[HEADLESS_LABEL] = "";
  else delete labels[HEADLESS_LABEL];
  const next: Endpoints = current ? copyObject(current) : { apiVersion: "v1", kind: "Endpoints", metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace } };
  next.metadata.labels = labels;
  if (Object.keys(labels).length === 0) delete next.metadata.labels;
  next.subsets = computeEndpointSubsets(svc, pods);
  return next;
}

/** Equal as far as the controller cares: labels and subsets. */
export function endpointsEqual(a: Endpoints, b: Endpoints): boolean {
  return canonicalJson(a.metadata.labels ?? {}) === canonicalJson(b.metadata.labels ?? {}) && canonicalJson(a.subsets ?? []) === canonicalJson(b.subsets ?? []);
}

export class EndpointsController extends Controller {
  private readonly services: Informer<Service>;
  private readonly pods: Informer<Pod>;
  private readonly endpoints: Informer<Endpoints>;
  private readonly events: EventRecorder;

  constructor(ctx: ControllerContext) {
    super("endpoints", ctx);
    this.events = new EventRecorder(ctx.client, "endpoint-controller", ctx.clock, ctx.log);
    this.services = ctx.informers.informerFor<Service>(SERVICES);
    this.pods = ctx.informers.informerFor<Pod>(PODS);
    this.endpoints = ctx.informers.informerFor<Endpoints>(ENDPOINTS);
    const enqueue = (o: { metadata: { namespace?: string; name?: string } }) => this.queue.add(objectKey(o));
    this.services.addHandlers({ onAdd: enqueue, onUpdate: (_o, s) => enqueue(s), onDelete: enqueue });
    // Someone else changed or removed an Endpoints object: put it back as the Service says.
    this.endpoints.addHandlers({ onUpdate: (_o, e) => enqueue(e), onDelete: enqueue });
    followServicePods(this.services, this.pods, (key) => this.queue.add(key));
  }

  async reconcile(key: string): Promise<void> {
    const svc = this.services.cache.get(key);
    const api = this.ctx.client.resource<Endpoints>(ENDPOINTS);
    if (!svc) {
      const cur = this.endpoints.cache.get(key);
      if (!cur) return;
      try {
        await api.delete(cur.metadata.namespace, cur.metadata.name!, { preconditions: { uid: cur.metadata.uid } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    if (!managesEndpoints(svc)) return;
    const current = this.endpoints.cache.get(key);
    const desired = desiredEndpoints(svc, this.pods.cache.byIndex(BY_NAMESPACE, svc.metadata.namespace ?? ""), current);
    if (current && endpointsEqual(current, desired)) return;
    try {
      if (current) await api.update(desired);
      else await api.create(svc.metadata.namespace, desired);
    } catch (err) {
      // Created meanwhile (the cache is behind): the event it brings syncs again.
      if (!current && isAlreadyExists(err)) return;
      const message = current ? `Failed to update endpoint ${key}: ${(err as Error).message}` : `Failed to create endpoint for service ${key}: ${(err as Error).message}`;
      await this.events.event(ENDPOINTS, desired, "Warning", current ? "FailedToUpdateEndpoint" : "FailedToCreateEndpoint", message);
      throw err;
    }
  }
}
