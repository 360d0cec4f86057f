// The kinds the node agent reads and writes.
import type { ResourceRef } from "../client/index.ts";

export const PODS: ResourceRef = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };
export const SERVICES: ResourceRef = { group: "", version: "v1", resource: "services", kind: "Service", namespaced: true };
export const NODES: ResourceRef = { group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false };
export const CONFIGMAPS: ResourceRef = { group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true };
export const SECRETS: ResourceRef = { group: "", version: "v1", resource: "secrets", kind: "Secret", namespaced: true };
export const SERVICE_ACCOUNTS: ResourceRef = { group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount", namespaced: true };
export const EVENTS: ResourceRef = { group: "", version: "v1", resource: "events", kind: "Event", namespaced: true };
export const LEASES: ResourceRef = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };

export const NODE_LEASE_NAMESPACE = "kube-node-lease";
export const PERSISTENTVOLUMECLAIMS: ResourceRef = { group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true };
export const PERSISTENTVOLUMES: ResourceRef = { group: "", version: "v1", resource: "persistentvolumes", kind: "PersistentVolume", namespaced: false };
