// The reverse of unpack: a directory tree becomes a layer tar. Two modes:
//   "rootfs"         every file as it is (export of a container's merged filesystem);
//   "overlay-upper"  an overlayfs upper directory becomes a layer diff: a char 0:0 device is
//                    a whiteout (`.wh.NAME`) and a directory with trusted.overlay.opaque=y
//                    gets a `.wh..wh..opq` entry (what `docker commit` and build steps need).
// Entries are sorted (parents first) so the same tree gives the same tar, hardlinks are
// recorded once per inode, and sockets are skipped. Only the opaque xattr is carried;
// other xattrs are not packed yet.
import { spawnSync } from "node:child_process";
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { GantryError } from "../common/errors.ts";

export type PackMode = "rootfs" | "overlay-upper";

type Pack = ReturnType<typeof tar.pack>;

const major = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
const minor = (rdev: number) => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);

/** Directories (relative) carrying trusted.overlay.opaque=y, found with one getfattr run. */
function opaqueDirs(root: string): Set<string> {
  const r = spawnSync("getfattr", ["-R", "-h", "--absolute-names", "-n", "trusted.overlay.opaque", root], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new GantryError("KERNEL_FEATURE_MISSING", `getfattr: ${r.error.message}`, { hint: "install the attr package" });
  const out = new Set<string>();
  let current: string | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) current = line.slice("# file: ".length);
    else if (current !== undefined && /^trusted\.overlay\.opaque="y"$/.test(line)) {
      out.add(current === root ? "" : current.slice(root.length + 1));
    }
  }
  return out;
}

function entry(pack: Pack, header: Parameters<Pack["entry"]>[0]): Promise<void> {
  // A "file" entry without a buffer waits for its body: whiteout markers are empty files.
  return new Promise((resolve, reject) =>
    header.type === "file" ? pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())) : pack.entry(header, (err) => (err ? reject(err) : resolve())),
  );
}

export async function packDirectory(root: string, out: Writable, mode: PackMode = "rootfs"): Promise<{ entries: number }> {
  const opaque = mode === "overlay-upper" ? opaqueDirs(root) : new Set<string>();
  const inodes = new Map<string, string>();
  const pack = tar.pack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, out);
  let entries = 0;

  const base = (st: Stats, name: string) => ({ name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime });

  const walk = async (rel: string): Promise<void> => {
    const dir = rel === "" ? root : join(root, rel);
    if (opaque.has(rel)) {
      const st = lstatSync(dir);
      await entry(pack, { ...base(st, rel === "" ? ".wh..wh..opq" : `${rel}/.wh..wh..opq`), type: "file", size: 0, mode: 0o644 });
      entries++;
    }
    for (const name of readdirSync(dir).sort()) {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      const st = lstatSync(abs);
      if (mode === "overlay-upper" && st.isCharacterDevice() && st.rdev === 0) {
        const parent = rel === "" ? "" : `${rel}/`;
        await entry(pack, { ...base(st, `${parent}.wh.${name}`), type: "file", size: 0 });
        entries++;
        continue;
      }
      entries++;
      if (st.isDirectory()) {
        await entry(pack, { ...base(st, `${relPath}/`), type: "directory" });
        await walk(relPath);
      } else if (st.isSymbolicLink()) {
        await entry(pack, { ...base(st, relPath), type: "symlink", linkname: readlinkSync(abs) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await entry(pack, { ...base(st, relPath), type: "link", linkname: first });
          continue;
        }
        if (st.nlink > 1) inodes.set(key, relPath);
        const sink = pack.entry({ ...base(st, relPath), type: "file", size: st.size });
        await pipeline(createReadStream(abs), sink as unknown as NodeJS.WritableStream);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await entry(pack, { ...base(st, relPath), type: st.isCharacterDevice() ? "character-device" : "block-device", devmajor: major(st.rdev), devminor: minor(st.rdev) });
      } else if (st.isFIFO()) {
        await entry(pack, { ...base(st, relPath), type: "fifo" });
      } else {
        entries--; // sockets cannot be archived
      }
    }
  };
  try {
    await walk("");
    pack.finalize();
    await done;
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  }
  return { entries };
}
