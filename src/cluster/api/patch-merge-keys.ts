// Strategic-merge metadata: which lists merge by which key. Taken from the
// `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy` markers that Kubernetes'
// published OpenAPI carries for these fields (k8s.io/api types' patchMergeKey tags).
// Keyed by field name; the same field name has the same strategy in every type we serve.

export interface ListStrategy {
  /** Merge by this key; absent means the list is replaced (atomic). */
  mergeKey?: string;
  /** Lists of scalars that merge as sets (finalizers). */
  mergeScalars?: boolean;
  /** retainKeys strategy on the object (volumes' sources, deployment strategy). */
}

export const listStrategies: Record<string, ListStrategy> = {
  containers: { mergeKey: "name" },
  initContainers: { mergeKey: "name" },
  ephemeralContainers: { mergeKey: "name" },
  env: { mergeKey: "name" },
  volumes: { mergeKey: "name" },
  volumeMounts: { mergeKey: "mountPath" },
  volumeDevices: { mergeKey: "devicePath" },
  imagePullSecrets: { mergeKey: "name" },
  hostAliases: { mergeKey: "ip" },
  tolerations: {},
  conditions: { mergeKey: "type" },
  ownerReferences: { mergeKey: "uid" },
  finalizers: { mergeScalars: true },
  resourceClaims: { mergeKey: "name" },
  topologySpreadConstraints: { mergeKey: "topologyKey" },
  addresses: {},
  taints: { mergeKey: "key" },
  secrets: { mergeKey: "name" },
};

/** Container ports merge by containerPort; Service ports by port. Decided by the parent path. */
export function strategyFor(path: string[]): ListStrategy {
  const field = path[path.length - 1] ?? "";
  if (field === "ports") {
    if (path.includes("containers") || path.includes("initContainers") || path.includes("ephemeralContainers")) return { mergeKey: "containerPort" };
    if (path[0] === "spec" && path.length === 2) return { mergeKey: "port" };
    return {};
  }
  if (field === "addresses" && path.includes("status")) return { mergeKey: "type" };
  return listStrategies[field] ?? {};
}
