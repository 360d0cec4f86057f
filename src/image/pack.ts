// The reverse of unpack: a directory tree becomes a layer tar. Two modes:
//   "rootfs"         every file as it is (export of a container's merged filesystem);
//   "overlay-upper"  an overlayfs upper directory becomes a layer diff: a char 0:0 device is
//                    a whiteout (`.wh.NAME`) and a directory with trusted.overlay.opaque=y
//                    gets a `.wh..wh..opq` entry (what `docker commit` and build steps need).
// Entries are sorted (parents first) so the same tree gives the same tar, hardlinks are
// recorded once per inode, sockets are skipped, and xattrs (file capabilities among them)
// are carried as raw PAX records, read with one `getfattr -R` run over the tree.
import { spawnSync } from "node:child_process";
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { GantryError } from "../common/errors.ts";
import { TarWriter, type TarWriterEntry } from "./_tar-writer.ts";

export type PackMode = "rootfs" | "overlay-upper";

const major = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
const minor = (rdev: number) => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);

/** getfattr escapes unusual bytes in paths as \\ooo. */
const unescapePath = (p: string) => Buffer.from(p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8))), "latin1").toString("utf8");

function decodeValue(v: string): Buffer {
  if (v.startsWith("0s")) return Buffer.from(v.slice(2), "base64");
  if (v.startsWith("0x")) return Buffer.from(v.slice(2), "hex");
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(v.slice(1, -1), "utf8");
  return Buffer.from(v, "utf8");
}

/** Every xattr under `root` (relative path → name → value), from one getfattr run. */
export function readXattrs(root: string): Map<string, Map<string, Buffer>> {
  const r = spawnSync("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "base64", "--absolute-names", root], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error) throw new GantryError("KERNEL_FEATURE_MISSING", `getfattr: ${r.error.message}`, { hint: "install the attr package" });
  const out = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const abs = unescapePath(line.slice("# file: ".length));
      const rel = abs === root ? "" : abs.slice(root.length + 1);
      current = new Map();
      out.set(rel, current);
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      current.set(line.slice(0, eq), decodeValue(line.slice(eq + 1)));
    }
  }
  return out;
}

/** Owners as the tar should record them: a user-namespaced container's upper dir holds host
 * ids, which a committed layer must carry as the container saw them. */
export type OwnerMap = (uid: number, gid: number) => { uid: number; gid: number };

export async function packDirectory(root: string, out: Writable, mode: PackMode = "rootfs", owners?: OwnerMap): Promise<{ entries: number }> {
  const xattrs = readXattrs(root);
  const inodes = new Map<string, string>();
  const tar = new TarWriter(out);
  let entries = 0;

  const carried = (rel: string): Map<string, Buffer> | undefined => {
    const all = xattrs.get(rel);
    if (!all) return undefined;
    // overlayfs' own xattrs describe this upper dir, not the files; SELinux labels are the host's.
    const kept = new Map([...all].filter(([k]) => !k.startsWith("trusted.overlay.") && k !== "security.selinux"));
    return kept.size ? kept : undefined;
  };
  const base = (st: Stats, name: string, rel: string): Omit<TarWriterEntry, "type"> => ({
    name,
    mode: st.mode & 0o7777,
    ...(owners ? owners(st.uid, st.gid) : { uid: st.uid, gid: st.gid }),
    mtime: st.mtime,
    xattrs: carried(rel),
  });

  const walk = async (rel: string): Promise<void> => {
    const dir = rel === "" ? root : join(root, rel);
    if (mode === "overlay-upper" && xattrs.get(rel)?.get("trusted.overlay.opaque")?.toString() === "y") {
      const st = lstatSync(dir);
      await tar.add({ name: rel === "" ? ".wh..wh..opq" : `${rel}/.wh..wh..opq`, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: st.mtime, size: 0 });
      entries++;
    }
    for (const name of readdirSync(dir).sort()) {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      const st = lstatSync(abs);
      if (mode === "overlay-upper" && st.isCharacterDevice() && st.rdev === 0) {
        await tar.add({ name: `${rel === "" ? "" : `${rel}/`}.wh.${name}`, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: st.mtime, size: 0 });
        entries++;
        continue;
      }
      if (st.isSocket()) continue; // sockets cannot be archived
      entries++;
      if (st.isDirectory()) {
        await tar.add({ ...base(st, relPath, relPath), type: "directory" });
        await walk(relPath);
      } else if (st.isSymbolicLink()) {
        await tar.add({ ...base(st, relPath, relPath), type: "symlink", linkname: readlinkSync(abs) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await tar.add({ ...base(st, relPath, relPath), type: "link", linkname: first, xattrs: undefined });
          continue;
        }
        if (st.nlink > 1) inodes.set(key, relPath);
        await tar.add({ ...base(st, relPath, relPath), type: "file", size: st.size }, st.size > 0 ? createReadStream(abs) : undefined);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await tar.add({ ...base(st, relPath, relPath), type: st.isCharacterDevice() ? "character-device" : "block-device", devmajor: major(st.rdev), devminor: minor(st.rdev) });
      } else if (st.isFIFO()) {
        await tar.add({ ...base(st, relPath, relPath), type: "fifo" });
      }
    }
  };
  try {
    await walk("");
    await tar.finish();
  } catch (err) {
    out.destroy(err as Error);
    throw err;
  }
  return { entries };
}
