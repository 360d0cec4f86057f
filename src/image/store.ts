// The content store under ROOT (default /var/lib/gantry):
//   blobs/sha256/<hex>        content-addressed blobs, immutable once renamed into place
//   ingest/<random>           blobs being written; renamed into blobs/ only when the digest
//                             matches, so a reader never sees a partial or wrong blob and
//                             concurrent writers of one blob both succeed (rename is atomic)
//   refs.json (+ refs.lock)   name:tag → manifest digest, updated under a lock file
//   leases/<pid>-<n>.json     digests a running pull or load is writing; GC keeps them
//   snapshots/, containers/   see snapshots.ts
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic, readJsonIfExists } from "../common/atomic-file.ts";
import { GantryError, notFound } from "../common/errors.ts";
import { hexOf, type Digest } from "./digest.ts";
import { withPidLockSync } from "../common/pid-lock.ts";

export const defaultRoot = "/var/lib/gantry";

export interface RefRecord {
  /** Digest of the platform manifest this name points to. */
  digest: Digest;
  mediaType: string;
  /** When pulled through an index or manifest list: its digest (the repo digest users see). */
  indexDigest?: Digest;
  /** Registry repo digests known for this image (name@digest). */
  repoDigests?: string[];
  created: string;
}

interface RefsFile {
  version: 1;
  refs: Record<string, RefRecord>;
}

export interface BlobWriteOptions {
  expected?: Digest;
  expectedSize?: number;
  onProgress?: (bytes: number) => void;
}

export class ImageStore {
  readonly root: string;

  constructor(root: string = process.env.GANTRY_ROOT || defaultRoot) {
    this.root = root;
    for (const d of ["blobs/sha256", "ingest", "snapshots", "containers", "leases", "tmp"]) {
      mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
    }
  }

  blobPath(digest: Digest): string {
    return join(this.root, "blobs", "sha256", hexOf(digest));
  }

  hasBlob(digest: Digest): boolean {
    try {
      return statSync(this.blobPath(digest)).isFile();
    } catch {
      return false;
    }
  }

  blobSize(digest: Digest): number {
    return statSync(this.blobPath(digest)).size;
  }

  readBlob(digest: Digest): Buffer {
    try {
      return readFileSync(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw notFound(`blob ${digest} is not in the store`);
      throw err;
    }
  }

  /** Marks a blob as just used, so a garbage collection that is already running keeps it
   * (see gc.ts). Callers touch what they reuse instead of writing. */
  touch(digest: Digest): void {
    const now = new Date();
    try {
      utimesSync(this.blobPath(digest), now, now);
    } catch {
      /* gone: the caller's next read reports it */
    }
  }

  listBlobs(): Digest[] {
    return readdirSync(join(this.root, "blobs", "sha256")).map((h) => `sha256:${h}` as Digest);
  }

  deleteBlob(digest: Digest): void {
    rmSync(this.blobPath(digest), { force: true });
  }

  /** A fresh path under ROOT/tmp for scratch files and directories (same filesystem as the
   * store, so results can be renamed into place). */
  tempPath(prefix: string): string {
    return join(this.root, "tmp", `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  /** Streams content into the store, hashing as it goes. With `expected`, a mismatch (or a
   * size that differs from `expectedSize`) is refused and the temporary file removed. */
  async writeBlob(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: BlobWriteOptions = {}): Promise<{ digest: Digest; size: number }> {
    const tmp = join(this.root, "ingest", `${process.pid}-${randomBytes(8).toString("hex")}`);
    const hash = createHash("sha256");
    let size = 0;
    const fh = await open(tmp, "wx", 0o644);
    let ok = false;
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        if (opts.expectedSize !== undefined && size > opts.expectedSize) {
          throw new GantryError("DIGEST_MISMATCH", `blob ${opts.expected ?? "(unknown)"} is larger than its descriptor's ${opts.expectedSize} bytes: refused`);
        }
        await fh.write(chunk);
        opts.onProgress?.(size);
      }
      const digest = `sha256:${hash.digest("hex")}` as Digest;
      if (opts.expected !== undefined && digest !== opts.expected) {
        throw new GantryError("DIGEST_MISMATCH", `content for ${opts.expected} has digest ${digest}: refused`, {
          hint: "the registry or file holds corrupt or tampered content",
        });
      }
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new GantryError("DIGEST_MISMATCH", `blob ${digest} has ${size} bytes, its descriptor says ${opts.expectedSize}`);
      }
      await fh.sync();
      await fh.close();
      renameSync(tmp, this.blobPath(digest));
      ok = true;
      return { digest, size };
    } finally {
      if (!ok) {
        await fh.close().catch(() => undefined);
        rmSync(tmp, { force: true });
      }
    }
  }

  async putBlob(bytes: Uint8Array | string, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    return this.writeBlob([buf], { expected });
  }

  // ---- references ----

  private refsPath(): string {
    return join(this.root, "refs.json");
  }

  readRefs(): Record<string, RefRecord> {
    return readJsonIfExists<RefsFile>(this.refsPath())?.refs ?? {};
  }

  getRef(name: string): RefRecord | undefined {
    return this.readRefs()[name];
  }

  /** Read-modify-write of the refs table under the lock; `fn` edits the map in place. */
  updateRefs<T>(fn: (refs: Record<string, RefRecord>) => T): T {
    // The critical section is synchronous, so within one process no two holders interleave.
    const lock = { what: "the image store's names", hint: "another gantry command is updating the image store; retry, or remove the file if no gantry runs" };
    return withPidLockSync(
      join(this.root, "refs.lock"),
      () => {
        const refs = this.readRefs();
        const result = fn(refs);
        writeJsonAtomic(this.refsPath(), { version: 1, refs } satisfies RefsFile, 0o644);
        return result;
      },
      lock,
    );
  }

  setRef(name: string, record: RefRecord): void {
    this.updateRefs((refs) => {
      refs[name] = record;
    });
  }

  // ---- leases: protect in-flight content from a concurrent garbage collection ----

  async withLease<T>(fn: (lease: Lease) => Promise<T>): Promise<T> {
    const path = join(this.root, "leases", `${process.pid}-${randomBytes(6).toString("hex")}.json`);
    const lease = new Lease(path);
    try {
      return await fn(lease);
    } finally {
      try {
        unlinkSync(path);
      } catch {
        /* never written (nothing was added) or already gone */
      }
    }
  }

  /** Digests held by leases of live processes; stale lease files are removed. */
  leasedDigests(): Set<string> {
    const out = new Set<string>();
    const dir = join(this.root, "leases");
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue; // a lease being written (atomic rename pending)
      const pid = Number.parseInt(name.split("-")[0] ?? "", 10);
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code !== "ESRCH";
      }
      if (!alive) {
        try {
          unlinkSync(join(dir, name));
        } catch {
          /* already gone */
        }
        continue;
      }
      const held = readJsonIfExists<string[]>(join(dir, name)) ?? [];
      for (const d of held) out.add(d);
    }
    return out;
  }
}

export class Lease {
  private readonly held = new Set<string>();
  constructor(private readonly path: string) {}
  /** Marks blob digests or chain IDs as in use until the lease ends. */
  add(...ids: string[]): void {
    const before = this.held.size;
    for (const id of ids) this.held.add(id);
    if (this.held.size === before) return; // nothing new to write
    // Atomic, so a concurrent garbage collection never reads half a lease. Not fsynced: a
    // lease only matters while its process lives, and after a machine crash none does.
    writeJsonAtomic(this.path, [...this.held], 0o600, false);
  }
}
