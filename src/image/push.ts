// Push: upload the config and layer blobs the registry lacks (HEAD first; a cross-repository
// mount when the blob came from another repository of the same registry), then PUT the
// manifest with its exact stored bytes, so its digest is the same on both sides.
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { GantryError } from "../common/errors.ts";
import type { Digest } from "./digest.ts";
import { resolveImage } from "./images.ts";
import { formatReference, parseReference, repositoryName } from "./reference.ts";
import { RegistryClient, type RegistryOptions } from "./registry/client.ts";
import type { Descriptor } from "./spec.ts";
import type { ImageStore } from "./store.ts";

export interface PushProgress {
  digest: Digest;
  status: "exists" | "mounted" | "uploading" | "done";
  /** For "mounted": the repository the blob was mounted from. */
  from?: string;
  current: number;
  total: number;
}

export interface PushOptions extends Omit<RegistryOptions, "push"> {
  /** Upload blobs larger than this in PATCH chunks of this size (default 64 MiB); 0 = always monolithic. */
  chunkSize?: number;
  concurrency?: number;
  onProgress?: (p: PushProgress) => void;
}

export interface PushResult {
  name: string;
  digest: Digest;
  uploaded: number;
  skipped: number;
}

export async function pushImage(store: ImageStore, source: string, destination: string = source, opts: PushOptions = {}): Promise<PushResult> {
  const img = resolveImage(store, source);
  const ref = parseReference(destination);
  if (ref.digest !== undefined && ref.tag === undefined && ref.digest !== img.manifestDigest) {
    throw new GantryError("INVALID_ARGUMENT", `cannot push ${source} as ${destination}: the digest differs from the image's ${img.manifestDigest}`);
  }
  const client = new RegistryClient(ref, { ...opts, push: true });
  const chunkSize = opts.chunkSize ?? 64 << 20;
  // Other repositories of the same registry this image came from: candidates for a mount.
  const mountSources = img.repoDigests
    .map((d) => parseReference(d))
    .filter((r) => r.registry === ref.registry && r.repository !== ref.repository)
    .map((r) => r.repository);

  let uploaded = 0;
  let skipped = 0;
  const pushBlob = async (d: Descriptor) => {
    const digest = d.digest as Digest;
    if (await client.hasBlob(digest)) {
      skipped++;
      opts.onProgress?.({ digest, status: "exists", current: d.size, total: d.size });
      return;
    }
    for (const from of mountSources) {
      if (await client.mountBlob(digest, from)) {
        skipped++;
        opts.onProgress?.({ digest, status: "mounted", from, current: d.size, total: d.size });
        return;
      }
    }
    const path = store.blobPath(digest);
    const size = store.blobSize(digest);
    let sent = 0;
    const track = (s: Readable) => {
      s.on("data", (c: Buffer) => {
        sent += c.length;
        opts.onProgress?.({ digest, status: "uploading", current: sent, total: size });
      });
      return s;
    };
    if (chunkSize > 0 && size > chunkSize) {
      await client.uploadChunked(digest, size, (start, end) => track(createReadStream(path, { start, end: end - 1 })), chunkSize);
    } else {
      await client.uploadMonolithic(digest, size, () => track(createReadStream(path)));
    }
    uploaded++;
    opts.onProgress?.({ digest, status: "done", current: size, total: size });
  };

  const blobs = [img.manifest.config, ...img.manifest.layers];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency ?? 3, blobs.length) }, async () => {
      while (next < blobs.length) await pushBlob(blobs[next++] as Descriptor);
    }),
  );
  const bytes = store.readBlob(img.manifestDigest);
  const digest = await client.putManifest(ref.tag ?? img.manifestDigest, bytes, img.mediaType);
  const name = formatReference(ref);
  const repoDigest = `${repositoryName(ref)}@${digest}`;
  store.updateRefs((refs) => {
    for (const n of img.names) {
      const r = refs[n];
      if (r && !(r.repoDigests ?? []).includes(repoDigest)) r.repoDigests = [...(r.repoDigests ?? []), repoDigest];
    }
  });
  return { name, digest, uploaded, skipped };
}
