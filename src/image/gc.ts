// Garbage collection: mark every blob and snapshot reachable from a name (manifest → config +
// layers → chain IDs), from a container's rootfs record, or from a live lease (a pull in
// progress), then sweep the rest. Leftovers of dead processes in ingest/ and tmp/ go too.
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { chainIds, type Digest } from "./digest.ts";
import { loadManifest } from "./images.ts";
import { listContainerRootfs, listSnapshots, snapshotDir } from "./snapshots.ts";
import { parseImageConfig } from "./spec.ts";
import type { ImageStore } from "./store.ts";

export interface GcResult {
  blobsRemoved: number;
  snapshotsRemoved: number;
  bytesFreed: number;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function duSync(path: string): number {
  let total = 0;
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += duSync(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

/** Content written or reused after the collection started is never swept: a pull whose
 * lease appeared after the leases were read writes new blobs and touches the ones it reuses
 * (ImageStore.touch), so either way their mtime is recent. The slack covers the kernel's
 * coarse timestamp clock. */
function newerThan(path: string, startedMs: number): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.mtimeMs >= startedMs - 20;
}

export function collectGarbage(store: ImageStore): GcResult {
  const started = Date.now();
  const keepBlobs = new Set<string>();
  const keepSnapshots = new Set<string>();
  const leased = store.leasedDigests();
  for (const d of leased) {
    keepBlobs.add(d);
    keepSnapshots.add(d);
  }
  const containers = listContainerRootfs(store);
  const roots: { digest: Digest; indexDigest?: Digest }[] = [
    ...Object.values(store.readRefs()),
    ...containers.flatMap((c) => (c.manifestDigest ? [{ digest: c.manifestDigest }] : [])),
  ];
  for (const rec of roots) {
    keepBlobs.add(rec.digest);
    if (rec.indexDigest) keepBlobs.add(rec.indexDigest);
    try {
      const { manifest } = loadManifest(store, rec.digest);
      keepBlobs.add(manifest.config.digest);
      for (const l of manifest.layers) keepBlobs.add(l.digest);
      const config = parseImageConfig(store.readBlob(manifest.config.digest as Digest));
      for (const c of chainIds(config.rootfs.diff_ids as Digest[])) keepSnapshots.add(c);
    } catch {
      /* a dangling name keeps nothing */
    }
  }
  for (const c of containers) for (const id of c.chainIds) keepSnapshots.add(id);

  const result: GcResult = { blobsRemoved: 0, snapshotsRemoved: 0, bytesFreed: 0 };
  for (const d of store.listBlobs()) {
    if (keepBlobs.has(d) || newerThan(store.blobPath(d), started)) continue;
    result.bytesFreed += store.blobSize(d);
    store.deleteBlob(d);
    result.blobsRemoved++;
  }
  for (const c of listSnapshots(store)) {
    const dir = snapshotDir(store, c);
    if (keepSnapshots.has(c) || newerThan(dir, started)) continue;
    result.bytesFreed += duSync(dir);
    rmSync(dir, { recursive: true, force: true });
    result.snapshotsRemoved++;
  }
  // Scratch space of processes that died mid-write: "<pid>-…" in ingest/ and tmp/,
  // ".tmp-<pid>-…" in snapshots/, and writable layers they were removing, ".removing-<pid>-…".
  const scratch: [string, (n: string) => string | undefined][] = [
    ["ingest", (n) => n.split("-")[0]],
    ["tmp", (n) => n.split("-")[1]],
    ["snapshots", (n) => (n.startsWith(".tmp-") ? n.split("-")[1] : undefined)],
    ["containers", (n) => (n.startsWith(".removing-") ? n.split("-")[1] : undefined)],
  ];
  for (const [dir, pidOf] of scratch) {
    for (const n of readdirSync(join(store.root, dir))) {
      const pid = pidOf(n);
      if (pid === undefined || pidAlive(Number.parseInt(pid, 10))) continue;
      rmSync(join(store.root, dir, n), { recursive: true, force: true });
    }
  }
  return result;
}

