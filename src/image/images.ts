// Local images: a name in the refs table points at a manifest blob, which names a config blob
// and layer blobs. An image's ID is its config digest (as in Docker), so one image can carry
// several names. This file resolves names and IDs and edits names (tag, untag).
import { GantryError, conflict, notFound } from "../common/errors.ts";
import { chainIds, isDigest, type Digest } from "./digest.ts";
import { familiarName, formatReference, parseReference, repositoryName } from "./reference.ts";
import { parseImageConfig, parseManifest, type ImageConfig, type Manifest } from "./spec.ts";
import { listContainerRootfs } from "./snapshots.ts";
import type { ImageStore, RefRecord } from "./store.ts";
import { compareStrings } from "../common/compare.ts";

export interface LocalImage {
  /** Config digest: the image ID. */
  id: Digest;
  manifestDigest: Digest;
  mediaType: string;
  manifest: Manifest;
  config: ImageConfig;
  /** Canonical names (registry/repo:tag or registry/repo@digest) pointing at this manifest. */
  names: string[];
  repoDigests: string[];
}

export function loadManifest(store: ImageStore, digest: Digest): { manifest: Manifest; mediaType: string } {
  const parsed = parseManifest(store.readBlob(digest));
  if (parsed.kind !== "manifest") throw new GantryError("INVALID_SPEC", `${digest} is an index, not an image manifest`);
  return { manifest: parsed.manifest, mediaType: parsed.mediaType };
}

/** manifest digest → its config's digest (the image ID). Both are content addresses, so the
 * pair never changes: remembered, an engine resolving an image by ID (every container start
 * does) reads no manifest of the other images. */
const configDigests = new Map<string, string>();

function configDigestOf(store: ImageStore, manifestDigest: Digest): string {
  const known = configDigests.get(manifestDigest);
  if (known) return known;
  const id = loadManifest(store, manifestDigest).manifest.config.digest;
  if (configDigests.size >= 4096) configDigests.clear();
  configDigests.set(manifestDigest, id);
  return id;
}

/** A manifest and its image config, parsed, by store and manifest digest: content addresses,
 * so they never change, and an engine resolves a container's image several times per
 * container (create, rootfs, start) — each time two reads and two schema checks otherwise.
 * Handed out as copies: callers may change what they get. */
const parsedImages = new Map<string, { manifest: Manifest; mediaType: string; config: ImageConfig }>();

function parsedImage(store: ImageStore, manifestDigest: Digest): { manifest: Manifest; mediaType: string; config: ImageConfig } {
  const key = `${store.root}\0${manifestDigest}`;
  let parsed = parsedImages.get(key);
  if (!parsed) {
    const { manifest, mediaType } = loadManifest(store, manifestDigest);
    parsed = { manifest, mediaType, config: parseImageConfig(store.readBlob(manifest.config.digest as Digest)) };
    if (parsedImages.size >= 256) parsedImages.clear();
    parsedImages.set(key, parsed);
  }
  return structuredClone(parsed);
}

function imageFromManifest(store: ImageStore, manifestDigest: Digest, refs: Record<string, RefRecord>): LocalImage {
  const { manifest, mediaType, config } = parsedImage(store, manifestDigest);
  const names = Object.entries(refs)
    .filter(([, r]) => r.digest === manifestDigest)
    .map(([n]) => n)
    .sort();
  const repoDigests = new Set<string>();
  for (const n of names) for (const d of refs[n]?.repoDigests ?? []) repoDigests.add(d);
  return { id: manifest.config.digest as Digest, manifestDigest, mediaType, manifest, config, names, repoDigests: [...repoDigests].sort() };
}

/** Finds an image by name (busybox, busybox:1.36, host:5000/x@sha256:…), by full ID
 * (sha256:…) or by an unambiguous ID prefix of at least 4 hex digits (as docker accepts). */
export function resolveImage(store: ImageStore, nameOrId: string): LocalImage {
  const refs = store.readRefs();
  const candidates = new Set<Digest>();
  // A name first (a repository may well be called "cafe"), then an ID prefix.
  let ref: ReturnType<typeof parseReference> | undefined;
  try {
    ref = parseReference(nameOrId);
  } catch {
    ref = undefined;
  }
  if (ref) {
    const rec = refs[formatReference(ref)];
    if (rec) candidates.add(rec.digest);
    else if (ref.digest !== undefined) {
      // name@digest also matches the same repository pulled by tag, by manifest or index digest.
      const repo = repositoryName(ref);
      for (const [n, r] of Object.entries(refs)) {
        if (n.startsWith(`${repo}:`) && (r.digest === ref.digest || r.indexDigest === ref.digest)) candidates.add(r.digest);
      }
    }
  }
  const idLike = nameOrId.replace(/^sha256:/, "");
  if (candidates.size === 0 && /^[a-f0-9]{4,64}$/.test(idLike)) {
    for (const r of Object.values(refs)) {
      try {
        if (configDigestOf(store, r.digest).slice(7).startsWith(idLike) || r.digest.slice(7).startsWith(idLike)) candidates.add(r.digest);
      } catch {
        /* a ref whose manifest is missing cannot match */
      }
    }
  }
  if (candidates.size === 0) throw notFound(`image ${nameOrId} is not in the local store`, { hint: "gantry images lists local images; gantry pull fetches one" });
  const ids = new Set([...candidates].map((d) => configDigestOf(store, d)));
  if (ids.size > 1) throw new GantryError("INVALID_ARGUMENT", `image ID prefix ${nameOrId} is ambiguous`);
  return imageFromManifest(store, [...candidates][0] as Digest, refs);
}

