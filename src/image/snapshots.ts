// Snapshots: one directory per layer, keyed by chain ID, holding only that layer's diff
// (overlay-format whiteouts), so an image's root filesystem is the overlay stack of its
// chain and images that share base layers share the same directories on disk.
//   snapshots/<chainid hex>/fs            the layer's files (an overlay lowerdir)
//   snapshots/<chainid hex>/snapshot.json {chainId, diffId, parent, layer}
//   snapshots/.tmp-<pid>-<random>/        being unpacked; renamed into place when complete,
//                                         so a snapshot directory is either whole or absent
//   containers/<id>/{upper,work,merged}   a container's writable layer (prepareRootfs)
// Mounting: `mount -t overlay` through mount(8), run by the image layer at the bundle's
// rootfs before the runtime starts. mount(8) is the simplest robust path from Node (no
// mount(2) binding) and reports errors in words; the same option string also works as an
// OCI mount `{type: "overlay", source: "overlay", options: [...]}` for non-root paths.
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, closeSync, readdirSync, renameSync, rmSync, utimesSync } from "node:fs";
import { join, relative } from "node:path";
import { spawn } from "node:child_process";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { writeJsonAtomic, readJsonIfExists, writeFileAtomicDurably } from "../common/atomic-file.ts";
import { GantryError } from "../common/errors.ts";
import { removeTree } from "../common/remove-tree.ts";
import { chainIds, hexOf, type Digest } from "./digest.ts";
import type { Descriptor, ImageConfig, Manifest } from "./spec.ts";
import type { ImageStore, Lease } from "./store.ts";
import { unpackLayer, type UnpackOptions } from "./unpack.ts";

export interface SnapshotInfo {
  chainId: Digest;
  diffId: Digest;
  parent?: Digest;
  layer?: Digest;
}

export function snapshotDir(store: ImageStore, chainId: Digest): string {
  return join(store.root, "snapshots", hexOf(chainId));
}

export function snapshotExists(store: ImageStore, chainId: Digest): boolean {
  return existsSync(join(snapshotDir(store, chainId), "snapshot.json"));
}

export function listSnapshots(store: ImageStore): Digest[] {
  return readdirSync(join(store.root, "snapshots"))
    .filter((n) => /^[a-f0-9]{64}$/.test(n))
    .map((n) => `sha256:${n}` as Digest);
}

/** Opens a file that holds a tar, gzip'd tar or zstd'd tar (told apart by magic bytes, which is
 * more robust than trusting media types) as a stream of the uncompressed tar. */
