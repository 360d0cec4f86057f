// A container's changes as an image (`docker commit`) and its whole filesystem as a tar
// (`docker export`). The upper directory of the container's overlay is exactly its diff, so
// committing packs it in overlay-upper mode (whiteouts and opaque dirs become `.wh.` entries)
// on top of the image's layers; the container should be stopped or paused while it runs.
import { createWriteStream, rmSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { GantryError } from "../common/errors.ts";
import { commitManifest, storeLayer } from "./commit.ts";
import type { Digest } from "./digest.ts";
import { loadManifest } from "./images.ts";
import { applyChanges } from "./import.ts";
import { packDirectory, type OwnerMap } from "./pack.ts";
import { containerDir, readContainerRootfs } from "./snapshots.ts";
import { parseImageConfig, type ContainerConfig } from "./spec.ts";
import type { ImageStore } from "./store.ts";

export interface CommitContainerOptions {
  name?: string;
  /** The new image's run config before `changes` (default: the base image's). The engine
   * passes the container's own (its Env, Cmd, …), as dockerd does. */
  config?: ContainerConfig;
  changes?: string[];
  message?: string;
  author?: string;
  /** How the upper dir's host owners become the layer's (a user-namespaced container's maps). */
  owners?: OwnerMap;
}

export async function commitContainer(store: ImageStore, containerId: string, opts: CommitContainerOptions = {}): Promise<{ id: Digest; manifestDigest: Digest; name?: string }> {
  const rec = readContainerRootfs(store, containerId);
  if (!rec?.manifestDigest) throw new GantryError("NOT_FOUND", `container ${containerId} has no image rootfs to commit`);
  const { manifest } = loadManifest(store, rec.manifestDigest);
  const baseConfig = parseImageConfig(store.readBlob(manifest.config.digest as Digest));
  const tmp = store.tempPath("commit");
  try {
    const gzip = createGzip();
    const written = pipeline(gzip, createWriteStream(tmp));
    await packDirectory(join(containerDir(store, containerId), "upper"), gzip, "overlay-upper", opts.owners);
    await written;
    return await store.withLease(async (lease) => {
      const layer = await storeLayer(store, { path: tmp });
      lease.add(layer.descriptor.digest);
      const created = new Date().toISOString();
      const config = {
        ...baseConfig,
        created,
        ...(opts.author ? { author: opts.author } : {}),
        config: applyChanges(opts.config ?? baseConfig.config ?? {}, opts.changes ?? []),
        rootfs: { type: "layers" as const, diff_ids: [...baseConfig.rootfs.diff_ids, layer.diffId] },
        history: [...(baseConfig.history ?? []), { created, created_by: `gantry commit ${containerId}`, ...(opts.message ? { comment: opts.message } : {}) }],
      };
      const baseLayers = manifest.layers.map((descriptor, i) => ({ descriptor, diffId: baseConfig.rootfs.diff_ids[i] as Digest }));
      const r = await commitManifest(store, { name: opts.name, configBytes: Buffer.from(JSON.stringify(config)), layers: [...baseLayers, layer], created });
      return { id: r.configDigest, manifestDigest: r.manifestDigest, name: r.name };
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes a tar of a mounted container filesystem (its merged overlay view) to `out`. */
export async function exportFilesystem(mountedRoot: string, out: Writable, owners?: OwnerMap): Promise<void> {
  await packDirectory(mountedRoot, out, "rootfs", owners);
}
