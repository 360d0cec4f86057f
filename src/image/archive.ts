// save/load of image archives in the two layouts other tools read and write:
//   docker-archive (what `docker save` writes): manifest.json [{Config, RepoTags, Layers}],
//     repositories, <config hex>.json, <diffid hex>/layer.tar (uncompressed layers);
//   oci-archive (a tar of an OCI image layout): oci-layout, index.json, blobs/sha256/<hex>,
//     names in the org.opencontainers.image.ref.name / io.containerd.image.name annotations.
// load reads either (docker 25+ archives carry both; manifest.json wins); every blob is
// re-verified against its digest, and every layer against the config's DiffID.
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { GantryError } from "../common/errors.ts";
import { commitManifest, storeLayer, type StoredLayer } from "./commit.ts";
import { assertDigest, hexOf, sha256, type Digest } from "./digest.ts";
import { resolveImage, type LocalImage } from "./images.ts";
import { defaultPlatform, selectPlatform } from "./pull.ts";
import { familiarName, formatReference, parseReference } from "./reference.ts";
import { openTarStream } from "./snapshots.ts";
import { layerCompression, parseImageConfig, parseIndex, parseManifest, type Descriptor } from "./spec.ts";
import type { ImageStore } from "./store.ts";
import { unpackLayer, entryComponents } from "./unpack.ts";

export type ArchiveFormat = "docker-archive" | "oci-archive";

type Pack = ReturnType<typeof tar.pack>;

function addBuffer(pack: Pack, name: string, content: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) =>
    pack.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof content === "string" ? Buffer.from(content) : content, (err) => (err ? reject(err) : resolve())),
  );
}

async function addFile(pack: Pack, name: string, path: string): Promise<void> {
  const size = statSync(path).size;
  const sink = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) });
  await pipeline(createReadStream(path), sink as unknown as Writable);
}

/** An uncompressed copy of a layer (the blob itself when it is a plain tar). */
async function uncompressedLayer(store: ImageStore, layer: Descriptor, scratch: string[]): Promise<string> {
  const path = store.blobPath(layer.digest as Digest);
  if (layerCompression(layer.mediaType) === "none") return path;
  const tmp = store.tempPath("layer");
  scratch.push(tmp);
  await pipeline(openTarStream(path), createWriteStream(tmp));
  return tmp;
}

/** Writes the named images as an archive to `out` (a file stream or stdout). */
export async function saveImages(store: ImageStore, names: string[], format: ArchiveFormat, out: Writable): Promise<void> {
  if (names.length === 0) throw new GantryError("INVALID_ARGUMENT", "save needs at least one image");
  const images = names.map((n) => ({ requested: n, image: resolveImage(store, n) }));
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, out);
  const scratch: string[] = [];
  try {
    if (format === "docker-archive") await writeDockerArchive(store, images, pack, scratch);
    else await writeOciArchive(store, images, pack);
    pack.finalize();
    await done;
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  } finally {
    for (const p of scratch) rmSync(p, { force: true });
  }
}

/** The tags to record for a requested name: the name itself when it is a tag, else all of
 * the image's tags. */
function tagsFor(requested: string, image: LocalImage): string[] {
  try {
    const ref = parseReference(requested);
    const name = formatReference(ref);
    if (ref.tag !== undefined && image.names.includes(name)) return [name];
  } catch {
    /* an ID */
  }
  return image.names.filter((n) => !n.includes("@"));
}

