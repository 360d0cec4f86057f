// The resource types the API server serves: one row per kind, from which discovery,
// OpenAPI paths, storage keys and routing are all derived.
import { hpaV1ToV2, hpaV2ToV1 } from "./hpa-conversion.ts";
import type { KubeObject } from "./objects.ts";

export interface ResourceType {
  group: string; // "" for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Subresources besides the object itself. */
  status?: boolean;
  scale?: boolean;
  /** Connect-style subresources answered with a "not available" Status (no node agent yet). */
  connect?: string[];
  /** Subresources that act on the object, each served by its own handler (see server.ts). */
  actions?: Action[];
  /** The verbs served, when not all of ALL_VERBS (bindings are create-only). */
  verbs?: string[];
  /** The client-node model class that describes this kind's schema (OpenAPI). */
  model: string;
  /**
   * Another version of a kind stored as `storedVersion` (its row is the one the registry uses):
   * requests are converted on the way in and answers on the way out. Such a row serves only the
   * verbs listed (create, for autoscaling/v1 HorizontalPodAutoscalers).
   */
  conversion?: { storedVersion: string; toStored(o: KubeObject): KubeObject; fromStored(o: KubeObject): KubeObject };
}

/** A subresource that acts on its object: pods/binding, pods/eviction, namespaces/finalize. */
export interface Action {
  name: string;
  /** The kind the request carries, as discovery names it (group "" and version "v1" unless given). */
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
}

export const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

