// Images in the Docker Engine API's shapes: the list (`GET /images/json`), inspect
// (`GET /images/{name}/json`) and history (`GET /images/{name}/history`), from src/image's
// LocalImage and ImageSummary.
import { familiarName, type ContainerConfig, type Digest, type HistoryEntry, type ImageSummary, type LocalImage } from "../image/mod.ts";

const unixSeconds = (iso: string | undefined) => (iso && !Number.isNaN(Date.parse(iso)) ? Math.floor(Date.parse(iso) / 1000) : 0);

export function imageListEntry(i: ImageSummary, containers: number) {
  return {
    Id: i.id,
    ParentId: "",
    RepoTags: i.repoTags,
    RepoDigests: i.repoDigests,
    Created: unixSeconds(i.created),
    Size: i.size,
    SharedSize: -1,
    VirtualSize: i.size,
    Labels: i.labels ?? {},
    Containers: containers,
  };
}

/** Docker's `reference` filter: `repo`, `repo:tag`, with `*` globs, on familiar names. */
export function matchesReference(repoTags: string[], patterns: string[]): boolean {
  if (patterns.length === 0) return true;
  const res = patterns.map((p) => new RegExp(`^${p.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`));
  return repoTags.some((t) => {
    const repo = t.slice(0, t.lastIndexOf(":"));
    return res.some((re) => re.test(t) || re.test(repo));
  });
}

export function imageInspect(img: LocalImage) {
  const size = img.manifest.layers.reduce((a, l) => a + l.size, 0);
  return {
    Id: img.id,
    RepoTags: img.names.filter((n) => !n.includes("@")).map(familiarName),
    RepoDigests: [...new Set([...img.repoDigests, ...img.names.filter((n) => n.includes("@"))])].map(familiarName),
    Parent: "",
    Comment: img.config.history?.at(-1)?.comment ?? "",
    Created: img.config.created ?? "",
    DockerVersion: "",
    Author: img.config.author ?? "",
    Config: img.config.config ?? {},
    Architecture: img.config.architecture,
    Variant: img.config.variant,
    Os: img.config.os,
    Size: size,
    VirtualSize: size,
    GraphDriver: { Name: "overlay2", Data: null },
    RootFS: { Type: "layers", Layers: img.config.rootfs.diff_ids },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
    // API 1.48+: the manifest the image is stored as.
    Descriptor: { mediaType: img.mediaType, digest: img.manifestDigest },
  };
}

/** Newest first; the top entry carries the image ID and names, the others `<missing>` (the
 * store keeps no intermediate images), as dockerd shows pulled images. */
export function imageHistory(img: LocalImage) {
  const history: HistoryEntry[] = img.config.history?.length ? img.config.history : img.manifest.layers.map(() => ({}));
  let layer = img.manifest.layers.length;
  const rows = [...history].reverse().map((h, i) => ({
    Id: i === 0 ? img.id : "<missing>",
    Created: unixSeconds(h.created),
    CreatedBy: h.created_by ?? "",
    Tags: i === 0 ? img.names.filter((n) => !n.includes("@")).map(familiarName) : null,
    Size: h.empty_layer ? 0 : (img.manifest.layers[--layer]?.size ?? 0),
    Comment: h.comment ?? "",
  }));
  return rows;
}

/** What `docker commit` records: the container's run config, the fields an image carries. */
export function commitConfigOf(container: ContainerConfig, override: ContainerConfig | undefined): ContainerConfig {
  const keys = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = override?.[k] ?? container[k];
    if (v !== undefined && v !== null && v !== "") out[k] = v;
  }
  return out as ContainerConfig;
}

export const shortImageId = (id: Digest | string) => id.replace(/^sha256:/, "").slice(0, 12);
