// Pull: resolve a tag or digest to a manifest (choosing the platform from an index or Docker
// manifest list), fetch config and layers in parallel into the store with digests checked
// while streaming, unpack the snapshots, and name the image. A lease keeps what is being
// fetched safe from a concurrent garbage collection until the name is written.
import { GantryError } from "../common/errors.ts";
import type { Digest } from "./digest.ts";
import { formatReference, parseReference, repositoryName } from "./reference.ts";
import { RegistryClient, type RegistryOptions } from "./registry/client.ts";
import { ensureLayerSnapshot, snapshotPlan } from "./snapshots.ts";
import { parseImageConfig, parseManifest, type Descriptor, type Index, type Platform } from "./spec.ts";
import type { ImageStore } from "./store.ts";

export interface PullProgress {
  digest: Digest;
  /** "config" or "layer". */
  kind: "config" | "layer";
  status: "exists" | "downloading" | "done" | "unpacked";
  current: number;
  total: number;
}

export interface PullOptions extends RegistryOptions {
  platform?: { os: string; architecture: string; variant?: string };
  /** Unpack layers into snapshots (default true). */
  unpack?: boolean;
  concurrency?: number;
  onProgress?: (p: PullProgress) => void;
}

export interface PullResult {
  name: string;
  manifestDigest: Digest;
  indexDigest?: Digest;
  configDigest: Digest;
  layers: number;
  /** Layers that were already in the store. */
  layersExisting: number;
}

const nodeArchToOci: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

export function defaultPlatform(): { os: string; architecture: string } {
  return { os: "linux", architecture: nodeArchToOci[process.arch] ?? "amd64" };
}

/** Picks the manifest for a platform from an index (variant matched when asked for; arm64
 * without a variant also matches v8, as containerd does). */
export function selectPlatform(index: Index, want: { os: string; architecture: string; variant?: string }): Descriptor {
  const matches = index.manifests.filter((m) => {
    const p: Platform | undefined = m.platform;
    if (!p || p.os !== want.os || p.architecture !== want.architecture) return false;
    if (want.variant === undefined) return true;
    return p.variant === want.variant || (p.variant === undefined && want.variant === "v8");
  });
  const exact = matches.find((m) => m.platform?.variant === undefined) ?? matches[0];
  if (!exact) {
    const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ""}` : "unknown")).join(", ");
    throw new GantryError("NOT_FOUND", `no image for ${want.os}/${want.architecture}${want.variant ? `/${want.variant}` : ""} in the index (it has ${have || "none"})`, {
      hint: "choose one of the listed platforms with --platform",
    });
  }
  return exact;
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(workers);
}

/** A blob's bytes, resumed with a Range request after a transient failure (connection
 * reset, 5xx, idle timeout): 3 attempts in a row without progress fail. The store hashes the concatenation, so a resumed
 * download is verified exactly like an uninterrupted one; a digest mismatch is never retried. */
async function* resumingBody(client: RegistryClient, digest: Digest): AsyncGenerator<Buffer> {
  let received = 0;
  for (let attempt = 1; ; attempt++) {
    const before = received;
    try {
      const { body, skip } = await client.getBlobFrom(digest, received);
      let toSkip = skip;
      for await (const raw of body) {
        let chunk = raw as Buffer;
        if (toSkip > 0) {
          const n = Math.min(toSkip, chunk.length);
          toSkip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        received += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      const transient = !(err instanceof GantryError) || err.code === "REGISTRY_ERROR" || err.code === "TIMEOUT";
      if (received > before) attempt = 0; // it made progress: the budget starts again
      if (!transient || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 200 * Math.max(attempt, 1)));
    }
  }
}

export async function pullImage(store: ImageStore, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const client = new RegistryClient(ref, opts);
  return store.withLease(async (lease) => {
    const top = await client.getManifest(ref.digest ?? (ref.tag as string));
    let parsed = parseManifest(top.bytes, top.contentType);
    let manifestBytes = top.bytes;
    let manifestDigest = top.digest;
    let indexDigest: Digest | undefined;
    if (parsed.kind === "index") {
      indexDigest = top.digest;
      lease.add(indexDigest);
      await store.putBlob(top.bytes, indexDigest);
      const chosen = selectPlatform(parsed.index, opts.platform ?? defaultPlatform());
      const child = await client.getManifest(chosen.digest);
      parsed = parseManifest(child.bytes, chosen.mediaType);
      if (parsed.kind !== "manifest") throw new GantryError("INVALID_SPEC", `index entry ${chosen.digest} is not an image manifest`);
      manifestBytes = child.bytes;
      manifestDigest = child.digest;
    }
    const manifest = parsed.manifest;
    lease.add(manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest));

    const fetchBlob = async (d: Descriptor, kind: "config" | "layer"): Promise<boolean> => {
      const digest = d.digest as Digest;
      if (store.hasBlob(digest)) {
        store.touch(digest);
        opts.onProgress?.({ digest, kind, status: "exists", current: d.size, total: d.size });
        return true;
      }
      opts.onProgress?.({ digest, kind, status: "downloading", current: 0, total: d.size });
      await store.writeBlob(resumingBody(client, digest), {
        expected: digest,
        expectedSize: d.size,
        onProgress: (n) => opts.onProgress?.({ digest, kind, status: "downloading", current: n, total: d.size }),
      });
      opts.onProgress?.({ digest, kind, status: "done", current: d.size, total: d.size });
      return false;
    };

    await fetchBlob(manifest.config, "config");
    const config = parseImageConfig(store.readBlob(manifest.config.digest as Digest));
    const plan = snapshotPlan(manifest, config);
    lease.add(...plan.chain);
    let existing = 0;
    // Each layer is unpacked as soon as it is downloaded (layers unpack independently).
    await runLimited([...manifest.layers.keys()], opts.concurrency ?? 3, async (i) => {
      const l = manifest.layers[i] as Descriptor;
      if (await fetchBlob(l, "layer")) existing++;
      if (opts.unpack === false) return;
      await ensureLayerSnapshot(store, manifest, plan, i);
      opts.onProgress?.({ digest: l.digest as Digest, kind: "layer", status: "unpacked", current: l.size, total: l.size });
    });
    await store.putBlob(manifestBytes, manifestDigest);
    const name = formatReference(ref);
    const repoDigest = `${repositoryName(ref)}@${indexDigest ?? manifestDigest}`;
    store.updateRefs((refs) => {
      const old = refs[name];
      const repoDigests = new Set([...(old?.digest === manifestDigest ? (old.repoDigests ?? []) : []), repoDigest]);
      refs[name] = {
        digest: manifestDigest,
        mediaType: parsed.mediaType,
        indexDigest,
        repoDigests: [...repoDigests],
        created: new Date().toISOString(),
      };
    });
    return {
      name,
      manifestDigest,
      indexDigest,
      configDigest: manifest.config.digest as Digest,
      layers: manifest.layers.length,
      layersExisting: existing,
    };
  });
}
