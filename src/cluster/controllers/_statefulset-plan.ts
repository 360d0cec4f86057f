// What a StatefulSet asks of the cluster, decided without I/O (pkg/controller/statefulset,
// stateful_set_control.go): pods named `<set>-<ordinal>` with hostname and subdomain, each
// with its claims `<template>-<set>-<ordinal>` made first and kept after the pod; under
// OrderedReady one step at a time (up in order, each waiting for the one before to be
// running and ready; down from the highest ordinal), under Parallel all at once; a rolling
// update deletes the highest old pod at or above the partition, one at a time.
import type { KubeObject } from "../client/index.ts";
import { computeTemplateHash } from "./_pod-template-hash.ts";
import { controllerRefTo } from "./_owner-refs.ts";
import { isPodAvailable, isPodReady } from "./_pods.ts";
import { STATEFUL_SETS, type Pod, type PodTemplate, type StatefulSet, type StatefulSetStatus } from "./_types.ts";

export const REVISION_LABEL = "controller-revision-hash";
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";

/** The revision name of the set's template: `<set>-<hash>`, as its ControllerRevision is named. */
export function statefulSetRevision(sts: StatefulSet): string {
  return `${sts.metadata.name}-${computeTemplateHash(sts.spec.template, sts.status?.collisionCount)}`;
}

/** The ordinal in a pod's name `<set>-<n>`, or undefined when the name is not of that shape. */
export function ordinalOf(sts: StatefulSet, pod: KubeObject): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const name = pod.metadata.name ?? "";
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

export const claimName = (template: KubeObject, sts: StatefulSet, ordinal: number) => `${template.metadata.name}-${sts.metadata.name}-${ordinal}`;

/** The claims a pod of this ordinal uses (getPersistentVolumeClaims): labelled with the set's selector labels, owned by no one, so they outlive pod and set. */
export function claimsFor(sts: StatefulSet, ordinal: number): KubeObject[] {
  return (sts.spec.volumeClaimTemplates ?? []).map((t) => ({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claimName(t, sts, ordinal), namespace: sts.metadata.namespace, labels: { ...(t.metadata.labels ?? {}), ...(sts.spec.selector?.matchLabels ?? {}) } },
    spec: structuredClone((t as { spec?: unknown }).spec ?? {}),
  }));
}

/** The pod for an ordinal (newVersionedStatefulSetPod): identity, revision label, and its claims mounted in place of the template's volumes of the same name. */
export function statefulPodFor(sts: StatefulSet, ordinal: number, revision: string, template: PodTemplate | undefined = sts.spec.template): Pod {
  const t = template ?? {};
  const name = `${sts.metadata.name}-${ordinal}`;
  const spec = structuredClone(t.spec ?? {});
  const claimVolumes = (sts.spec.volumeClaimTemplates ?? []).map((c) => ({ name: c.metadata.name!, persistentVolumeClaim: { claimName: claimName(c, sts, ordinal) } }));
  const volumes = ((spec.volumes as { name: string }[] | undefined) ?? []).filter((v) => !claimVolumes.some((c) => c.name === v.name));
  if (claimVolumes.length || volumes.length) spec.volumes = [...volumes, ...claimVolumes];
  spec.hostname = name;
  if (sts.spec.serviceName) spec.subdomain = sts.spec.serviceName;
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: sts.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), [REVISION_LABEL]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
      ownerReferences: [controllerRefTo(sts, STATEFUL_SETS)],
    },
    spec,
  };
  if (t.metadata?.annotations) pod.metadata.annotations = { ...t.metadata.annotations };
  return pod;
}

const isRunningAndReady = (p: Pod) => p.status?.phase === "Running" && isPodReady(p);
const terminating = (p: Pod) => !!p.metadata.deletionTimestamp;

/** A create names the revision the pod is made from: the current one below a rolling update's partition, else the update one. */
export type StatefulSetAction = { type: "create"; ordinal: number; revision: string; claims: KubeObject[] } | { type: "delete"; pod: Pod };

export interface StatefulSetPlan {
  actions: StatefulSetAction[];
  status: StatefulSetStatus;
}

