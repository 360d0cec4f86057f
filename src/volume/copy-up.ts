// Docker's copy-up: when a new, empty volume is mounted over a path the image has content
// at, the content is copied into the volume first, with owners, modes and times kept.
// Nothing is followed: symlinks are copied as symlinks, the walk never leaves `src`.
import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import type { Stats } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../common/errors.ts";

function fail(op: string, path: string, err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  throw new GantryError("SYSCALL_FAILED", `copy-up: ${op} ${path}: ${e.message}`, {
    path,
    errno: e.code,
    step: `copy-up ${op}`,
    cause: err,
  });
}

async function applyOwnerModeTimes(path: string, st: Stats, isLink: boolean): Promise<void> {
  try {
    await fsp.lchown(path, st.uid, st.gid);
    // chmod after chown: chown clears setuid/setgid bits.
    if (!isLink) await fsp.chmod(path, st.mode & 0o7777);
    await fsp.lutimes(path, st.atime, st.mtime);
  } catch (err) {
    fail("set owner/mode of", path, err);
  }
}

/** Copies the tree at `src` into the existing directory `dst` (the volume's _data). */
export async function copyUp(src: string, dst: string): Promise<void> {
  const rootSt = await fsp.lstat(src).catch((err: unknown) => fail("stat", src, err));
  if (!rootSt.isDirectory())
    throw new GantryError("INVALID_ARGUMENT", `copy-up source ${src} is not a directory`, { path: src });
  const links = new Map<string, string>(); // "dev:ino" of multiply-linked files -> first copy
  const dirs: Array<[string, Stats]> = [[dst, rootSt]];
  const walk = async (from: string, to: string): Promise<void> => {
    for (const name of await fsp.readdir(from)) {
      const s = join(from, name);
      const d = join(to, name);
      const st = await fsp.lstat(s);
      if (st.isDirectory()) {
        await fsp.mkdir(d).catch((err: unknown) => fail("mkdir", d, err));
        await walk(s, d);
        dirs.push([d, st]); // times of directories last: adding entries changes them
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (!st.isDirectory() && st.nlink > 1 && links.has(key)) {
        await fsp.link(links.get(key)!, d).catch((err: unknown) => fail("link", d, err));
        continue;
      }
      if (st.isFile()) {
        await fsp.copyFile(s, d).catch((err: unknown) => fail("copy", s, err));
        await applyOwnerModeTimes(d, st, false);
      } else if (st.isSymbolicLink()) {
        await fsp.symlink(await fsp.readlink(s), d).catch((err: unknown) => fail("symlink", d, err));
        await applyOwnerModeTimes(d, st, true);
      } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
        // Node has no mknod(2); the coreutils tool makes the node, then owner and mode are set.
        const args = st.isFIFO()
          ? [d, "p"]
          : [
              d,
              st.isCharacterDevice() ? "c" : "b",
              String(Math.floor(st.rdev / 256) & 0xfff),
              String((st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)),
            ];
        const r = spawnSync("mknod", args, { encoding: "utf8" });
        if (r.status !== 0)
          throw new GantryError("SYSCALL_FAILED", `copy-up: mknod ${d}: ${r.stderr.trim()}`, { path: d });
        await applyOwnerModeTimes(d, st, false);
      } else {
        continue; // sockets are not content
      }
      if (st.nlink > 1) links.set(key, d);
    }
  };
  await walk(src, dst);
  for (const [d, st] of dirs) await applyOwnerModeTimes(d, st, false);
}

/**
 * The host path of `path` inside `rootfs`, resolving symlinks as the container would see
 * them (an absolute link target is relative to rootfs; ".." stops at rootfs), or undefined
 * when it does not exist. Used to find the image content under a volume's target.
 */
export async function resolveInRoot(rootfs: string, path: string): Promise<string | undefined> {
  const pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = join(rootfs, ...resolved, part);
    let st: Stats;
    try {
      st = await fsp.lstat(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = await fsp.readlink(host);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    resolved.push(part);
  }
  return join(rootfs, ...resolved);
}