async function writeDockerArchive(store: ImageStore, images: { requested: string; image: LocalImage }[], pack: Pack, scratch: string[]): Promise<void> {
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { requested, image } of images) {
    const configName = `${hexOf(image.id)}.json`;
    if (!written.has(configName)) {
      await addBuffer(pack, configName, store.readBlob(image.id));
      written.add(configName);
    }
    const layers: string[] = [];
    const diffIds = image.config.rootfs.diff_ids as Digest[];
    for (const [i, layer] of image.manifest.layers.entries()) {
      const name = `${hexOf(diffIds[i] as Digest)}/layer.tar`;
      layers.push(name);
      if (written.has(name)) continue;
      await addFile(pack, name, await uncompressedLayer(store, layer, scratch));
      written.add(name);
    }
    const tags = tagsFor(requested, image).map(familiarName);
    manifest.push({ Config: configName, RepoTags: tags.length ? tags : null, Layers: layers });
    const top = diffIds.at(-1);
    for (const t of tags) {
      const colon = t.lastIndexOf(":");
      if (top) (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = hexOf(top);
    }
  }
  await addBuffer(pack, "manifest.json", JSON.stringify(manifest));
  await addBuffer(pack, "repositories", JSON.stringify(repositories));
}

async function writeOciArchive(store: ImageStore, images: { requested: string; image: LocalImage }[], pack: Pack): Promise<void> {
  await addBuffer(pack, "oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const written = new Set<string>();
  const addBlob = async (d: Digest) => {
    if (written.has(d)) return;
    written.add(d);
    await addFile(pack, `blobs/sha256/${hexOf(d)}`, store.blobPath(d));
  };
  const index: Descriptor[] = [];
  for (const { requested, image } of images) {
    await addBlob(image.manifestDigest);
    await addBlob(image.id);
    for (const l of image.manifest.layers) await addBlob(l.digest as Digest);
    const tags = tagsFor(requested, image);
    const descriptor = { mediaType: image.mediaType, digest: image.manifestDigest, size: store.blobSize(image.manifestDigest) };
    if (tags.length === 0) index.push(descriptor);
    for (const t of tags) {
      index.push({
        ...descriptor,
        annotations: { "io.containerd.image.name": t, "org.opencontainers.image.ref.name": t.slice(t.lastIndexOf(":") + 1) },
      });
    }
  }
  await addBuffer(pack, "index.json", JSON.stringify({ schemaVersion: 2, manifests: index }));
}

export interface LoadResult {
  format: ArchiveFormat;
  images: { id: Digest; names: string[] }[];
}

/** A regular file inside the unpacked archive. manifest.json and index.json name paths, so
 * a hostile archive could point them through a symlink it carries (evil → /etc) to make us
 * read host files into the store: every component is checked with lstat, none may be a
 * symlink, and the last must be a regular file. */
function archiveFile(dir: string, name: string): string {
  const parts = entryComponents(name);
  if (parts.length === 0) throw new GantryError("INVALID_SPEC", `archive names an empty path`);
  let p = dir;
  for (const [i, part] of parts.entries()) {
    p = join(p, part);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) throw new GantryError("INVALID_SPEC", `archive lacks ${name}`);
    if (st.isSymbolicLink()) throw new GantryError("INVALID_LAYER", `archive path ${name} goes through the symlink ${parts.slice(0, i + 1).join("/")}: refused`);
    if (i === parts.length - 1 && !st.isFile()) throw new GantryError("INVALID_SPEC", `archive path ${name} is not a regular file`);
  }
  return p;
}

