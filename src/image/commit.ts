// Creates images in the store from layer tarballs: used by `import`, `load` and the tests.
// Layers are stored as given (tar, tar+gzip or tar+zstd); each DiffID is computed by hashing
// the uncompressed stream, and an OCI manifest and config are written around them.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { sha256, type Digest } from "./digest.ts";
import { formatReference, parseReference } from "./reference.ts";
import { openTarStream } from "./snapshots.ts";
import { mediaTypes, parseImageConfig, type ContainerConfig, type Descriptor, type HistoryEntry, type ImageConfig, type Manifest } from "./spec.ts";
import type { ImageStore } from "./store.ts";

export interface LayerInput {
  /** A file holding the layer tar (compressed or not). */
  path: string;
}

export interface StoredLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

async function diffIdOf(path: string): Promise<Digest> {
  const hash = createHash("sha256");
  for await (const chunk of openTarStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

function layerMediaType(bytes: Buffer): string {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return mediaTypes.ociLayerGzip;
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0xfd2fb528) return mediaTypes.ociLayerZstd;
  return mediaTypes.ociLayer;
}

/** Copies a layer file into the store; returns its descriptor and DiffID. */
export async function storeLayer(store: ImageStore, input: LayerInput): Promise<StoredLayer> {
  const head = Buffer.alloc(4);
  const fd = openSync(input.path, "r");
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const { digest, size } = await store.writeBlob(createReadStream(input.path));
  const diffId = await diffIdOf(store.blobPath(digest));
  return { descriptor: { mediaType: layerMediaType(head), digest, size }, diffId };
}

export interface CommitOptions {
  /** Name to give the image (optional: an unnamed image is only kept until the next GC). */
  name?: string;
  layers: StoredLayer[];
  config?: ContainerConfig;
  architecture?: string;
  os?: string;
  history?: HistoryEntry[];
  created?: string;
}

export interface CommittedImage {
  manifestDigest: Digest;
  configDigest: Digest;
  name?: string;
}

/** Writes config and manifest blobs for stored layers and points `name` at the manifest. */
export async function commitImage(store: ImageStore, opts: CommitOptions): Promise<CommittedImage> {
  const created = opts.created ?? new Date().toISOString();
  const config: ImageConfig = parseImageConfig(
    JSON.stringify({
      created,
      architecture: opts.architecture ?? "amd64",
      os: opts.os ?? "linux",
      config: opts.config ?? {},
      rootfs: { type: "layers", diff_ids: opts.layers.map((l) => l.diffId) },
      history: opts.history ?? opts.layers.map(() => ({ created, created_by: "gantry import" })),
    }),
  );
  return commitManifest(store, { name: opts.name, configBytes: Buffer.from(JSON.stringify(config)), layers: opts.layers, created });
}

/** Writes an OCI manifest for existing config bytes (kept byte for byte, so an image's ID
 * survives save/load) and stored layers, and names it. */
export async function commitManifest(
  store: ImageStore,
  opts: { name?: string | string[]; configBytes: Buffer; layers: StoredLayer[]; created?: string },
): Promise<CommittedImage> {
  const configBytes = opts.configBytes;
  const configDigest = sha256(configBytes);
  await store.putBlob(configBytes, configDigest);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: configDigest, size: configBytes.length },
    layers: opts.layers.map((l) => l.descriptor),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256(manifestBytes);
  await store.putBlob(manifestBytes, manifestDigest);
  const names = (opts.name === undefined ? [] : Array.isArray(opts.name) ? opts.name : [opts.name]).map((n) => formatReference(parseReference(n)));
  const created = opts.created ?? new Date().toISOString();
  store.updateRefs((refs) => {
    for (const n of names) refs[n] = { digest: manifestDigest, mediaType: mediaTypes.ociManifest, created };
  });
  return { manifestDigest, configDigest, name: names[0] };
}
