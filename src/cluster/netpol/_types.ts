// The fields of NetworkPolicy (networking.k8s.io/v1), Pod and Namespace the enforcer reads.
import type { KubeObject } from "../client/index.ts";

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface PolicyPort {
  protocol?: Protocol;
  /** A number, or the name of a container port of the destination pod. */
  port?: number | string;
  endPort?: number;
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicy extends KubeObject {
  spec?: {
    podSelector?: LabelSelector;
    policyTypes?: ("Ingress" | "Egress")[];
    ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
  };
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; hostNetwork?: boolean; containers?: { ports?: { name?: string; containerPort: number; protocol?: Protocol }[] }[] };
  status?: { podIP?: string; phase?: string };
}

export const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true } as const;
export const NAMESPACES = { group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false } as const;
export const NETWORK_POLICIES = { group: "networking.k8s.io", version: "v1", resource: "networkpolicies", kind: "NetworkPolicy", namespaced: true } as const;