/**
 * One sync's worth of work for the set: `pods` are the pods it owns (terminating ones too),
 * `claims` the names of the claims that exist in its namespace.
 */
export function planStatefulSet(sts: StatefulSet, pods: Pod[], claims: Set<string>, updateRevision: string, now: number): StatefulSetPlan {
  const replicas = sts.spec.replicas ?? 1;
  const monotonic = (sts.spec.podManagementPolicy ?? "OrderedReady") !== "Parallel";
  const minReady = sts.spec.minReadySeconds ?? 0;
  const currentRevision = sts.status?.currentRevision || updateRevision;
  const byOrdinal = new Map<number, Pod>();
  for (const p of pods) {
    const o = ordinalOf(sts, p);
    if (o !== undefined) byOrdinal.set(o, p);
  }

  const status: StatefulSetStatus = { replicas: 0, readyReplicas: 0, currentReplicas: 0, updatedReplicas: 0, availableReplicas: 0, currentRevision, updateRevision, observedGeneration: sts.metadata.generation };
  for (const p of byOrdinal.values()) {
    status.replicas++;
    if (isRunningAndReady(p)) {
      status.readyReplicas!++;
      if (isPodAvailable(p, minReady, now)) status.availableReplicas!++;
    }
    if (terminating(p)) continue;
    const rev = p.metadata.labels?.[REVISION_LABEL];
    if (rev === currentRevision) status.currentReplicas!++;
    if (rev === updateRevision) status.updatedReplicas!++;
  }
  const rolling = (sts.spec.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate";
  // The rollout is complete: the update revision becomes the current one (completeRollingUpdate).
  if (rolling && status.updatedReplicas === status.replicas && status.readyReplicas === status.replicas && status.replicas === replicas) {
    status.currentRevision = updateRevision;
    status.currentReplicas = status.updatedReplicas;
  }
  if (sts.status?.collisionCount !== undefined) status.collisionCount = sts.status.collisionCount;
  const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  const revisionFor = (ordinal: number) => (rolling && ordinal < partition ? currentRevision : updateRevision);
  return { actions: stepsFor(sts, byOrdinal, claims, updateRevision, revisionFor, replicas, monotonic, rolling), status };
}

function stepsFor(sts: StatefulSet, byOrdinal: Map<number, Pod>, claims: Set<string>, updateRevision: string, revisionFor: (ordinal: number) => string, replicas: number, monotonic: boolean, rolling: boolean): StatefulSetAction[] {
  const actions: StatefulSetAction[] = [];
  const missingClaims = (ordinal: number) => claimsFor(sts, ordinal).filter((c) => !claims.has(c.metadata.name!));
  for (let i = 0; i < replicas; i++) {
    const pod = byOrdinal.get(i);
    if (!pod) {
      actions.push({ type: "create", ordinal: i, revision: revisionFor(i), claims: missingClaims(i) });
      if (monotonic) return actions;
      continue;
    }
    if (pod.status?.phase === "Failed" && !terminating(pod)) {
      actions.push({ type: "delete", pod });
      if (monotonic) return actions;
      continue;
    }
    if (monotonic && (terminating(pod) || !isRunningAndReady(pod))) return actions;
  }
  if (!monotonic && actions.length) return actions;
  // Down from the highest ordinal; one at a time under OrderedReady.
  const condemned = [...byOrdinal.entries()].filter(([o]) => o >= replicas).sort(([a], [b]) => b - a);
  for (const [, pod] of condemned) {
    if (terminating(pod)) {
      if (monotonic) return actions;
      continue;
    }
    actions.push({ type: "delete", pod });
    if (monotonic) return actions;
  }
  if (actions.length || !rolling) return actions;
  const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  for (let i = replicas - 1; i >= partition; i--) {
    const pod = byOrdinal.get(i);
    if (!pod) continue;
    if (pod.metadata.labels?.[REVISION_LABEL] !== updateRevision && !terminating(pod)) return [{ type: "delete", pod }];
    if (!isRunningAndReady(pod)) return actions;
  }
  return actions;
}
