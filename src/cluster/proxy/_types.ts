// The fields of Service and EndpointSlice the proxy reads (core/v1, discovery.k8s.io/v1).
import type { KubeObject } from "../client/index.ts";

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  port: number;
  nodePort?: number;
}

export interface Service extends KubeObject {
  spec?: {
    type?: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: ServicePort[];
    sessionAffinity?: "None" | "ClientIP";
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: "Cluster" | "Local";
    internalTrafficPolicy?: "Cluster" | "Local";
    externalName?: string;
  };
}

export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  hostname?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: SliceEndpoint[] | null;
  ports?: { name?: string; port?: number; protocol?: Protocol }[] | null;
}

export const SERVICES = { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true } as const;
export const ENDPOINT_SLICES = { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice", namespaced: true } as const;
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
