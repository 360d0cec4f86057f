// Controller references (pkg/controller/controller_ref_manager.go): an object has at most one
// owner with controller=true. A controller claims the objects its selector matches: it keeps
// its own, adopts orphans, releases its own that stopped matching, and leaves objects other
// controllers own alone. The decision is pure; the patches that carry it out are below.
import { isNotFound, type Client, type KubeObject, type OwnerReference, type ResourceRef } from "../client/index.ts";
import type { LabelSelector } from "./_types.ts";
import { selectorMatches } from "./_label-selector.ts";

export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** The reference an owner puts on what it controls (metav1.NewControllerRef). */
export function controllerRefTo(owner: KubeObject, ref: ResourceRef): OwnerReference {
  return {
    apiVersion: ref.group ? `${ref.group}/${ref.version}` : ref.version,
    kind: ref.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export interface Claim<T extends KubeObject> {
  /** Already ours and still matching. */
  owned: T[];
  /** Orphans that match: ours once adopted. */
  adopt: T[];
  /** Ours but no longer matching: to be released. */
  release: T[];
}

/**
 * Sorts candidates into what the owner keeps, adopts and releases (ClaimObject). An owner
 * being deleted adopts nothing and releases nothing; an object being deleted is not adopted.
 */
export function classifyForClaim<T extends KubeObject>(owner: KubeObject, selector: LabelSelector | undefined, candidates: T[]): Claim<T> {
  const out: Claim<T> = { owned: [], adopt: [], release: [] };
  const ownerDeleting = !!owner.metadata.deletionTimestamp;
  for (const obj of candidates) {
    const ref = controllerOf(obj);
    const matches = selectorMatches(selector, obj.metadata.labels);
    if (ref) {
      if (ref.uid !== owner.metadata.uid) continue;
      if (matches) out.owned.push(obj);
      else if (!ownerDeleting) out.release.push(obj);
      continue;
    }
    if (ownerDeleting || !matches || obj.metadata.deletionTimestamp) continue;
    out.adopt.push(obj);
  }
  return out;
}

/** The strategic merge patch that adds the owner's controller reference (uid pinned, so a new object of the same name is not touched). */
export function adoptPatch(obj: KubeObject, ownerRef: OwnerReference): unknown {
  return { metadata: { ownerReferences: [ownerRef], uid: obj.metadata.uid } };
}

/** The strategic merge patch that removes one owner's reference. */
export function releasePatch(obj: KubeObject, ownerUid: string): unknown {
  return { metadata: { ownerReferences: [{ $patch: "delete", uid: ownerUid }], uid: obj.metadata.uid } };
}

/**
 * Claims `candidates` (objects of kind `dependents` in the owner's namespace) for the owner
 * (of kind `ownerKind`): adopts matching orphans and releases non-matching ones through
 * patches, and returns what the owner then controls. Adoption is checked against the live
 * owner, not the cache: an owner being deleted must not adopt (RecheckDeletionTimestamp).
 */
export async function claimDependents<T extends KubeObject>(client: Client, dependents: ResourceRef, owner: KubeObject, ownerKind: ResourceRef, selector: LabelSelector | undefined, candidates: T[]): Promise<T[]> {
  const claim = classifyForClaim(owner, selector, candidates);
  const objects = client.resource<T>(dependents);
  const ns = owner.metadata.namespace;
  const ignoringGone = async (write: () => Promise<void>) => {
    try {
      await write();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
  if (claim.adopt.length && (await ownerStillAdopts(client, owner, ownerKind))) {
    const ref = controllerRefTo(owner, ownerKind);
    for (const obj of claim.adopt) {
      await ignoringGone(async () => {
        claim.owned.push(await objects.patch(ns, obj.metadata.name!, "strategic", adoptPatch(obj, ref)));
      });
    }
  }
  for (const obj of claim.release) {
    await ignoringGone(async () => {
      await objects.patch(ns, obj.metadata.name!, "strategic", releasePatch(obj, owner.metadata.uid!));
    });
  }
  return claim.owned;
}

async function ownerStillAdopts(client: Client, owner: KubeObject, ownerKind: ResourceRef): Promise<boolean> {
  try {
    const live = await client.resource(ownerKind).get(owner.metadata.namespace, owner.metadata.name!);
    return live.metadata.uid === owner.metadata.uid && !live.metadata.deletionTimestamp;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
