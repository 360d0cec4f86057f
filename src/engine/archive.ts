// `docker cp`: /containers/{id}/archive HEAD (stat), GET (a tar of a path) and PUT (extract a
// tar into a directory), on the container's mounted root filesystem. Paths are resolved inside
// the root the way the container sees them: symlinks are followed but can never leave it
// (a `..` or an absolute link target is taken relative to the container's root).
import { lstatSync, readlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import { basename, dirname, join, posix } from "node:path";
import type { Readable, Writable } from "node:stream";
import { GantryError, invalidArgument, notFound } from "../common/errors.ts";

/** Resolves `path` inside `root`, following symlinks as if `root` were "/". */
export function resolveInRoot(root: string, path: string, followLast = true): string {
  const parts = posix.normalize(`/${path}`).split("/").filter(Boolean);
  let resolved: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    if (part === ".") continue;
    const candidate = join(root, ...resolved, part);
    let st;
    try {
      st = lstatSync(candidate);
    } catch {
      resolved.push(part);
      continue;
    }
    if (st.isSymbolicLink() && (parts.length > 0 || followLast)) {
      if (++hops > 40) throw invalidArgument(`too many levels of symbolic links in ${path}`);
      const target = readlinkSync(candidate);
      if (target.startsWith("/")) resolved = [];
      parts.unshift(...target.split("/").filter(Boolean));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

export function statArchive(root: string, path: string) {
  if (!path) throw invalidArgument("path is required");
  const p = resolveInRoot(root, path, false);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    throw notFound(`Could not find the file ${path} in container`);
  }
  const typeBits = st.isDirectory() ? 0x80000000 : st.isSymbolicLink() ? 0x08000000 : 0;
  return {
    name: basename(p),
    size: st.size,
    mode: ((st.mode & 0o7777) | typeBits) >>> 0,
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? readlinkSync(p) : "",
  };
}

function runTar(args: string[], input: Readable | undefined, output: Writable | undefined, as?: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", args, { stdio: [input ? "pipe" : "ignore", output ? "pipe" : "ignore", "pipe"], ...(as ?? {}) });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    if (input && child.stdin) input.pipe(child.stdin);
    if (output && child.stdout) child.stdout.pipe(output, { end: false });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new GantryError("INTERNAL", `tar ${args[0]} failed: ${err.trim()}`))));
  });
}

export async function getArchive(root: string, path: string, res: Writable & { writeHead?: (s: number, h: Record<string, string>) => void }): Promise<void> {
  const stat = statArchive(root, path);
  const p = resolveInRoot(root, path, false);
  res.writeHead?.(200, {
    "Content-Type": "application/x-tar",
    "X-Docker-Container-Path-Stat": Buffer.from(JSON.stringify(stat)).toString("base64"),
  });
  await runTar(["-c", "-f", "-", "--numeric-owner", "-C", dirname(p), basename(p)], undefined, res);
  res.end();
}

/**
 * Extracts a tar into the container at `path`. `owner`: a user-namespaced container's root on
 * the host — tar runs as it and every file is its (dockerd gives them the remapped root pair
 * the same way), so the container's root owns what `docker cp` put there.
 */
export async function putArchive(root: string, path: string, body: Readable, owner?: { uid: number; gid: number }): Promise<void> {
  const p = resolveInRoot(root, path);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    throw notFound(`Could not find the file ${path} in container`);
  }
  if (!st.isDirectory()) throw invalidArgument(`extraction point is not a directory: ${path}`);
  // --no-overwrite-dir keeps existing directories' modes; tar refuses ../ and strips leading /.
  const ownership = owner ? ["--no-same-owner"] : ["--numeric-owner"];
  await runTar(["-x", "-f", "-", "--no-overwrite-dir", ...ownership, "-C", p], body, undefined, owner);
}
