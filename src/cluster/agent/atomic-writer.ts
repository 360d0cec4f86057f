// The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): the files of a configMap,
// secret, downwardAPI or projected volume change all at once, so a reader never sees half an
// update. The payload is written into a fresh timestamped directory, the `..data` symlink is
// swapped to it by a rename (atomic), and each top-level name is a symlink through `..data`:
//
//   <dir>/..2026_12_04_23_40_01.1234567/{key, sub/key2}   the current payload
//   <dir>/..data -> ..2026_12_04_23_40_01.1234567
//   <dir>/key -> ..data/key,   <dir>/sub -> ..data/sub
//
// A payload equal to what is there writes nothing. Paths are checked as the kubelet does: no
// absolute paths, no `..` element, none starting with `..`.
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { randomInt } from "node:crypto";
import { dirname, join } from "node:path";

export interface FileProjection {
  data: Buffer;
  mode: number;
}

export type Payload = Map<string, FileProjection>;

const DATA = "..data";
const DATA_TMP = "..data_tmp";

export class PayloadPathError extends Error {}

/** Throws when a payload path could escape the volume or collide with the writer's own names. */
export function checkPayloadPath(path: string): void {
  if (path === "") throw new PayloadPathError("invalid path: must not be empty");
  if (path.startsWith("/")) throw new PayloadPathError(`invalid path: must be relative path: ${path}`);
  if (path.split("/").includes("..")) throw new PayloadPathError(`invalid path: must not contain '..': ${path}`);
  if (path.startsWith("..")) throw new PayloadPathError(`invalid path: must not start with '..': ${path}`);
}

/** A new `..2026_12_04_23_40_01.<random digits>` directory (Go's MkdirTemp with the kubelet's pattern). */
function freshDir(dir: string): string {
  const d = new Date().toISOString(); // 2026-12-04T23:40:01.123Z
  const stamp = `..${d.slice(0, 10).replaceAll("-", "_")}_${d.slice(11, 19).replaceAll(":", "_")}.`;
  for (;;) {
    const p = join(dir, stamp + String(randomInt(1_000_000_000)));
    try {
      mkdirSync(p, { mode: 0o755 });
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** Whether the directory `..data` points at holds exactly this payload (contents and modes). */
function unchanged(dir: string, payload: Payload, fsGroup: number | undefined): boolean {
  const current = join(dir, DATA);
  if (!existsSync(current)) return false;
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(current, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else files.push(r);
    }
  };
  walk("");
  if (files.length !== payload.size) return false;
  for (const [path, f] of payload) {
    const p = join(current, path);
    if (!existsSync(p)) return false;
    const st = statSync(p);
    if ((st.mode & 0o7777) !== f.mode || (fsGroup !== undefined && st.gid !== fsGroup)) return false;
    if (!readFileSync(p).equals(f.data)) return false;
  }
  return true;
}

/** Writes the payload into dir (which exists); returns whether anything changed. */
export function writePayload(dir: string, payload: Payload, fsGroup?: number): boolean {
  for (const path of payload.keys()) checkPayloadPath(path);
  if (unchanged(dir, payload, fsGroup)) return false;
  const old = existsSync(join(dir, DATA)) ? readlinkSync(join(dir, DATA)) : undefined;
  const ts = freshDir(dir);
  for (const [path, f] of payload) {
    const p = join(ts, path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileSync(p, f.data, { mode: f.mode });
    // writeFile's mode passes through the umask: set it exactly.
    chmodSync(p, f.mode);
    if (fsGroup !== undefined) chownSync(p, 0, fsGroup);
  }
  if (fsGroup !== undefined) chownSync(ts, 0, fsGroup);
  rmSync(join(dir, DATA_TMP), { force: true });
  symlinkSync(ts.slice(dir.length + 1), join(dir, DATA_TMP));
  renameSync(join(dir, DATA_TMP), join(dir, DATA));
  // The user-visible names: one symlink per top-level entry through ..data; stale ones go.
  const top = new Set([...payload.keys()].map((p) => p.split("/")[0]!));
  for (const name of top) {
    const link = join(dir, name);
    if (isSymlink(link) && readlinkSync(link) === join(DATA, name)) continue;
    rmSync(link, { force: true, recursive: true });
    symlinkSync(join(DATA, name), link);
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith("..") || top.has(name)) continue;
    if (isSymlink(join(dir, name))) unlinkSync(join(dir, name));
  }
  if (old && old !== ts.slice(dir.length + 1)) rmSync(join(dir, old), { recursive: true, force: true });
  return true;
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
