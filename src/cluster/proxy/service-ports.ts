// What kube-proxy programs for one Service, decided from the Service and its EndpointSlices
// (pkg/proxy/servicechangetracker.go, endpointschangetracker.go, topology.go's
// CategorizeEndpoints), as plain data the nft renderer turns into rules. Pure.
import type { EndpointSlice, Protocol, Service } from "./_types.ts";

export interface ProxyEndpoint {
  ip: string;
  port: number;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ServicePortPlan {
  /** ns/name/protocol/portname, kube-proxy's ServicePortName with the protocol (its chain names). */
  id: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** ClientIP affinity's timeout, seconds (absent: no affinity). */
  affinitySeconds?: number;
  internalLocal: boolean;
  externalLocal: boolean;
  /** Endpoints for traffic under the Cluster policy (ready ones; serving-terminating ones if none is ready). */
  clusterEndpoints: ProxyEndpoint[];
  /** This node's endpoints, chosen the same way, for the Local policies. */
  localEndpoints: ProxyEndpoint[];
  /** Whether any endpoint exists at all (ready or not): decides reject vs drop. */
  hasAnyEndpoints: boolean;
  /** Only these sources (and the node itself) are sent to the endpoints; others fall through (node-local DNS). */
  onlyFrom?: string[];
}

const DEFAULT_AFFINITY_SECONDS = 10800;

/** Services the proxy leaves alone: no ClusterIP (headless), ExternalName (a DNS name only). */
export function isProxied(svc: Service): boolean {
  const ip = svc.spec?.clusterIP;
  return svc.spec?.type !== "ExternalName" && !!ip && ip !== "None" && /^\d+\.\d+\.\d+\.\d+$/.test(ip);
}

/** An endpoint's conditions as kube-proxy reads them: unset ready = true, unset serving = ready. */
function endpointsOf(slices: readonly EndpointSlice[], portName: string, protocol: Protocol): ProxyEndpoint[] {
  const seen = new Map<string, ProxyEndpoint>();
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== "IPv4") continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? "") === portName && (p.protocol ?? "TCP") === protocol);
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses[0];
      if (!ip) continue;
      const ready = ep.conditions?.ready ?? true;
      const e: ProxyEndpoint = { ip, port: port.port, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}), ready, serving: ep.conditions?.serving ?? ready, terminating: ep.conditions?.terminating ?? false };
      seen.set(`${ip}:${port.port}`, e);
    }
  }
  return [...seen.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** Ready endpoints; when none is, the serving ones being terminated (kube-proxy's fallback, so a rollout drains instead of refusing). */
function usable(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

export function planServicePorts(svc: Service, slices: readonly EndpointSlice[], nodeName: string): ServicePortPlan[] {
  if (!isProxied(svc)) return [];
  const spec = svc.spec!;
  const namespace = svc.metadata.namespace ?? "default";
  const name = svc.metadata.name ?? "";
  const hasNodePorts = spec.type === "NodePort" || spec.type === "LoadBalancer";
  const affinity = spec.sessionAffinity === "ClientIP" ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : undefined;
  return (spec.ports ?? []).map((sp) => {
    const protocol = sp.protocol ?? "TCP";
    const portName = sp.name ?? "";
    const all = endpointsOf(slices, portName, protocol);
    return {
      id: `${namespace}/${name}/${protocol.toLowerCase()}/${portName}`,
      namespace,
      name,
      portName,
      protocol,
      clusterIP: spec.clusterIP!,
      port: sp.port,
      ...(hasNodePorts && sp.nodePort ? { nodePort: sp.nodePort } : {}),
      ...(affinity !== undefined ? { affinitySeconds: affinity } : {}),
      internalLocal: spec.internalTrafficPolicy === "Local",
      externalLocal: hasNodePorts && spec.externalTrafficPolicy === "Local",
      clusterEndpoints: usable(all),
      localEndpoints: usable(all.filter((e) => e.nodeName === nodeName)),
      hasAnyEndpoints: all.length > 0,
    };
  });
}
