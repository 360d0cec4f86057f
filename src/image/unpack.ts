// Unpacks one layer tar into an empty directory (the layer's own diff, an overlay lowerdir),
// refusing hostile entries. The safety rules, checked for every entry before anything is
// written:
//   - a name is split into components; `..` anywhere is refused; a leading `/` or `./` means
//     the layer root (as Docker reads it), so an absolute name cannot leave the snapshot;
//   - every parent component is walked from the root with lstat, never following a
//     symlink: a path through a symlink is refused, a missing parent is created as a dir;
//   - the final component is never opened through a symlink (O_NOFOLLOW|O_EXCL after
//     removing what was there), and a non-symlink entry that would replace a symlink made
//     earlier in the layer is refused (the classic "symlink, then write through it");
//   - a hardlink's target obeys the same rules, must already exist in this layer and is
//     linked with link(2), which does not follow symlinks.
// Whiteouts become overlayfs whiteouts: `.wh.NAME` → char device 0:0 NAME, `.wh..wh..opq` →
// xattr trusted.overlay.opaque=y on the directory. Node has no mknod(2) or setxattr(2), so
// the (rare) device nodes, whiteouts and xattrs go through mknod(1) and setfattr(1), each
// given a path whose parents were checked as above.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, openSync, writeSync, linkSync, lstatSync, lutimesSync, lchownSync, chmodSync, mkdirSync, rmSync, symlinkSync, utimesSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import type { Header } from "tar-stream";
import { GantryError } from "../common/errors.ts";
import type { Digest } from "./digest.ts";
import { PaxXattrScanner } from "./_pax-scan.ts";

/** tar-stream passes PAX records (xattrs among them) on the header; its types omit them. */
export type TarHeaders = Omit<Header, "pax" | "type"> & { type?: string; pax?: Record<string, string> | null };

export interface UnpackOptions {
  /** Apply the uid/gid recorded in the layer (default: when running as root). */
  preserveOwners?: boolean;
  /** Called for entries that were skipped with a reason (e.g. a binary xattr). */
  onWarning?: (message: string) => void;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream: the layer's DiffID. */
  diffId: Digest;
  entries: number;
}

const smallFile = 1 << 20;

const hostile = (message: string, path?: string) =>
  new GantryError("INVALID_LAYER", message, { path, hint: "the layer is malformed or hostile; nothing outside the snapshot was written" });

/** Splits a tar entry name into safe components ([] is the layer root). */
export function entryComponents(name: string): string[] {
  if (name.includes("\0")) throw hostile(`layer entry name contains a NUL byte`, name);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw hostile(`layer entry "${name}" has a ".." component`, name);
  return parts;
}

interface DeferredDir {
  path: string;
  mode: number;
  mtime: Date;
}

class LayerWriter {
  private readonly knownDirs = new Set<string>([""]);
  private readonly deferred: DeferredDir[] = [];
  entries = 0;

  constructor(
    private readonly root: string,
    private readonly opts: Required<Pick<UnpackOptions, "preserveOwners">> & UnpackOptions,
    private readonly rawXattrs?: Map<number, { path: string; values: Map<string, Buffer> }>,
  ) {}