export const resourceTypes: ResourceType[] = [
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace", namespaced: false, shortNames: ["ns"], status: true, actions: [{ name: "finalize", kind: "Namespace", verbs: ["update"] }], model: "V1Namespace" },
  { group: "", version: "v1", kind: "Pod", plural: "pods", singular: "pod", namespaced: true, shortNames: ["po"], categories: ["all"], status: true, connect: ["log", "exec", "attach", "portforward"], actions: [{ name: "binding", kind: "Binding", verbs: ["create"] }, { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: ["create"] }], model: "V1Pod" },
  // The older way to bind: POST a Binding named after the pod to the namespace's bindings.
  { group: "", version: "v1", kind: "Binding", plural: "bindings", singular: "binding", namespaced: true, verbs: ["create"], model: "V1Binding" },
  { group: "", version: "v1", kind: "Service", plural: "services", singular: "service", namespaced: true, shortNames: ["svc"], categories: ["all"], status: true, model: "V1Service" },
  { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", singular: "endpoints", namespaced: true, shortNames: ["ep"], model: "V1Endpoints" },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", namespaced: true, shortNames: ["cm"], model: "V1ConfigMap" },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", singular: "secret", namespaced: true, model: "V1Secret" },
  { group: "", version: "v1", kind: "Node", plural: "nodes", singular: "node", namespaced: false, shortNames: ["no"], status: true, connect: ["proxy"], model: "V1Node" },
  { group: "", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true, shortNames: ["ev"], model: "CoreV1Event" },
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", singular: "serviceaccount", namespaced: true, shortNames: ["sa"], actions: [{ name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: ["create"] }], model: "V1ServiceAccount" },
  { group: "", version: "v1", kind: "ReplicationController", plural: "replicationcontrollers", singular: "replicationcontroller", namespaced: true, shortNames: ["rc"], categories: ["all"], status: true, scale: true, model: "V1ReplicationController" },
  { group: "", version: "v1", kind: "PersistentVolume", plural: "persistentvolumes", singular: "persistentvolume", namespaced: false, shortNames: ["pv"], status: true, model: "V1PersistentVolume" },
  { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", singular: "persistentvolumeclaim", namespaced: true, shortNames: ["pvc"], status: true, model: "V1PersistentVolumeClaim" },
  { group: "", version: "v1", kind: "LimitRange", plural: "limitranges", singular: "limitrange", namespaced: true, shortNames: ["limits"], model: "V1LimitRange" },
  { group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", singular: "resourcequota", namespaced: true, shortNames: ["quota"], status: true, model: "V1ResourceQuota" },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", singular: "deployment", namespaced: true, shortNames: ["deploy"], categories: ["all"], status: true, scale: true, model: "V1Deployment" },
  { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", singular: "replicaset", namespaced: true, shortNames: ["rs"], categories: ["all"], status: true, scale: true, model: "V1ReplicaSet" },
  { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", singular: "daemonset", namespaced: true, shortNames: ["ds"], categories: ["all"], status: true, model: "V1DaemonSet" },
  { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", singular: "statefulset", namespaced: true, shortNames: ["sts"], categories: ["all"], status: true, scale: true, model: "V1StatefulSet" },
  { group: "apps", version: "v1", kind: "ControllerRevision", plural: "controllerrevisions", singular: "controllerrevision", namespaced: true, model: "V1ControllerRevision" },
  { group: "autoscaling", version: "v2", kind: "HorizontalPodAutoscaler", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler", namespaced: true, shortNames: ["hpa"], categories: ["all"], status: true, model: "V2HorizontalPodAutoscaler" },
  // `kubectl autoscale` (1.32) creates autoscaling/v1 HPAs: accepted and stored as v2.
  { group: "autoscaling", version: "v1", kind: "HorizontalPodAutoscaler", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler", namespaced: true, shortNames: ["hpa"], categories: ["all"], verbs: ["create", "get", "list", "watch", "delete", "deletecollection"], model: "V1HorizontalPodAutoscaler", conversion: { storedVersion: "v2", toStored: hpaV1ToV2, fromStored: hpaV2ToV1 } },
  { group: "batch", version: "v1", kind: "Job", plural: "jobs", singular: "job", namespaced: true, categories: ["all"], status: true, model: "V1Job" },
  { group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", singular: "cronjob", namespaced: true, shortNames: ["cj"], categories: ["all"], status: true, model: "V1CronJob" },
  { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", singular: "networkpolicy", namespaced: true, shortNames: ["netpol"], model: "V1NetworkPolicy" },
  { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", singular: "lease", namespaced: true, model: "V1Lease" },
  { group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", singular: "poddisruptionbudget", namespaced: true, shortNames: ["pdb"], status: true, model: "V1PodDisruptionBudget" },
  { group: "scheduling.k8s.io", version: "v1", kind: "PriorityClass", plural: "priorityclasses", singular: "priorityclass", namespaced: false, shortNames: ["pc"], model: "V1PriorityClass" },
  { group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses", singular: "storageclass", namespaced: false, shortNames: ["sc"], model: "V1StorageClass" },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", singular: "clusterrole", namespaced: false, model: "V1ClusterRole" },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", singular: "clusterrolebinding", namespaced: false, model: "V1ClusterRoleBinding" },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", singular: "role", namespaced: true, model: "V1Role" },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", singular: "rolebinding", namespaced: true, model: "V1RoleBinding" },
  { group: "apiregistration.k8s.io", version: "v1", kind: "APIService", plural: "apiservices", singular: "apiservice", namespaced: false, categories: ["api-extensions"], status: true, model: "V1APIService" },
  { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", singular: "endpointslice", namespaced: true, model: "V1EndpointSlice" },
];

/**
 * metrics.k8s.io/v1beta1 (metrics-server's API, an aggregated API in Kubernetes): listed in
 * discovery beside the stored kinds so `kubectl top` finds it, but nothing is stored —
 * metrics-api.ts answers from the kubelets' summaries.
 */
export const METRICS_RESOURCE_TYPES: ResourceType[] = [
  { group: "metrics.k8s.io", version: "v1beta1", kind: "NodeMetrics", plural: "nodes", singular: "", namespaced: false, verbs: ["get", "list"], model: "" },
  { group: "metrics.k8s.io", version: "v1beta1", kind: "PodMetrics", plural: "pods", singular: "", namespaced: true, verbs: ["get", "list"], model: "" },
];

/**
 * The reviews (authentication.k8s.io, authorization.k8s.io): create-only kinds answered by
 * their handlers (reviews.ts, token-request.ts) and never stored, listed in discovery as
 * kube-apiserver lists them so `kubectl api-resources` and RESTMappers know them.
 */
export const REVIEW_RESOURCE_TYPES: ResourceType[] = [
  { group: "authentication.k8s.io", version: "v1", kind: "SelfSubjectReview", plural: "selfsubjectreviews", singular: "", namespaced: false, verbs: ["create"], model: "V1SelfSubjectReview" },
  { group: "authentication.k8s.io", version: "v1", kind: "TokenReview", plural: "tokenreviews", singular: "", namespaced: false, verbs: ["create"], model: "V1TokenReview" },
  { group: "authorization.k8s.io", version: "v1", kind: "LocalSubjectAccessReview", plural: "localsubjectaccessreviews", singular: "", namespaced: true, verbs: ["create"], model: "V1LocalSubjectAccessReview" },
  { group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview", plural: "selfsubjectaccessreviews", singular: "", namespaced: false, verbs: ["create"], model: "V1SelfSubjectAccessReview" },
  { group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectRulesReview", plural: "selfsubjectrulesreviews", singular: "", namespaced: false, verbs: ["create"], model: "V1SelfSubjectRulesReview" },
  { group: "authorization.k8s.io", version: "v1", kind: "SubjectAccessReview", plural: "subjectaccessreviews", singular: "", namespaced: false, verbs: ["create"], model: "V1SubjectAccessReview" },
];

export const verbsOf = (rt: ResourceType) => rt.verbs ?? ALL_VERBS;

export const apiVersionOf = (rt: ResourceType) => (rt.group ? `${rt.group}/${rt.version}` : rt.version);

/** The groups in discovery order (core first, as the real server lists them). */
export function groupVersions(types: ResourceType[] = resourceTypes): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const rt of types) seen.set(apiVersionOf(rt), { group: rt.group, version: rt.version });
  return [...seen.values()];
}

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return resourceTypes.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function findKind(apiVersion: string, kind: string): ResourceType | undefined {
  return resourceTypes.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** Storage key: /registry/<group or core>/<plural>/[<namespace>/]<name>. */
export function storageKey(rt: ResourceType, namespace: string | undefined, name: string): string {
  return `${storagePrefix(rt, namespace)}${name}`;
}

/** The prefix holding every object of a type, or those of one namespace. */
export function storagePrefix(rt: ResourceType, namespace: string | undefined): string {
  const base = `/registry/${rt.group || "core"}/${rt.plural}/`;
  return rt.namespaced && namespace ? `${base}${namespace}/` : base;
}
