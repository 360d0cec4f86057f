// What the Endpoints and EndpointSlice controllers share (pkg/controller/util/endpoint,
// pkg/api/v1/pod): which pods back a Service, on which port each serves each Service port
// (named target ports resolved per pod), and a pod's address.
import { BY_NAMESPACE, objectKey, type Informer } from "../client/index.ts";
import { selectorMatches } from "./_label-selector.ts";
import { isPodTerminal } from "./_pods.ts";
import type { EndpointPort, ObjectReference, Pod, Service, ServicePort } from "./_types.ts";

/** The Services these controllers fill: a selector, and not ExternalName. */
export function managesEndpoints(svc: Service): boolean {
  return !!svc.spec?.selector && svc.spec.type !== "ExternalName";
}

export function serviceSelects(svc: Service, pod: Pod): boolean {
  return pod.metadata.namespace === svc.metadata.namespace && managesEndpoints(svc) && selectorMatches({ matchLabels: svc.spec!.selector }, pod.metadata.labels);
}

export const isHeadless = (svc: Service) => svc.spec?.clusterIP === "None";

/** The pod's IPv4 address (Services here are single-stack IPv4), if it has one. */
export function podIPv4(pod: Pod): string | undefined {
  const ips = [...(pod.status?.podIPs ?? []).map((p) => p.ip), pod.status?.podIP].filter((ip): ip is string => !!ip);
  return ips.find((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
}

/**
 * Whether the pod is listed at all (ShouldPodBeInEndpoints): not finished, has an address,
 * and — unless terminating pods are wanted — not being deleted.
 */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (!podIPv4(pod)) return false;
  return includeTerminating || !pod.metadata.deletionTimestamp;
}

/** A pod's hostname is published for the Service its subdomain names (ShouldSetHostname). */
export function hostnameFor(pod: Pod, svc: Service): string | undefined {
  const h = pod.spec?.hostname;
  return h && pod.spec?.subdomain === svc.metadata.name && pod.metadata.namespace === svc.metadata.namespace ? h : undefined;
}

/**
 * The pod port a Service port reaches (podutil.FindPort): a number as it is, a name looked
 * up among the pod's container ports of the same protocol; undefined when the pod has none.
 */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = sp.protocol ?? "TCP";
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? "TCP") === protocol) return p.containerPort;
  }
  return undefined;
}

/** The endpoint ports the pod offers for the Service, in the Service's order (a port it cannot resolve is left out). */
export function endpointPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? "", port, protocol: sp.protocol ?? "TCP" };
    if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

export function podRef(pod: Pod): ObjectReference {
  return { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name!, uid: pod.metadata.uid };
}

/**
 * Queues the Services that select a pod whenever it comes, changes (under its old labels
 * too) or goes (GetPodServiceMemberships); returns the function that queues them for one pod.
 */
export function followServicePods(services: Informer<Service>, pods: Informer<Pod>, enqueue: (serviceKey: string) => void): (pod: Pod) => void {
  const podChanged = (pod: Pod) => {
    for (const svc of services.cache.byIndex(BY_NAMESPACE, pod.metadata.namespace ?? "")) if (serviceSelects(svc, pod)) enqueue(objectKey(svc));
  };
  pods.addHandlers({
    onAdd: podChanged,
    onUpdate: (old, pod) => {
      podChanged(pod);
      if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(pod.metadata.labels ?? {})) podChanged(old);
    },
    onDelete: podChanged,
  });
  return podChanged;
}
