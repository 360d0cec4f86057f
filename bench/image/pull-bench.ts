// Image bench (not run by the tests): a ~100 MB multi-layer image made from host directories
// is pushed to Debian's docker-registry on loopback, then
//   pull:   Gantry's pull (blobs only, and blobs + unpack) vs `skopeo copy docker://… dir:`
//   unpack: Gantry's unpackLayer vs `tar -xzf` of the same gzip'd layers
// Each is run RUNS times (default 5) into fresh directories; medians and ratios are printed.
// Usage: npx tsx bench/image/pull-bench.ts   (root; env RUNS, BENCH_DIRS=dir1:dir2:…)
import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { ImageStore } from "../../src/image/store.ts";
import { commitImage, storeLayer } from "../../src/image/commit.ts";
import { pullImage } from "../../src/image/pull.ts";
import { pushImage } from "../../src/image/push.ts";
import { resolveImage } from "../../src/image/images.ts";
import { unpackLayer } from "../../src/image/unpack.ts";
import type { Digest } from "../../src/image/digest.ts";
import { startRegistry } from "../../test/image/_registry.ts";

const runs = Number(process.env.RUNS ?? 5);
const dirs = (process.env.BENCH_DIRS ?? "/usr/lib/python3.11:/usr/lib/x86_64-linux-gnu/perl:/usr/share/perl:/usr/lib/x86_64-linux-gnu/gconv:/usr/share/zoneinfo").split(":");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
async function time(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const work = mkdtempSync(join(tmpdir(), "gantry-bench-"));
const reg = await startRegistry();
try {
  const src = new ImageStore(join(work, "src"));
  const layers = [];
  let uncompressed = 0;
  for (const [i, d] of dirs.entries()) {
    const file = join(work, `layer-${i}.tar.gz`);
    execFileSync("tar", ["-C", "/", "-czf", file, d.replace(/^\//, "")]);
    uncompressed += Number(execFileSync("du", ["-sb", d], { encoding: "utf8" }).split("\t")[0]);
    layers.push(await storeLayer(src, { path: file }));
  }
  await commitImage(src, { name: "bench/image:v1", layers });
  const ref = `${reg.host}/bench/image:v1`;
  await pushImage(src, "bench/image:v1", ref);
  const img = resolveImage(src, "bench/image:v1");
  const compressed = img.manifest.layers.reduce((a, l) => a + l.size, 0);
  console.log(`image: ${layers.length} layers, ${(compressed / 1e6).toFixed(1)} MB compressed, ${(uncompressed / 1e6).toFixed(1)} MB uncompressed; ${runs} runs each`);

  const results: Record<string, number[]> = { gantryPull: [], gantryPullUnpack: [], skopeoCopy: [], gantryUnpack: [], tarExtract: [] };
  for (let r = 0; r < runs; r++) {
    const s1 = new ImageStore(join(work, `pull-${r}`));
    results.gantryPull!.push(await time(() => pullImage(s1, ref, { unpack: false }).then(() => undefined)));
    const s2 = new ImageStore(join(work, `pullu-${r}`));
    results.gantryPullUnpack!.push(await time(() => pullImage(s2, ref).then(() => undefined)));
    const dir = join(work, `skopeo-${r}`);
    results.skopeoCopy!.push(
      await time(() => {
        const p = spawnSync("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${dir}`]);
        if (p.status !== 0) throw new Error(`skopeo: ${p.stderr}`);
      }),
    );
    const g = join(work, `unpack-${r}`);
    results.gantryUnpack!.push(
      await time(async () => {
        for (const [i, l] of img.manifest.layers.entries()) {
          mkdirSync(join(g, String(i)), { recursive: true });
          await unpackLayer(createReadStream(src.blobPath(l.digest as Digest)).pipe(createGunzip()), join(g, String(i)));
        }
      }),
    );
    const t = join(work, `tar-${r}`);
    results.tarExtract!.push(
      await time(() => {
        for (const [i, l] of img.manifest.layers.entries()) {
          mkdirSync(join(t, String(i)), { recursive: true });
          execFileSync("tar", ["--xattrs", "--same-owner", "-xzf", src.blobPath(l.digest as Digest), "-C", join(t, String(i))]);
        }
      }),
    );
    for (const p of [join(work, `pull-${r}`), join(work, `pullu-${r}`), dir, g, t]) rmSync(p, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  const row = (name: string, ms: number) => console.log(`${name.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms`);
  row("gantry pull (blobs only)", m.gantryPull!);
  row("gantry pull + unpack", m.gantryPullUnpack!);
  row("skopeo copy docker:// dir:", m.skopeoCopy!);
  row("gantry unpackLayer (all layers)", m.gantryUnpack!);
  row("tar -xzf (all layers)", m.tarExtract!);
  console.log(`ratio pull gantry/skopeo:   ${(m.gantryPull! / m.skopeoCopy!).toFixed(2)}`);
  console.log(`ratio unpack gantry/tar:    ${(m.gantryUnpack! / m.tarExtract!).toFixed(2)}`);
} finally {
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}
