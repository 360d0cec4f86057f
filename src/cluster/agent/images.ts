// Images for pods, from the engine's own store (the agent is its only writer, being the
// engine): the sandbox image made locally from the static gantry-pause binary, and
// imagePullPolicy for the pods' images — Never uses what is there, IfNotPresent pulls only
// when missing, Always pulls each time a container starts.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { GantryError } from "../../common/errors.ts";
import { importRootfs, pullImage, resolveImage } from "../../image/mod.ts";
import { findHelper } from "../../runtime/index.ts";
import type { Engine } from "../../engine/index.ts";
import type { Container } from "./pod-types.ts";

/** Why an image is not there, with the kubelet's waiting reason (ErrImagePull, ErrImageNeverPull). */
export class ImageError extends Error {
  constructor(
    readonly reason: "ErrImagePull" | "ErrImageNeverPull" | "InvalidImageName",
    message: string,
  ) {
    super(message);
  }
}

export function pauseBinary(): string {
  const p = join(dirname(findHelper()), "gantry-pause");
  if (!existsSync(p)) {
    throw new GantryError("INTERNAL", `the pod sandbox binary ${p} is not built`, { hint: "run make -C native (scripts/install-deps.sh does)" });
  }
  return p;
}

/**
 * The sandbox image: gantry-pause alone in one layer, named after the binary's digest, made in
 * the engine's store the first time it is needed (no registry, nothing to pull).
 */
export async function ensurePauseImage(engine: Engine): Promise<string> {
  const bin = pauseBinary();
  const digest = createHash("sha256").update(readFileSync(bin)).digest("hex").slice(0, 12);
  const name = `gantry.local/pause:${digest}`;
  try {
    resolveImage(engine.images, name);
    return name;
  } catch {
    // Not there yet: make it.
  }
  const work = mkdtempSync(join(tmpdir(), "gantry-pause-"));
  try {
    const root = join(work, "rootfs");
    mkdirSync(root);
    copyFileSync(bin, join(root, "pause"));
    const tar = join(work, "layer.tar");
    const r = spawnSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", root, "-cf", tar, "pause"], { encoding: "utf8" });
    if (r.status !== 0) throw new GantryError("INTERNAL", `making the pause image: tar failed: ${r.stderr || r.error?.message}`);
    await importRootfs(engine.images, tar, { name, changes: ['ENTRYPOINT ["/pause"]'], message: "gantry pod sandbox" });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return name;
}

function present(engine: Engine, image: string): boolean {
  try {
    resolveImage(engine.images, image);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the container's image present by its pull policy and returns the reference to create
 * from. `warn` hears of an Always pull that failed while a local copy exists, which is then
 * used (a choice for offline one-node clusters; the kubelet would fail with ErrImagePull).
 */
export async function ensureImage(engine: Engine, c: Container, warn: (message: string) => void): Promise<string> {
  const image = c.image;
  if (!image) throw new ImageError("InvalidImageName", `container ${c.name} names no image`);
  const policy = c.imagePullPolicy ?? (/:[^/]*$|@/.test(image) && !image.endsWith(":latest") ? "IfNotPresent" : "Always");
  const have = present(engine, image);
  if (policy === "Never") {
    if (have) return image;
    throw new ImageError("ErrImageNeverPull", `Container image "${image}" is not present with pull policy of Never`);
  }
  if (policy === "IfNotPresent" && have) return image;
  try {
    await pullImage(engine.images, image, { insecureRegistries: engine.opts.insecureRegistries });
  } catch (err) {
    const msg = `Failed to pull image "${image}": ${(err as Error).message}`;
    if (have) {
      warn(`${msg}; using the image present on the node`);
      return image;
    }
    throw new ImageError("ErrImagePull", msg);
  }
  return image;
}
