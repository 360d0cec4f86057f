// ControllerRevisions (pkg/controller/history) for DaemonSets and StatefulSets: one per
// template the set has had, named `<set>-<hash>`, owned by the set, holding the template as
// the patch `kubectl rollout history --revision|undo` applies; the current template's
// revision is always the highest number (an old one coming back is renumbered); revisions
// beyond spec.revisionHistoryLimit that nothing uses are pruned.
import { BY_OWNER_UID, isAlreadyExists, isConflict, isNotFound, type Client, type Informer, type KubeObject, type ResourceRef } from "../client/index.ts";
import { controllerOf, controllerRefTo } from "./_owner-refs.ts";
import type { PodTemplate } from "./_types.ts";

export const CONTROLLER_REVISIONS: ResourceRef = { group: "apps", version: "v1", resource: "controllerrevisions", kind: "ControllerRevision", namespaced: true };

export interface ControllerRevision extends KubeObject {
  data?: unknown;
  revision: number;
}

/** The set's own revisions in the cache. */
export function revisionsOf(informer: Informer<ControllerRevision>, owner: KubeObject): ControllerRevision[] {
  return informer.cache.byIndex(BY_OWNER_UID, owner.metadata.uid!).filter((r) => controllerOf(r)?.uid === owner.metadata.uid);
}

/** Makes sure the revision `name` for `template` exists and carries the highest number. */
export async function ensureRevision(client: Client, owner: KubeObject, ownerKind: ResourceRef, name: string, template: PodTemplate | undefined, hashLabel: Record<string, string>, existing: ControllerRevision[]): Promise<void> {
  const max = existing.reduce((m, r) => Math.max(m, r.revision ?? 0), 0);
  const revisions = client.resource<ControllerRevision>(CONTROLLER_REVISIONS);
  const mine = existing.find((r) => r.metadata.name === name);
  if (mine) {
    if (mine.revision !== max || existing.filter((r) => r.revision === max).length > 1) await revisions.patch(owner.metadata.namespace, name, "merge", { revision: max + 1 });
    return;
  }
  const cr: ControllerRevision = {
    apiVersion: "apps/v1",
    kind: "ControllerRevision",
    metadata: { name, namespace: owner.metadata.namespace, labels: { ...(template?.metadata?.labels ?? {}), ...hashLabel }, ownerReferences: [controllerRefTo(owner, ownerKind)] },
    data: { spec: { template: { ...structuredClone(template ?? {}), $patch: "replace" } } },
    revision: max + 1,
  };
  try {
    await revisions.create(owner.metadata.namespace, cr);
  } catch (err) {
    // Made by an earlier sync the cache has not shown yet.
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * History cleanup (DaemonSet cleanupHistory, StatefulSet truncateHistory): of the revisions no
 * live pod and no named revision uses, all but the newest `limit` (spec.revisionHistoryLimit)
 * are deleted, oldest first, each pinned to its uid.
 */
export async function pruneRevisions(client: Client, existing: ControllerRevision[], limit: number, live: Set<string>): Promise<void> {
  const history = existing.filter((r) => !live.has(r.metadata.name!)).sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
  const excess = history.length - Math.max(0, limit);
  const revisions = client.resource<ControllerRevision>(CONTROLLER_REVISIONS);
  for (const r of history.slice(0, Math.max(0, excess))) {
    try {
      await revisions.delete(r.metadata.namespace, r.metadata.name!, { preconditions: { uid: r.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