  /** Walks (and creates) the parent directories of `parts` without following symlinks;
   * returns the absolute path of the parent. */
  private resolveParent(parts: string[], entryName: string, create = true): string {
    let rel = "";
    for (const p of parts) {
      rel = rel === "" ? p : `${rel}/${p}`;
      if (this.knownDirs.has(rel)) continue;
      const abs = join(this.root, rel);
      let st: Stats | undefined;
      try {
        st = lstatSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      if (st === undefined) {
        if (!create) throw hostile(`layer entry "${entryName}": "${rel}" does not exist in this layer`, entryName);
        mkdirSync(abs, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw hostile(`layer entry "${entryName}" goes through the symlink "${rel}"`, entryName);
      } else if (!st.isDirectory()) {
        throw hostile(`layer entry "${entryName}": "${rel}" is not a directory`, entryName);
      }
      this.knownDirs.add(rel);
    }
    return rel === "" ? this.root : join(this.root, rel);
  }

  /** Clears the way for a new entry at `abs`; returns true when a directory stays (dir over dir). */
  private prepareTarget(abs: string, rel: string, type: string, entryName: string): boolean {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    if (st.isDirectory() && type === "directory") return true;
    if (st.isSymbolicLink() && type !== "symlink") {
      throw hostile(`layer entry "${entryName}" (${type}) would write through the symlink "${rel}" made earlier in the layer`, entryName);
    }
    if (st.isDirectory()) {
      // Replacing a directory invalidates what we know about paths below it.
      this.knownDirs.clear();
      this.knownDirs.add("");
    }
    rmSync(abs, { recursive: true, force: true });
    return false;
  }

  private chown(abs: string, uid: number, gid: number): void {
    if (this.opts.preserveOwners) lchownSync(abs, uid, gid);
  }

  private mknod(abs: string, kind: "c" | "b" | "p", major = 0, minor = 0): void {
    const args = kind === "p" ? [abs, "p"] : [abs, kind, String(major), String(minor)];
    const r = spawnSync("mknod", args, { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new GantryError("SYSCALL_FAILED", `mknod ${abs} failed: ${(r.stderr || r.error?.message || "").trim()}`, {
        path: abs,
        step: "mknod",
        hint: r.error ? "install coreutils (mknod)" : "device nodes need root (CAP_MKNOD)",
      });
    }
  }

  private setXattr(abs: string, name: string, value: Buffer): void {
    const r = spawnSync("setfattr", ["-h", "-n", name, "-v", `0s${value.toString("base64")}`, abs], { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new GantryError("SYSCALL_FAILED", `setxattr ${name} on ${abs} failed: ${(r.stderr || r.error?.message || "").trim()}`, {
        path: abs,
        step: "setxattr",
        hint: r.error ? "install the attr package (setfattr)" : "trusted.* xattrs need root",
      });
    }
  }

  private applyXattrs(abs: string, header: TarHeaders): void {
    const pax = header.pax;
    if (!pax) return;
    for (const [key, value] of Object.entries(pax as Record<string, string>)) {
      let name: string | undefined;
      let bytes: Buffer | undefined;
      if (key.startsWith("SCHILY.xattr.")) {
        name = key.slice("SCHILY.xattr.".length);
        // tar-stream decodes PAX values as UTF-8; the scanner kept the raw bytes.
        const raw = this.rawXattrs?.get(this.entries - 1);
        // Used only when the scanner saw this very entry (same path).
        if (raw && raw.path.replace(/\/$/, "") === header.name.replace(/\/$/, "")) bytes = raw.values.get(name);
        if (bytes === undefined) {
          if (value.includes("\uFFFD")) {
            this.opts.onWarning?.(`xattr ${name} on ${header.name} has a binary value that cannot be restored: skipped`);
            continue;
          }
          bytes = Buffer.from(value, "utf8");
        }
      } else if (key.startsWith("LIBARCHIVE.xattr.")) {
        name = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
        bytes = Buffer.from(value, "base64");
      }
      if (name === undefined || bytes === undefined) continue;
      if (name.startsWith("trusted.overlay.")) {
        // Only our whiteout conversion may set overlay's own xattrs (redirect/origin would
        // let a layer point overlayfs at other paths).
        throw hostile(`layer entry "${header.name}" carries the overlayfs xattr ${name}`, header.name);
      }
      this.setXattr(abs, name, bytes);
    }
  }

  async add(header: TarHeaders, body: Readable): Promise<void> {
    this.entries++;
    const parts = entryComponents(header.name);
    const type = header.type ?? "file";
    const mtime = header.mtime ?? new Date(0);
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mode = (header.mode ?? 0o644) & 0o7777;

    if (parts.length === 0) {
      // "./": the layer root's own metadata.
      if (type !== "directory") throw hostile(`layer root entry "${header.name}" is a ${type}, not a directory`, header.name);
      this.chown(this.root, uid, gid);
      this.deferred.push({ path: this.root, mode, mtime });
      return;
    }
    const base = parts[parts.length - 1] as string;
    const parentParts = parts.slice(0, -1);

    if (base.startsWith(".wh.")) {
      const parent = this.resolveParent(parentParts, header.name);
      if (base === ".wh..wh..opq") {
        this.setXattr(parent, "trusted.overlay.opaque", Buffer.from("y"));
        return;
      }
      if (base.startsWith(".wh..wh.")) return; // aufs bookkeeping (.wh..wh.plnk etc.)
      const hidden = base.slice(".wh.".length);
      if (hidden === "" || hidden === "." || hidden === "..") throw hostile(`invalid whiteout "${header.name}"`, header.name);
      const abs = join(parent, hidden);
      this.prepareTarget(abs, [...parentParts, hidden].join("/"), "whiteout", header.name);
      this.mknod(abs, "c", 0, 0);
      return;
    }

    const parent = this.resolveParent(parentParts, header.name);
    const rel = parts.join("/");
    const abs = join(parent, base);
    const keepDir = this.prepareTarget(abs, rel, type, header.name);

    switch (type) {
      case "file":
      case "contiguous-file": {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        if ((header.size ?? 0) <= smallFile) {
          // Most layer files are small: buffer them and write with synchronous fd calls,
          // which costs far less than a thread-pool round trip per syscall.
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk as Buffer);
          const fd = openSync(abs, flags, 0o600);
          try {
            const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
            for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
            if (this.opts.preserveOwners) fchownSync(fd, uid, gid);
            fchmodSync(fd, mode); // after chown, which clears setuid/setgid
            futimesSync(fd, mtime, mtime);
          } finally {
            closeSync(fd);
          }
        } else {
          const fh = await open(abs, flags, 0o600);
          try {
            for await (const chunk of body) await fh.write(chunk as Buffer);
            if (this.opts.preserveOwners) await fh.chown(uid, gid);
            await fh.chmod(mode);
            await fh.utimes(mtime, mtime);
          } finally {
            await fh.close();
          }
        }
        this.applyXattrs(abs, header);
        return;
      }
      case "directory":
        if (!keepDir) mkdirSync(abs, { mode: 0o700 });
        this.knownDirs.add(rel);
        this.chown(abs, uid, gid);
        this.applyXattrs(abs, header);
        this.deferred.push({ path: abs, mode, mtime });
        return;
      case "symlink":
        if (!header.linkname) throw hostile(`symlink "${header.name}" has no target`, header.name);
        symlinkSync(header.linkname, abs);
        this.chown(abs, uid, gid);
        this.applyXattrs(abs, header);
        lutimesSync(abs, mtime, mtime);
        return;
      case "link": {
        const target = entryComponents(header.linkname ?? "");
        if (target.length === 0) throw hostile(`hardlink "${header.name}" has no target`, header.name);
        const targetParent = this.resolveParent(target.slice(0, -1), header.name, false);
        const targetAbs = join(targetParent, target[target.length - 1] as string);
        let st: Stats;
        try {
          st = lstatSync(targetAbs);
        } catch {
          throw hostile(`hardlink "${header.name}" points at "${header.linkname}", which is not in this layer`, header.name);
        }
        if (st.isDirectory()) throw hostile(`hardlink "${header.name}" points at a directory`, header.name);
        linkSync(targetAbs, abs);
        return;
      }
      case "character-device":
      case "block-device":
        this.mknod(abs, type === "character-device" ? "c" : "b", header.devmajor ?? 0, header.devminor ?? 0);
        this.chown(abs, uid, gid);
        chmodSync(abs, mode);
        utimesSync(abs, mtime, mtime);
        this.applyXattrs(abs, header);
        return;
      case "fifo":
        this.mknod(abs, "p");
        this.chown(abs, uid, gid);
        chmodSync(abs, mode);
        utimesSync(abs, mtime, mtime);
        return;
      default:
        throw hostile(`layer entry "${header.name}" has unsupported type ${type}`, header.name);
    }
  }

  /** Directory modes and times last: creating children changes a directory's mtime, and a
   * read-only directory mode must not stop its own children from being written. In entry
   * order, so a directory listed twice gets its last entry's metadata. */
  finish(): void {
    for (const d of this.deferred) {
      chmodSync(d.path, d.mode);
      utimesSync(d.path, d.mtime, d.mtime);
    }
  }
}

/** Unpacks an uncompressed tar stream into `root` (which should be an empty directory). */
export async function unpackLayer(tarStream: Readable, root: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const scanner = new PaxXattrScanner();
  const writer = new LayerWriter(root, { preserveOwners: opts.preserveOwners ?? process.getuid?.() === 0, ...opts }, scanner.xattrs);
  const hash = createHash("sha256");
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const consume = (async () => {
    for await (const entry of extract) {
      await writer.add(entry.header as TarHeaders, entry as unknown as Readable);
      entry.resume(); // drain what a non-file entry carried
    }
  })();
  try {
    await Promise.all([pipeline(tarStream, hasher, scanner, extract), consume]);
  } catch (err) {
    extract.destroy();
    tarStream.destroy();
    await consume.catch(() => undefined);
    throw err;
  }
  writer.finish();
  return { diffId: `sha256:${hash.digest("hex")}`, entries: writer.entries };
}
