// A container's overlay changes committed as a new image layer (whiteouts and opaque
// directories included), seen again through a second overlay; export of a merged tree.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, linkSync, symlinkSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { ImageStore } from "../../src/image/store.ts";
import { prepareRootfs } from "../../src/image/rootfs.ts";
import { mountRootfs, unmountRootfs, removeContainerRootfs } from "../../src/image/snapshots.ts";
import { commitContainer, exportFilesystem } from "../../src/image/container-commit.ts";
import { resolveImage } from "../../src/image/images.ts";
import { collectGarbage } from "../../src/image/gc.ts";
import { packDirectory } from "../../src/image/pack.ts";
import { unpackLayer } from "../../src/image/unpack.ts";
import { makeImage } from "./_images.ts";

const isRoot = process.getuid?.() === 0;
let work: string;
let store: ImageStore;
const mounted: string[] = [];
before(() => {
  work = mkdtempSync(join(tmpdir(), "gantry-commit-"));
  store = new ImageStore(join(work, "root"));
});
after(() => {
  for (const m of mounted) {
    try {
      unmountRootfs(m);
    } catch {
      /* unmounted by the test */
    }
  }
  rmSync(work, { recursive: true, force: true });
});

test("pack then unpack reproduces a tree: hardlinks, symlinks, modes, times", async () => {
  const src = join(work, "tree");
  mkdirSync(join(src, "d/e"), { recursive: true });
  writeFileSync(join(src, "d/file"), "content");
  linkSync(join(src, "d/file"), join(src, "d/hard"));
  symlinkSync("../d/file", join(src, "d/e/sym"));
  const long = join("l".repeat(80), "m".repeat(80));
  mkdirSync(join(src, long), { recursive: true });
  writeFileSync(join(src, long, "n".repeat(120)), "long name");
  if (isRoot) {
    assert.equal(spawnSync("setfattr", ["-n", "security.capability", "-v", "0sAQAAAoAgAAAAAAAAAAAAAAAAAAA=", join(src, "d/file")]).status, 0);
    assert.equal(spawnSync("setfattr", ["-n", "user.bin", "-v", "0x00ff10fe", join(src, "d/e")]).status, 0);
  }
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  await packDirectory(src, sink);
  const dst = join(work, "tree-copy");
  mkdirSync(dst);
  await unpackLayer(Readable.from([Buffer.concat(chunks)]), dst);
  assert.equal(readFileSync(join(dst, "d/file"), "utf8"), "content");
  assert.equal(lstatSync(join(dst, "d/hard")).ino, lstatSync(join(dst, "d/file")).ino);
  assert.equal(lstatSync(join(dst, "d/e/sym")).isSymbolicLink(), true);
  assert.equal(lstatSync(join(dst, "d/file")).mtimeMs, Math.floor(lstatSync(join(src, "d/file")).mtimeMs / 1000) * 1000);
  assert.equal(readFileSync(join(dst, long, "n".repeat(120)), "utf8"), "long name");
  if (isRoot) {
    const hex = (p: string, n: string) => spawnSync("getfattr", ["--only-values", "-n", n, p]).stdout.toString("hex");
    assert.equal(hex(join(dst, "d/file"), "security.capability"), "0100000280200000000000000000000000000000");
    assert.equal(hex(join(dst, "d/e"), "user.bin"), "00ff10fe");
    // GNU tar reads the same archive, xattrs included.
    const tarFile = join(work, "packed.tar");
    writeFileSync(tarFile, Buffer.concat(chunks));
    const gnu = join(work, "gnu");
    mkdirSync(gnu);
    const t = spawnSync("tar", ["--xattrs", "--xattrs-include=*", "-xf", tarFile, "-C", gnu], { encoding: "utf8" });
    assert.equal(t.status, 0, t.stderr);
    assert.equal(hex(join(gnu, "d/file"), "security.capability"), "0100000280200000000000000000000000000000");
    assert.equal(readFileSync(join(gnu, long, "n".repeat(120)), "utf8"), "long name");
  }
});

test("commit turns a container's overlay changes into a layer that replays them", { skip: !isRoot && "overlay mounts need root" }, async () => {
  await makeImage(store, "base/img:1", [[
    { name: "etc/keep", content: "keep" },
    { name: "etc/remove-me", content: "bye" },
    { name: "var/lib/state/a", content: "a" },
    { name: "var/lib/state/b", content: "b" },
  ]], { config: { Cmd: ["/bin/sh"] } });
  const c1 = await prepareRootfs(store, "base/img:1", "c1");
  mountRootfs(store, c1);
  mounted.push(c1.merged);
  writeFileSync(join(c1.merged, "etc/new"), "new");
  rmSync(join(c1.merged, "etc/remove-me"));
  rmSync(join(c1.merged, "var/lib/state"), { recursive: true });
  mkdirSync(join(c1.merged, "var/lib/state"));
  writeFileSync(join(c1.merged, "var/lib/state/c"), "c");
  unmountRootfs(c1.merged);
  mounted.pop();

  const committed = await commitContainer(store, "c1", { name: "base/img:2", changes: ["CMD /run.sh"], message: "test commit" });
  const img = resolveImage(store, "base/img:2");
  assert.equal(img.id, committed.id);
  assert.equal(img.manifest.layers.length, 2);
  assert.deepEqual(img.config.config?.Cmd, ["/bin/sh", "-c", "/run.sh"]);
  assert.equal(img.config.history?.at(-1)?.comment, "test commit");

  // Removing the container and collecting garbage leaves the committed image whole.
  removeContainerRootfs(store, "c1");
  collectGarbage(store);
  const c2 = await prepareRootfs(store, "base/img:2", "c2");
  mountRootfs(store, c2);
  mounted.push(c2.merged);
  assert.equal(readFileSync(join(c2.merged, "etc/keep"), "utf8"), "keep");
  assert.equal(readFileSync(join(c2.merged, "etc/new"), "utf8"), "new");
  assert.ok(!existsSync(join(c2.merged, "etc/remove-me")), "whiteout replayed");
  assert.deepEqual(readdirSync(join(c2.merged, "var/lib/state")), ["c"], "opaque directory replayed");

  const exported = join(work, "export.tar");
  await exportFilesystem(c2.merged, createWriteStream(exported));
  unmountRootfs(c2.merged);
  mounted.pop();
  const flat = join(work, "flat");
  mkdirSync(flat);
  await unpackLayer(createReadStream(exported), flat);
  assert.deepEqual(readdirSync(join(flat, "etc")).sort(), ["keep", "new"]);
  assert.deepEqual(readdirSync(join(flat, "var/lib/state")), ["c"]);
});
