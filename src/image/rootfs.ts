// A container's root filesystem: the overlay of its image's snapshots (unpacked on first
// use) under the container's own upper directory. This is what the engine calls.
import type { Digest } from "./digest.ts";
import { resolveImage } from "./images.ts";
import { ensureSnapshots, prepareContainerRootfsDurably, snapshotPlan, type PreparedRootfs } from "./snapshots.ts";
import type { ImageStore } from "./store.ts";

export type { PreparedRootfs };

/** Unpacks any missing layers of `imageRef`, creates the container's upper and work dirs and
 * returns the overlay lowerdir stack (top first). The engine mounts it with mountRootfs at
 * the bundle's `rootfs` before `create` (as test/image/interop.test.ts does with
 * gantry-runtime and runc: an OCI root is a directory, so the overlay is mounted first). */
export async function prepareRootfs(store: ImageStore, imageRef: string, containerId: string): Promise<PreparedRootfs> {
  const img = resolveImage(store, imageRef);
  const chain: Digest[] = await store.withLease(async (lease) => {
    // One lease write for the manifest and its layers (ensureSnapshots adds nothing new).
    lease.add(img.manifestDigest, ...snapshotPlan(img.manifest, img.config).chain);
    return ensureSnapshots(store, img.manifest, img.config, { lease });
  });
  return prepareContainerRootfsDurably(store, containerId, imageRef, chain, img.manifestDigest);
}
