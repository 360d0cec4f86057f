// Snapshots shared between images, a container rootfs mounted as a real overlay, and garbage
// collection of what no name or container uses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageStore } from "../../src/image/store.ts";
import { commitImage, storeLayer } from "../../src/image/commit.ts";
import { prepareRootfs } from "../../src/image/rootfs.ts";
import { discardContainerRootfs, listContainerRootfs, listSnapshots, mountRootfs, removeContainerRootfs, unmountRootfs } from "../../src/image/snapshots.ts";
import { removeImage, listImages, tagImage, resolveImage } from "../../src/image/images.ts";
import { collectGarbage } from "../../src/image/gc.ts";
import { makeTar, makeTarGz } from "./_tar.ts";

const isRoot = process.getuid?.() === 0;
let root: string;
let store: ImageStore;
const mounted: string[] = [];

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gantry-snap-"));
  store = new ImageStore(root);
  const files = {
    base: await makeTarGz([
      { name: "etc/", type: "directory" },
      { name: "etc/os-release", content: "base\n" },
      { name: "etc/motd", content: "hello\n" },
      { name: "var/cache/old", content: "stale" },
    ]),
    app1: await makeTar([{ name: "app/one", content: "1" }, { name: "etc/.wh.motd" }, { name: "var/cache/.wh..wh..opq" }, { name: "var/cache/new", content: "fresh" }]),
    app2: await makeTarGz([{ name: "app/two", content: "2" }]),
  };
  const layers: Record<string, Awaited<ReturnType<typeof storeLayer>>> = {};
  for (const [k, bytes] of Object.entries(files)) {
    const p = join(root, `${k}.tar`);
    writeFileSync(p, bytes);
    layers[k] = await storeLayer(store, { path: p });
  }
  await commitImage(store, { name: "test/app1:v1", layers: [layers.base!, layers.app1!], config: { Cmd: ["/app/one"] } });
  await commitImage(store, { name: "test/app2:v1", layers: [layers.base!, layers.app2!] });
});

after(() => {
  for (const m of mounted.reverse()) {
    try {
      unmountRootfs(m);
    } catch {
      /* already unmounted by the test */
    }
  }
  rmSync(root, { recursive: true, force: true });
});

test("two images sharing a base layer store it once", async () => {
  const a = await prepareRootfs(store, "test/app1:v1", "c1");
  const b = await prepareRootfs(store, "test/app2:v1", "c2");
  assert.equal(listSnapshots(store).length, 3, "base + app1 + app2");
  assert.equal(a.lowerdirs.length, 2);
  assert.equal(a.lowerdirs[1], b.lowerdirs[1], "same base snapshot directory");
  assert.match(a.options, /^lowerdir=[^,]+:[^,]+,upperdir=.*\/c1\/upper,workdir=.*\/c1\/work$/);
});

test("the overlay mount shows the stacked layers with whiteouts and opaque dirs applied", { skip: !isRoot && "overlay mounts need root" }, async () => {
  const rootfs = await prepareRootfs(store, "test/app1:v1", "c1");
  mountRootfs(store, rootfs);
  mounted.push(rootfs.merged);
  const m = rootfs.merged;
  assert.equal(readFileSync(join(m, "etc/os-release"), "utf8"), "base\n");
  assert.equal(readFileSync(join(m, "app/one"), "utf8"), "1");
  assert.ok(!existsSync(join(m, "etc/motd")), "whiteout hides the base file");
  assert.deepEqual(readdirSync(join(m, "var/cache")), ["new"], "opaque dir hides the base contents");
  writeFileSync(join(m, "app/written"), "upper");
  assert.equal(readFileSync(join(rootfs.upperdir, "app/written"), "utf8"), "upper");
  unmountRootfs(m);
  mounted.pop();
});

test("tag, list, remove and garbage-collect", async () => {
  tagImage(store, "test/app2:v1", "test/app2:also");
  const list = listImages(store);
  assert.equal(list.length, 2);
  assert.deepEqual(list.find((i) => i.repoTags.includes("test/app2:v1"))?.repoTags.sort(), ["test/app2:also", "test/app2:v1"]);
  // Untagging one of two names keeps the image.
  assert.equal(removeImage(store, "test/app2:also").deleted, undefined);
  // A container still uses app2's rootfs: refused without force.
  assert.throws(() => removeImage(store, "test/app2:v1"), /used by container c2/);
  removeContainerRootfs(store, "c2");
  const id = resolveImage(store, "test/app2:v1").id;
  assert.equal(removeImage(store, id.slice(7, 19)).deleted, id);
  const gc = collectGarbage(store);
  assert.equal(gc.snapshotsRemoved, 1, "only app2's own layer goes; the base stays for app1");
  assert.equal(gc.blobsRemoved, 3, "app2's manifest, config and top layer");
  assert.equal(listSnapshots(store).length, 2);
  assert.equal(collectGarbage(store).blobsRemoved, 0);
});

test("a discarded writable layer is gone at once for images and GC; a dead remover's leftovers are swept", async () => {
  await prepareRootfs(store, "test/app1:v1", "c3");
  writeFileSync(join(root, "containers", "c3", "upper", "data"), "x");
  const removal = discardContainerRootfs(store, "c3");
  // Before the files are deleted, the container no longer holds its image.
  assert.ok(!existsSync(join(root, "containers", "c3")));
  assert.ok(!listContainerRootfs(store).some((c) => c.containerId === "c3"));
  await removal;
  assert.deepEqual(readdirSync(join(root, "containers")).filter((n) => n.startsWith(".removing-")), []);
  await discardContainerRootfs(store, "c3"); // already gone: nothing to do
  // A process that died mid-removal leaves its aside directory; a live one's is kept.
  const dead = join(root, "containers", ".removing-999999999-c4");
  const live = join(root, "containers", `.removing-${process.pid}-c5`);
  for (const d of [dead, live]) mkdirSync(join(d, "upper"), { recursive: true });
  writeFileSync(join(dead, "rootfs.json"), JSON.stringify({ containerId: "c4", image: "x", chainIds: [] }));
  assert.ok(!listContainerRootfs(store).some((c) => c.containerId === "c4"), "an aside directory holds no layers");
  collectGarbage(store);
  assert.ok(!existsSync(dead));
  assert.ok(existsSync(live));
  rmSync(live, { recursive: true });
});
