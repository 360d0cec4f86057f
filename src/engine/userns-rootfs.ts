// What a user-namespaced container's files need on the host: its overlay as an
// "idmapped-overlay" host mount (the image's layers shifted by the container's maps, shared
// and unchanged on disk), and its writable layer and /etc files owned by its remapped root,
// so the container's root can write them (dockerd chowns the same).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { GantryError } from "../common/errors.ts";
import { overlayOptions, type PreparedRootfs } from "../image/mod.ts";
import { mountOnHost, type IdmappedOverlayMount } from "../runtime/index.ts";
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

/** How image layers reach a remapped container: idmapped mounts, or (where the kernel refuses them) a chowned copy per range. */
export type LayerShift = "idmapped" | "copy";

/**
 * Whether this kernel builds an overlay over idmapped lower dirs (Linux 6.13+ with an
 * idmap-capable layer filesystem): tried once at daemon start on a scratch layer under
 * `scratch`. Any refusal answers "copy", with the helper's reason.
 */
export function probeLayerShift(scratch: string): { shift: LayerShift; reason?: string } {
  const [lower, upper, work, target] = ["lower", "upper", "work", "merged"].map((d) => join(scratch, d)) as [string, string, string, string];
  rmSync(scratch, { recursive: true, force: true });
  for (const d of [lower, upper, work, target]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const maps = [{ containerID: 0, hostID: 1, size: 1 }];
  try {
    mountOnHost([{ idmapped: true, target, lowerdirs: [lower], upperdir: upper, workdir: work, uidMappings: maps, gidMappings: maps }]);
    spawnSync("umount", [target]);
    return { shift: "idmapped" };
  } catch (err) {
    return { shift: "copy", reason: (err as Error).message };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The fallback: a copy of `lowerdir` with every owner shifted through the maps (ids the maps
 * lack become 65534, the kernel's overflow id), made once per layer and range under `dir`
 * and shared by every container with the same maps. A new range costs a full copy of the
 * image — that is why idmapped mounts are preferred.
 */
export function shiftedLayerCopy(lowerdir: string, u: ContainerUserns, dir: string): string {
  const key = `${basename(dirname(lowerdir))}-${u.UidMappings.map((m) => `${m.containerID}.${m.hostID}.${m.size}`).join("_")}-${u.GidMappings.map((m) => `${m.containerID}.${m.hostID}.${m.size}`).join("_")}`;
  const dest = join(dir, key);
  if (existsSync(dest)) return dest;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const cp = spawnSync("cp", ["-a", "--reflink=auto", lowerdir, tmp], { encoding: "utf8" });
  if (cp.status !== 0) throw new GantryError("SYSCALL_FAILED", `copying layer ${lowerdir} for a remapped container failed: ${cp.stderr.trim()}`, { path: lowerdir });
  const shift = (p: string) => {
    const st = lstatSync(p);
    chownShifted(p, st, u);
    if (st.isDirectory()) for (const e of readdirSync(p)) shift(join(p, e));
  };
  shift(tmp);
  renameSync(tmp, dest);
  return dest;
}

function chownShifted(p: string, st: Stats, u: ContainerUserns): void {
  lchownSync(p, hostIdOf(u.UidMappings, st.uid) ?? 65534, hostIdOf(u.GidMappings, st.gid) ?? 65534);
  // chown clears setuid/setgid: put the mode back (symlinks have none to keep).
  if (!st.isSymbolicLink() && st.mode & 0o6000) chmodSync(p, st.mode & 0o7777);
}

/**
 * The host mount of a remapped container's rootfs (target and unmount-on-exit are the
 * caller's): an idmapped overlay, or an ordinary one over shifted copies of its layers
 * (under `copies`, paths relative to it so long stacks fit mount(2)'s one-page options).
 */
export function remappedRootfsMount(rootfs: PreparedRootfs, u: ContainerUserns, shift: LayerShift, copies: string): Omit<IdmappedOverlayMount, "target"> | { source: string; type: string; data: string; cwd: string } {
  if (shift === "idmapped") return idmappedRootfs(rootfs, u);
  const lowers = rootfs.lowerdirs.map((l) => basename(shiftedLayerCopy(l, u, copies)));
  return { source: "overlay", type: "overlay", data: overlayOptions(lowers, relative(copies, rootfs.upperdir), relative(copies, rootfs.workdir)), cwd: copies };
}
