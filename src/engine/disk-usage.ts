// `GET /system/df` (`docker system df [-v]`): what images, containers' writable layers and
// volumes take on disk, in dockerd's shapes. Sizes are apparent sizes (bytes of regular files
// and symlinks, a hard-linked inode counted once), as dockerd's directory walk counts them;
// the walk runs on libuv's thread pool, not on the event loop.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { resolveImage, listImages } from "../image/mod.ts";
import { toDockerVolume } from "../volume/index.ts";
import type { Engine } from "./engine.ts";
import { imageListEntry } from "./image-views.ts";
import { containerSummary } from "./views.ts";

/** Bytes under `dir`; 0 when it does not exist. */
export async function directorySize(dir: string, seen = new Set<string>()): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of entries) {
    const p = join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) total += await directorySize(p, seen);
    else {
      const inode = `${st.dev}:${st.ino}`;
      if (st.nlink > 1 && seen.has(inode)) continue;
      seen.add(inode);
      total += st.size;
    }
  }
  return total;
}

export type DiskUsageKind = "image" | "container" | "volume" | "build-cache";

/** The df answer; `kinds` (API 1.42's `type` parameter) limits what is counted, empty = all. */
export async function systemDiskUsage(e: Engine, kinds: DiskUsageKind[]) {
  const want = (k: DiskUsageKind) => kinds.length === 0 || kinds.includes(k);
  const containers = e.containers.all();
  const out: Record<string, unknown> = {};
  if (want("image")) {
    // A layer two images share counts once in LayersSize and as SharedSize in both.
    const images = listImages(e.images).map((summary) => {
      let layers: { digest: string; size: number }[] = [];
      try {
        layers = resolveImage(e.images, summary.id).manifest.layers;
      } catch {
        /* removed meanwhile */
      }
      return { summary, layers };
    });
    const users = new Map<string, { size: number; images: number }>();
    for (const { layers } of images) {
      for (const l of new Map(layers.map((x) => [x.digest, x])).values()) {
        const u = users.get(l.digest) ?? { size: l.size, images: 0 };
        u.images++;
        users.set(l.digest, u);
      }
    }
    out.LayersSize = [...users.values()].reduce((a, u) => a + u.size, 0);
    out.Images = images.map(({ summary, layers }) => ({
      ...imageListEntry(summary, containers.filter((c) => c.Image === summary.id).length),
      SharedSize: layers.filter((l) => (users.get(l.digest)?.images ?? 0) > 1).reduce((a, l) => a + l.size, 0),
    }));
  }
  if (want("container")) {
    const imageSize = new Map<string, number>(listImages(e.images).map((i) => [i.id, i.size]));
    out.Containers = await Promise.all(
      containers.map(async (c) => {
        const rw = await directorySize(join(e.images.root, "containers", c.Id, "upper"));
        return { ...containerSummary(e, c), SizeRw: rw, SizeRootFs: rw + (imageSize.get(c.Image) ?? 0) };
      }),
    );
  }
  if (want("volume")) {
    out.Volumes = await Promise.all(
      e.volumes.list().map(async (v) => {
        const d = toDockerVolume(v);
        return { ...d, UsageData: { ...d.UsageData, Size: v.driver === "local" ? await directorySize(v.mountpoint) : -1 } };
      }),
    );
  }
  if (want("build-cache")) {
    out.BuildCache = [];
    out.BuilderSize = 0;
  }
  return out;
}