/** Loads a docker-archive or oci-archive (optionally gzip'd) from a file or stream. */
export async function loadArchive(store: ImageStore, input: string | Readable, opts: { name?: string } = {}): Promise<LoadResult> {
  const dir = store.tempPath("load");
  mkdirSync(dir, { recursive: true });
  try {
    // Unpacked with the same hostile-path checks as a layer, as the current user.
    await unpackLayer(typeof input === "string" ? openTarStream(input) : input, dir, { preserveOwners: false });
    return await store.withLease(async (lease) => {
      if (existsSync(join(dir, "manifest.json"))) return { format: "docker-archive" as const, images: await loadDocker(store, dir, lease) };
      if (existsSync(join(dir, "index.json"))) return { format: "oci-archive" as const, images: await loadOci(store, dir, lease, opts.name) };
      throw new GantryError("INVALID_SPEC", "not an image archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)");
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function loadDocker(store: ImageStore, dir: string, lease: { add(...ids: string[]): void }) {
  const raw = JSON.parse(readFileSync(archiveFile(dir, "manifest.json"), "utf8")) as unknown;
  if (!Array.isArray(raw)) throw new GantryError("INVALID_SPEC", "manifest.json is not a list");
  const out: { id: Digest; names: string[] }[] = [];
  for (const entry of raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[]) {
    if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) throw new GantryError("INVALID_SPEC", "manifest.json entry lacks Config or Layers");
    const configBytes = readFileSync(archiveFile(dir, entry.Config));
    const config = parseImageConfig(configBytes);
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw new GantryError("INVALID_SPEC", `${entry.Config} lists ${config.rootfs.diff_ids.length} layers, manifest.json ${entry.Layers.length}`);
    }
    const layers: StoredLayer[] = [];
    for (const [i, name] of (entry.Layers as unknown[]).entries()) {
      if (typeof name !== "string") throw new GantryError("INVALID_SPEC", "manifest.json layer is not a path");
      const stored = await storeLayer(store, { path: archiveFile(dir, name) });
      lease.add(stored.descriptor.digest);
      if (stored.diffId !== config.rootfs.diff_ids[i]) {
        throw new GantryError("DIGEST_MISMATCH", `layer ${name} has DiffID ${stored.diffId}, the config says ${config.rootfs.diff_ids[i]}`);
      }
      layers.push(stored);
    }
    const tags = Array.isArray(entry.RepoTags) ? (entry.RepoTags as unknown[]).filter((t): t is string => typeof t === "string") : [];
    const committed = await commitManifest(store, { name: tags, configBytes, layers });
    out.push({ id: committed.configDigest, names: tags.map((t) => familiarName(formatReference(parseReference(t)))) });
  }
  return out;
}

async function loadOci(store: ImageStore, dir: string, lease: { add(...ids: string[]): void }, fallbackName?: string) {
  const blob = async (d: string): Promise<Buffer> => {
    const digest = assertDigest(d);
    const path = archiveFile(dir, `blobs/sha256/${hexOf(digest)}`);
    lease.add(digest);
    if (store.hasBlob(digest)) store.touch(digest);
    else await store.writeBlob(createReadStream(path), { expected: digest });
    return readFileSync(path);
  };
  const index = parseIndex(readFileSync(archiveFile(dir, "index.json")));
  const out: { id: Digest; names: string[] }[] = [];
  for (const d of index.manifests) {
    let desc = d;
    let parsed = parseManifest(await blob(desc.digest), desc.mediaType);
    if (parsed.kind === "index") {
      desc = selectPlatform(parsed.index, defaultPlatform());
      parsed = parseManifest(await blob(desc.digest), desc.mediaType);
    }
    if (parsed.kind !== "manifest") throw new GantryError("INVALID_SPEC", `${desc.digest} is not an image manifest`);
    const manifest = parsed.manifest;
    const configBytes = await blob(manifest.config.digest);
    const config = parseImageConfig(configBytes);
    for (const l of manifest.layers) await blob(l.digest);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) throw new GantryError("INVALID_SPEC", `${desc.digest}: config and manifest disagree on the layer count`);
    const ann = d.annotations ?? {};
    let name = ann["io.containerd.image.name"];
    const refName = ann["org.opencontainers.image.ref.name"];
    if (!name && refName) {
      // A bare tag ("latest") needs a repository: the one given with --name, else "loaded".
      name = refName.includes("/") || refName.includes(":") ? refName : `${fallbackName ?? "localhost/loaded"}:${refName}`;
    }
    if (!name && fallbackName) name = fallbackName;
    const names = name ? [formatReference(parseReference(name))] : [];
    const manifestDigest = desc.digest as Digest;
    store.updateRefs((refs) => {
      for (const n of names) refs[n] = { digest: manifestDigest, mediaType: parsed.mediaType, created: new Date().toISOString() };
    });
    out.push({ id: sha256(configBytes), names: names.map(familiarName) });
  }
  return out;
}
