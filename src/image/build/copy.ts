// COPY and ADD from the build context: parsing the flags, hashing what is copied (the cache
// key covers content and metadata, not mtimes) and copying it into a mounted rootfs. Paths
// may not leave the context, and a destination that resolves outside the rootfs (an
// absolute symlink inside the image) is refused rather than followed onto the host; cp
// replaces an existing destination file or symlink instead of writing through it.
import { spawnSync } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { GantryError } from "../../common/errors.ts";
import { parseJsonForm, splitFlags, splitWords } from "./parse.ts";

export interface CopySpec {
  instruction: "COPY" | "ADD";
  sources: string[];
  dest: string;
  chown?: string;
}

export function parseCopy(instruction: "COPY" | "ADD", args: string, where: string): CopySpec {
  const { flags, rest } = splitFlags(args);
  for (const f of Object.keys(flags)) {
    if (f !== "chown") throw new GantryError("UNSUPPORTED_OPTION", `${where}: ${instruction} --${f} is not supported`);
  }
  const words = parseJsonForm(rest) ?? splitWords(rest);
  if (words.length < 2) throw new GantryError("INVALID_ARGUMENT", `${where}: ${instruction} needs a source and a destination`);
  const sources = words.slice(0, -1);
  for (const s of sources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw new GantryError("UNSUPPORTED_OPTION", `${where}: ${instruction} from a URL (${s}) is not supported; download it into the build context`);
  }
  if (flags.chown !== undefined && !/^\d+(:\d+)?$/.test(flags.chown)) {
    throw new GantryError("UNSUPPORTED_OPTION", `${where}: --chown takes numeric uid[:gid], not ${flags.chown}`);
  }
  return { instruction, sources, dest: words[words.length - 1] ?? "", chown: flags.chown };
}

function contextPath(contextDir: string, src: string, where: string): string {
  const ctx = resolve(contextDir);
  const p = resolve(ctx, src.replace(/^\/+/, ""));
  if (p !== ctx && !p.startsWith(`${ctx}/`)) throw new GantryError("INVALID_ARGUMENT", `${where}: ${src} is outside the build context`);
  if (!existsSync(p)) throw new GantryError("NOT_FOUND", `${where}: ${src} is not in the build context`, { path: p });
  return p;
}

function hashTree(hash: Hash, path: string, rel: string): void {
  const st = lstatSync(path);
  hash.update(`${rel}\0${st.mode}\0`);
  if (st.isSymbolicLink()) hash.update(`link:${readlinkSync(path)}\0`);
  else if (st.isFile()) hash.update(readFileSync(path)).update("\0");
  else if (st.isDirectory()) for (const e of readdirSync(path).sort()) hashTree(hash, join(path, e), `${rel}/${e}`);
}

/** A digest of everything the step copies: names, modes, link targets and contents. */
export async function digestSources(contextDir: string, spec: CopySpec, where: string): Promise<string> {
  const hash = createHash("sha256");
  for (const s of spec.sources) hashTree(hash, contextPath(contextDir, s, where), s);
  return `sha256:${hash.digest("hex")}`;
}

function isTarArchive(path: string): boolean {
  return /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tbz2|tar\.zst)$/.test(path) && statSync(path).isFile();
}

function run(argv: string[], where: string): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new GantryError("SYSCALL_FAILED", `${where}: ${argv.join(" ")} failed: ${(r.stderr || r.error?.message || "").trim()}`);
}

/** The host path of `dest` inside the mounted rootfs, refusing one that resolves outside. */
function rootfsPath(root: string, dest: string, where: string): string {
  const target = join(root, dest);
  let existing = target;
  while (!existsSync(existing) && existing !== root) existing = dirname(existing);
  const real = realpathSync(existing);
  const realRoot = realpathSync(root);
  if (real !== realRoot && !real.startsWith(`${realRoot}/`)) {
    throw new GantryError("UNSUPPORTED_OPTION", `${where}: destination ${dest} resolves through a symlink outside the image (${relative(realRoot, real)})`);
  }
  return target;
}

export async function copyIntoRootfs(root: string, contextDir: string, spec: CopySpec, workdir: string, where: string): Promise<void> {
  const destAbs = spec.dest.startsWith("/") ? spec.dest : join(workdir, spec.dest);
  const intoDir = spec.dest.endsWith("/") || spec.sources.length > 1;
  const owner = spec.chown ? (spec.chown.includes(":") ? spec.chown : `${spec.chown}:${spec.chown}`) : "0:0";
  const target = rootfsPath(root, destAbs, where);
  for (const s of spec.sources) {
    const src = contextPath(contextDir, s, where);
    const st = statSync(src);
    if (spec.instruction === "ADD" && isTarArchive(src)) {
      mkdirSync(target, { recursive: true });
      // Extracted archives keep their own owners (as Docker does); --chown is not applied.
      run(["tar", "-x", "--no-same-permissions", "-p", "--numeric-owner", "-C", target, "-f", src], where);
      continue;
    }
    if (st.isDirectory()) {
      mkdirSync(target, { recursive: true });
      for (const e of readdirSync(src)) {
        run(["cp", "-a", "--no-dereference", "--remove-destination", join(src, e), target], where);
        run(["chown", "-R", "-h", owner, join(target, e)], where);
      }
    } else {
      const file = intoDir || (existsSync(target) && statSync(target).isDirectory()) ? join(target, basename(src)) : target;
      mkdirSync(dirname(file), { recursive: true });
      run(["cp", "-a", "--no-dereference", "--remove-destination", src, file], where);
      run(["chown", "-h", owner, file], where);
    }
  }
}