export function openTarStream(path: string): Readable {
  const magic = Buffer.alloc(4);
  const fd = openSync(path, "r");
  let n: number;
  try {
    n = readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (n >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    const gunzip = createGunzip();
    raw.on("error", (e) => gunzip.destroy(e));
    return raw.pipe(gunzip);
  }
  if (n === 4 && magic.readUInt32LE(0) === 0xfd2fb528) {
    // Node 20 has no zstd; the zstd(1) tool decompresses it.
    const child = spawn("zstd", ["-dcq", path], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", (e) => child.stdout.destroy(new GantryError("KERNEL_FEATURE_MISSING", `zstd layer ${path}: ${e.message}`, { hint: "install zstd" })));
    child.on("close", (code) => {
      if (code !== 0) child.stdout.destroy(new GantryError("INVALID_LAYER", `zstd could not decompress ${path}: ${err.trim()}`));
    });
    raw.destroy();
    return child.stdout;
  }
  return raw;
}

export interface SnapshotPlan {
  diffIds: Digest[];
  chain: Digest[];
}

/** DiffIDs and chain IDs of an image, checked to match its manifest's layers. */
export function snapshotPlan(manifest: Manifest, config: ImageConfig): SnapshotPlan {
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (diffIds.length !== manifest.layers.length) {
    throw new GantryError("INVALID_SPEC", `image config lists ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  }
  return { diffIds, chain: chainIds(diffIds) };
}

/** Unpacks layer `i` into its snapshot unless it exists. Layers are unpacked each into its
 * own directory, so they can be unpacked in any order or at once (a pull unpacks each as
 * soon as it is downloaded). The DiffID is checked against the image config. */
export async function ensureLayerSnapshot(store: ImageStore, manifest: Manifest, plan: SnapshotPlan, i: number, opts: UnpackOptions = {}): Promise<Digest> {
  const chainId = plan.chain[i] as Digest;
  if (snapshotExists(store, chainId)) {
    // Reused: touched so that a garbage collection already running keeps it (gc.ts).
    const now = new Date();
    utimesSync(snapshotDir(store, chainId), now, now);
    return chainId;
  }
  const layer = manifest.layers[i] as Descriptor;
  const tmp = join(store.root, "snapshots", `.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(join(tmp, "fs"), { recursive: true, mode: 0o755 });
  try {
    const result = await unpackLayer(openTarStream(store.blobPath(layer.digest as Digest)), join(tmp, "fs"), opts);
    if (result.diffId !== plan.diffIds[i]) {
      throw new GantryError("DIGEST_MISMATCH", `layer ${layer.digest} unpacks to ${result.diffId}, the image config says ${plan.diffIds[i]}`);
    }
    const info: SnapshotInfo = { chainId, diffId: result.diffId, parent: i > 0 ? plan.chain[i - 1] : undefined, layer: layer.digest as Digest };
    writeJsonAtomic(join(tmp, "snapshot.json"), info, 0o644);
    try {
      renameSync(tmp, snapshotDir(store, chainId));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      // A concurrent pull unpacked the same layer first: its snapshot is as good as ours.
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return chainId;
}

/** Unpacks every layer of an image that has no snapshot yet (up to 3 at once); returns
 * the chain IDs, base first. */
export async function ensureSnapshots(
  store: ImageStore,
  manifest: Manifest,
  config: ImageConfig,
  opts: UnpackOptions & { lease?: Lease; onLayer?: (index: number, chainId: Digest) => void } = {},
): Promise<Digest[]> {
  const plan = snapshotPlan(manifest, config);
  opts.lease?.add(...plan.chain);
  let next = 0;
  const worker = async () => {
    while (next < plan.chain.length) {
      const i = next++;
      const chainId = await ensureLayerSnapshot(store, manifest, plan, i, opts);
      opts.onLayer?.(i, chainId); // (not inline: `?.()` would skip evaluating the argument)
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return plan.chain;
}

export interface PreparedRootfs {
  /** Overlay lower directories, top layer first (overlayfs order). */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** Where mountRootfs mounts it by default. */
  merged: string;
  /** The `-o` option string for `mount -t overlay`. */
  options: string;
}

export interface ContainerRootfsRecord {
  containerId: string;
  image: string;
  /** The image's manifest: kept by GC while the container exists (commit needs its layers). */
  manifestDigest?: Digest;
  chainIds: Digest[];
}

export function containerDir(store: ImageStore, containerId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(containerId)) {
    throw new GantryError("INVALID_ARGUMENT", `invalid container id "${containerId}"`);
  }
  return join(store.root, "containers", containerId);
}

/** Creates a container's upper and work directories over an image's snapshots (which must
 * exist: ensureSnapshots) and records the chain so garbage collection keeps it. */
export function prepareContainerRootfs(store: ImageStore, containerId: string, image: string, chain: Digest[], manifestDigest?: Digest): PreparedRootfs {
  const { dir, record } = makeContainerRootfsDirs(store, containerId, image, chain, manifestDigest);
  writeJsonAtomic(join(dir, "rootfs.json"), record, 0o644);
  return rootfsOf(store, dir, record);
}

/** prepareContainerRootfs with rootfs.json's fsync on the thread pool, not the caller's event loop. */
export async function prepareContainerRootfsDurably(store: ImageStore, containerId: string, image: string, chain: Digest[], manifestDigest?: Digest): Promise<PreparedRootfs> {
  const { dir, record } = makeContainerRootfsDirs(store, containerId, image, chain, manifestDigest);
  await writeFileAtomicDurably(join(dir, "rootfs.json"), JSON.stringify(record, null, 2) + "\n", 0o644);
  return rootfsOf(store, dir, record);
}

function makeContainerRootfsDirs(store: ImageStore, containerId: string, image: string, chain: Digest[], manifestDigest?: Digest): { dir: string; record: ContainerRootfsRecord } {
  const dir = containerDir(store, containerId);
  for (const c of chain) {
    if (!snapshotExists(store, c)) throw new GantryError("NOT_FOUND", `snapshot ${c} of image ${image} is missing`, { hint: "pull the image again" });
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 }); // first, so the others are one mkdir(2) each
  mkdirSync(join(dir, "upper"), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, "work"), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, "merged"), { recursive: true, mode: 0o755 });
  // overlayfs needs at least one lower directory; an image with no layers gets an empty one.
  if (chain.length === 0) mkdirSync(join(dir, "empty"), { recursive: true, mode: 0o755 });
  return { dir, record: { containerId, image, manifestDigest, chainIds: chain } };
}

export function overlayOptions(lowerdirs: string[], upperdir: string, workdir: string): string {
  return `lowerdir=${lowerdirs.join(":")},upperdir=${upperdir},workdir=${workdir}`;
}

export function readContainerRootfs(store: ImageStore, containerId: string): ContainerRootfsRecord | undefined {
  return readJsonIfExists<ContainerRootfsRecord>(join(containerDir(store, containerId), "rootfs.json"));
}

export function listContainerRootfs(store: ImageStore): ContainerRootfsRecord[] {
  const out: ContainerRootfsRecord[] = [];
  for (const id of readdirSync(join(store.root, "containers"))) {
    if (id.startsWith(".")) continue; // being removed (discardContainerRootfs)
    const r = readJsonIfExists<ContainerRootfsRecord>(join(store.root, "containers", id, "rootfs.json"));
    if (r) out.push(r);
  }
  return out;
}

/** A prepared rootfs as mount(2) takes it. The kernel limits mount data to one page, so long
 * lowerdir lists become relative to the snapshots directory (the mount runs there), as
 * Docker's overlay2 does with its short links. */
export function overlayMountData(store: ImageStore, rootfs: PreparedRootfs): { data: string; cwd?: string } {
  if (rootfs.options.length <= 3500) return { data: rootfs.options };
  const cwd = join(store.root, "snapshots");
  const rel = (p: string) => relative(cwd, p);
  return { data: overlayOptions(rootfs.lowerdirs.map(rel), rel(rootfs.upperdir), rel(rootfs.workdir)), cwd };
}

/** Mounts the overlay at `target` (default: the container's merged dir) with mount(8). */
export function mountRootfs(store: ImageStore, rootfs: PreparedRootfs, target = rootfs.merged): void {
  const { data, cwd } = overlayMountData(store, rootfs);
  const r = spawnSync("mount", ["-t", "overlay", "overlay", "-o", data, target], { encoding: "utf8", cwd });
  if (r.error || r.status !== 0) {
    throw new GantryError("SYSCALL_FAILED", `mount overlay on ${target} failed: ${(r.stderr || r.error?.message || "").trim()}`, {
      path: target,
      step: "mount",
      hint: "overlay mounts need root and a kernel with overlayfs (modprobe overlay)",
    });
  }
}

/** A container's rootfs as prepareContainerRootfs made it (from its rootfs.json), or undefined. */
export function containerRootfs(store: ImageStore, containerId: string): PreparedRootfs | undefined {
  const info = readContainerRootfs(store, containerId);
  return info && rootfsOf(store, containerDir(store, containerId), info);
}

function rootfsOf(store: ImageStore, dir: string, info: ContainerRootfsRecord): PreparedRootfs {
  const lowerdirs = info.chainIds.map((c) => join(snapshotDir(store, c), "fs")).reverse();
  if (lowerdirs.length === 0) lowerdirs.push(join(dir, "empty"));
  const upperdir = join(dir, "upper");
  const workdir = join(dir, "work");
  return { lowerdirs, upperdir, workdir, merged: join(dir, "merged"), options: overlayOptions(lowerdirs, upperdir, workdir) };
}

/**
 * Reads a regular file of an unmounted container rootfs the way overlayfs would show it: the
 * upper layer, then each lower layer top down, where a whiteout (a 0/0 character device)
 * hides it. Returns undefined when the file does not exist, and null when only a mount can
 * tell (a symlink or other non-regular entry on the way, which needs the merged view).
 * Opaque directories are marked by an xattr node cannot read: a file that an upper layer
 * hid by replacing its whole directory is not seen as hidden.
 */
export function readUnmountedRootfsFile(rootfs: PreparedRootfs, relPath: string): Buffer | undefined | null {
  const parts = relPath.split("/").filter(Boolean);
  for (const layer of [rootfs.upperdir, ...rootfs.lowerdirs]) {
    let dir = layer;
    for (let i = 0; i < parts.length; i++) {
      const path = join(dir, parts[i]!);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) break;
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (i === parts.length - 1) return st.isFile() ? readFileSync(path) : null;
      if (!st.isDirectory()) return null;
      dir = path;
    }
  }
  return undefined;
}

export function unmountRootfs(target: string): void {
  const r = spawnSync("umount", [target], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new GantryError("SYSCALL_FAILED", `umount ${target} failed: ${(r.stderr || r.error?.message || "").trim()}`, { path: target, step: "umount" });
  }
}

/** Removes a container's writable layer (it must be unmounted). */
export function removeContainerRootfs(store: ImageStore, containerId: string): void {
  rmSync(containerDir(store, containerId), { recursive: true, force: true });
}

/**
 * removeContainerRootfs without holding up the caller's event loop: the directory is renamed
 * aside at once (`containers/.removing-<pid>-<id>`, which listContainerRootfs skips, so the
 * layer is gone for everyone from then on) and deleted on the thread pool. A process that
 * dies first leaves it for the garbage collection's sweep of dead processes' scratch.
 */
export async function discardContainerRootfs(store: ImageStore, containerId: string): Promise<void> {
  const aside = join(store.root, "containers", `.removing-${process.pid}-${containerId}`);
  try {
    renameSync(containerDir(store, containerId), aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  await removeTree(aside);
}
