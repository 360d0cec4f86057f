// What a user-namespaced container's files need on the host: its overlay as an
// "idmapped-overlay" host mount (the image's layers shifted by the container's maps, shared
// and unchanged on disk), and its writable layer and /etc files owned by its remapped root,
// so the container's root can write them (dockerd chowns the same).
import { chmodSync, chownSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { PreparedRootfs } from "../image/mod.ts";
import type { IdmappedOverlayMount } from "../runtime/index.ts";
import { hostIdOf, type ContainerUserns } from "./userns.ts";

/** The remapped root's host uid and gid. */
export function remappedRoot(u: ContainerUserns): { uid: number; gid: number } {
  return { uid: hostIdOf(u.UidMappings, 0) ?? 0, gid: hostIdOf(u.GidMappings, 0) ?? 0 };
}

/** The container's overlay with idmapped lower dirs (the monitor mounts it at start). */
export function idmappedRootfs(rootfs: PreparedRootfs, u: ContainerUserns): Omit<IdmappedOverlayMount, "target"> {
  return { idmapped: true, lowerdirs: rootfs.lowerdirs, upperdir: rootfs.upperdir, workdir: rootfs.workdir, uidMappings: u.UidMappings, gidMappings: u.GidMappings };
}

/** The writable layer's root belongs to the remapped root (the merged root shows the upper dir's owner). */
export function giveToRemappedRoot(rootfs: PreparedRootfs, u: ContainerUserns): void {
  const { uid, gid } = remappedRoot(u);
  chownSync(rootfs.upperdir, uid, gid);
}

/** hostname, hosts and resolv.conf (bind-mounted into the container) belong to its root. */
export function giveEtcFilesToRemappedRoot(dir: string, u: ContainerUserns): void {
  const { uid, gid } = remappedRoot(u);
  for (const f of ["hostname", "hosts", "resolv.conf"]) chownSync(join(dir, f), uid, gid);
}

/**
 * The directories a remapped container's process resolves paths through on the host (its
 * rootfs mount point, its /etc files, volumes) become traversable by others (0711, no
 * listing): the remapped root is no owner of them and has no capability over host-owned
 * inodes. dockerd opens /var/lib/docker to 0711 the same way. The image layers stay 0700:
 * only the monitor, as the host's root, reaches them.
 */
export function openPathsToRemappedRoots(root: string): void {
  for (const dir of [root, join(root, "containers"), join(root, "engine"), join(root, "engine", "containers"), join(root, "volumes")]) {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o011) !== 0o011) chmodSync(dir, mode | 0o011);
  }
}
