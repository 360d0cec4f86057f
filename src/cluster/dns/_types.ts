// The fields of Service and EndpointSlice cluster DNS reads (core/v1, discovery.k8s.io/v1).
import type { KubeObject } from "../client/index.ts";

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    ports?: { name?: string; protocol?: string; port: number }[];
    externalName?: string;
  };
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; hostname?: string; conditions?: { ready?: boolean } }[] | null;
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
}

export const SERVICES = { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true } as const;
export const ENDPOINT_SLICES = { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice", namespaced: true } as const;
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