export interface ImageSummary {
  id: Digest;
  manifestDigest: Digest;
  repoTags: string[];
  repoDigests: string[];
  created?: string;
  /** Sum of compressed layer sizes plus config (what the store holds for it). */
  size: number;
  labels?: Record<string, string>;
}

export function listImages(store: ImageStore): ImageSummary[] {
  const refs = store.readRefs();
  const byManifest = new Map<Digest, ImageSummary>();
  for (const [name, rec] of Object.entries(refs)) {
    let s = byManifest.get(rec.digest);
    if (!s) {
      try {
        const img = imageFromManifest(store, rec.digest, refs);
        s = {
          id: img.id,
          manifestDigest: rec.digest,
          repoTags: [],
          repoDigests: img.repoDigests.map(familiarName),
          created: img.config.created,
          size: img.manifest.config.size + img.manifest.layers.reduce((a, l) => a + l.size, 0),
          labels: img.config.config?.Labels ?? undefined,
        };
      } catch {
        continue; // an interrupted pull or a removed blob: shows up again once re-pulled
      }
      byManifest.set(rec.digest, s);
    }
    if (!name.includes("@")) s.repoTags.push(familiarName(name));
    else if (!s.repoDigests.includes(familiarName(name))) s.repoDigests.push(familiarName(name));
  }
  return [...byManifest.values()].sort((a, b) => compareStrings(b.created ?? "", a.created ?? ""));
}

/** Adds a name for an image (docker tag SOURCE TARGET). */
export function tagImage(store: ImageStore, source: string, target: string): string {
  const img = resolveImage(store, source);
  const ref = parseReference(target);
  if (ref.digest !== undefined) throw new GantryError("INVALID_ARGUMENT", `cannot tag with a digest (${target})`);
  const name = formatReference(ref);
  store.setRef(name, { digest: img.manifestDigest, mediaType: img.mediaType, created: new Date().toISOString() });
  return name;
}

export interface RemoveResult {
  untagged: string[];
  /** True when no name points at the image any more (its content goes at the next GC). */
  deleted: Digest | undefined;
}

/** Removes a name (docker rmi NAME) or, given an ID, every name of that image (which needs
 * `force` when there are several). Refuses while a container's rootfs uses the image. */
export function removeImage(store: ImageStore, nameOrId: string, opts: { force?: boolean } = {}): RemoveResult {
  const img = resolveImage(store, nameOrId);
  let byName = false;
  try {
    byName = img.names.includes(formatReference(parseReference(nameOrId)));
  } catch {
    byName = false;
  }
  const byId = !byName && (isDigest(nameOrId) || /^[a-f0-9]{4,64}$/.test(nameOrId.replace(/^sha256:/, "")));
  let toRemove: string[];
  if (byId) {
    if (img.names.length > 1 && !opts.force) {
      throw conflict(`image ${img.id.slice(7, 19)} is referenced by ${img.names.length} names`, { hint: "remove them by name, or use --force" });
    }
    toRemove = img.names;
  } else {
    toRemove = [formatReference(parseReference(nameOrId))].filter((n) => img.names.includes(n));
    if (toRemove.length === 0) toRemove = img.names.filter((n) => n.includes("@"));
  }
  const remaining = img.names.filter((n) => !toRemove.includes(n));
  if (remaining.length === 0 && !opts.force) {
    const top = chainIds(img.config.rootfs.diff_ids as Digest[]).at(-1);
    const user = listContainerRootfs(store).find((c) => top !== undefined && c.chainIds.at(-1) === top);
    if (user) throw conflict(`image ${nameOrId} is used by container ${user.containerId}`, { hint: "remove the container first, or use --force" });
  }
  store.updateRefs((refs) => {
    for (const n of toRemove) delete refs[n];
  });
  return { untagged: toRemove.map(familiarName), deleted: remaining.length === 0 ? img.id : undefined };
}
