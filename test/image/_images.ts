// Builds small images in a store for tests.
import { writeFileSync } from "node:fs";
import { commitImage, storeLayer, type CommittedImage } from "../../src/image/commit.ts";
import type { ContainerConfig } from "../../src/image/spec.ts";
import type { ImageStore } from "../../src/image/store.ts";
import { makeTarGz, type TarEntry } from "./_tar.ts";

export async function makeImage(
  store: ImageStore,
  name: string,
  layers: TarEntry[][],
  opts: { config?: ContainerConfig; architecture?: string } = {},
): Promise<CommittedImage> {
  const stored = [];
  for (const entries of layers) {
    const p = store.tempPath("layer");
    writeFileSync(p, await makeTarGz(entries));
    stored.push(await storeLayer(store, { path: p }));
  }
  return commitImage(store, { name, layers: stored, config: opts.config ?? { Cmd: ["/bin/sh"] }, architecture: opts.architecture });
}

/** A layer with some random bytes so that distinct tests get distinct blobs. */
export function randomFile(name: string, size: number): TarEntry {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, i);
  return { name, content: buf };
}
