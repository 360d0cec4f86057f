// Interoperability with tools no one here wrote (Debian's skopeo and umoci): images skopeo
// puts in the registry are pulled by Gantry; images Gantry pushes are read by skopeo; archives
// go both ways (docker-archive and oci-archive).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageStore } from "../../src/image/store.ts";
import { pullImage } from "../../src/image/pull.ts";
import { pushImage } from "../../src/image/push.ts";
import { resolveImage } from "../../src/image/images.ts";
import { loadArchive, saveImages, type ArchiveFormat } from "../../src/image/archive.ts";
import { prepareRootfs } from "../../src/image/rootfs.ts";
import { mountRootfs, snapshotDir, unmountRootfs } from "../../src/image/snapshots.ts";
import { imageRuntimeConfig } from "../../src/image/runtime-config.ts";
import { defaultSpec } from "../../src/runtime/default-spec.ts";
import { hexOf } from "../../src/image/digest.ts";
import { startRegistry, type TestRegistry } from "./_registry.ts";
import { makeImage, randomFile } from "./_images.ts";

const run = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("interop with skopeo and umoci", () => {
  let reg: TestRegistry;
  let work: string;
  let n = 0;
  const newStore = () => new ImageStore(join(work, `store-${n++}`));

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "gantry-interop-"));
    reg = await startRegistry();
    // A busybox image built by umoci, pushed by skopeo in OCI and Docker v2s2 form.
    const u = join(work, "umoci");
    mkdirSync(u);
    run("umoci", ["init", "--layout", "oci"], u);
    run("umoci", ["new", "--image", "oci:latest"], u);
    run("umoci", ["unpack", "--rootless", "--image", "oci:latest", "bundle"], u);
    mkdirSync(join(u, "bundle/rootfs/bin"), { recursive: true });
    run("cp", ["/bin/busybox", join(u, "bundle/rootfs/bin/busybox")]);
    run("ln", ["-s", "busybox", join(u, "bundle/rootfs/bin/sh")]);
    run("umoci", ["repack", "--image", "oci:latest", "bundle"], u);
    run("umoci", ["config", "--image", "oci:latest", "--config.cmd", "/bin/sh", "--config.env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"], u);
    run("skopeo", ["copy", "--quiet", "--dest-tls-verify=false", "oci:oci:latest", `docker://${reg.host}/skopeo/busybox:oci`], u);
    run("skopeo", ["copy", "--quiet", "--format", "v2s2", "--dest-tls-verify=false", "oci:oci:latest", `docker://${reg.host}/skopeo/busybox:v2s2`], u);
  });
  after(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const tag of ["oci", "v2s2"]) {
    test(`Gantry pulls an image skopeo pushed (${tag}) and prepares its rootfs`, async () => {
      const store = newStore();
      const r = await pullImage(store, `${reg.host}/skopeo/busybox:${tag}`);
      const img = resolveImage(store, `${reg.host}/skopeo/busybox:${tag}`);
      assert.equal(img.mediaType, tag === "oci" ? "application/vnd.oci.image.manifest.v1+json" : "application/vnd.docker.distribution.manifest.v2+json");
      assert.deepEqual(img.config.config?.Cmd, ["/bin/sh"]);
      const rootfs = await prepareRootfs(store, `${reg.host}/skopeo/busybox:${tag}`, `c-${tag}`);
      assert.ok(rootfs.lowerdirs[0]?.startsWith(snapshotDir(store, r.configDigest).slice(0, -64)));
      assert.deepEqual(readFileSync(join(rootfs.lowerdirs[0] as string, "bin/busybox")), readFileSync("/bin/busybox"));
    });
  }

  test("an image skopeo pushed is pulled and run (gantry-runtime, and runc as the reference)", { skip: process.getuid?.() !== 0 && "needs root" }, async () => {
    const store = newStore();
    await pullImage(store, `${reg.host}/skopeo/busybox:oci`);
    const img = resolveImage(store, `${reg.host}/skopeo/busybox:oci`);
    const rc = imageRuntimeConfig(img.config, { cmd: ["/bin/sh", "-c", "echo hello from $(hostname) in $(pwd)"] });
    const rootfs = await prepareRootfs(store, `${reg.host}/skopeo/busybox:oci`, "run-test");
    const bundle = join(work, "bundle");
    mkdirSync(join(bundle, "rootfs"), { recursive: true });
    mountRootfs(store, rootfs, join(bundle, "rootfs"));
    try {
      const spec = defaultSpec();
      spec.process = { ...spec.process!, terminal: false, args: rc.args, env: rc.env, cwd: rc.cwd };
      spec.root = { path: "rootfs", readonly: false };
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      const runtimes: [string, string[]][] = [
        ["gantry-runtime", [process.execPath, "--import", "tsx", new URL("../../src/cli/runtime/main.ts", import.meta.url).pathname, "--root", join(work, "gr-state")]],
        ["runc", ["runc", "--root", join(work, "runc-state")]],
      ];
      for (const [name, argv] of runtimes) {
        const r = spawnSync(argv[0] as string, [...argv.slice(1), "run", "--bundle", bundle, `img-${name}`], { encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), "hello from gantry in /", name);
      }
    } finally {
      unmountRootfs(join(bundle, "rootfs"));
    }
  });

  test("skopeo inspects and copies an image Gantry pushed", async () => {
    const store = newStore();
    await makeImage(store, "local/pushed:v1", [[randomFile("data/a", 40_000)], [{ name: "etc/hostname", content: "gantry\n" }]], { config: { Cmd: ["/bin/true"] } });
    const pushed = await pushImage(store, "local/pushed:v1", `${reg.host}/gantry/pushed:v1`);
    const info = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/gantry/pushed:v1`])) as { Digest: string; Layers: string[] };
    const img = resolveImage(store, "local/pushed:v1");
    assert.equal(info.Digest, pushed.digest);
    assert.deepEqual(info.Layers, img.manifest.layers.map((l) => l.digest));
    const dir = join(work, "skopeo-dir");
    run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${reg.host}/gantry/pushed:v1`, `dir:${dir}`]);
    for (const l of img.manifest.layers) assert.deepEqual(readFileSync(join(dir, hexOf(l.digest as `sha256:${string}`))), store.readBlob(l.digest as `sha256:${string}`));
    assert.deepEqual(readFileSync(join(dir, "manifest.json")), store.readBlob(img.manifestDigest));
  });

  for (const format of ["docker-archive", "oci-archive"] as ArchiveFormat[]) {
    test(`skopeo reads a ${format} Gantry saved`, async () => {
      const store = newStore();
      await makeImage(store, "local/saved:v1", [[randomFile("x", 10_000)], [randomFile("y", 10_000)]]);
      const file = join(work, `saved-${format}.tar`);
      await saveImages(store, ["local/saved:v1"], format, createWriteStream(file));
      const dir = join(work, `from-${format}`);
      const src = format === "docker-archive" ? `docker-archive:${file}` : `oci-archive:${file}:v1`;
      run("skopeo", ["copy", "--quiet", src, `dir:${dir}`]);
      const img = resolveImage(store, "local/saved:v1");
      assert.ok(existsSync(join(dir, hexOf(img.id))), "config kept byte for byte (same image ID)");
      assert.equal(readdirSync(dir).filter((f) => /^[a-f0-9]{64}$/.test(f)).length, 3);
      if (format === "docker-archive") {
        const inspected = JSON.parse(run("skopeo", ["inspect", src])) as { RepoTags?: string[] };
        assert.ok(inspected);
      }
    });

    test(`Gantry loads a ${format} skopeo wrote`, async () => {
      const store = newStore();
      const file = join(work, `skopeo-${format}.tar`);
      const dest = format === "docker-archive" ? `docker-archive:${file}:skopeo/busybox:fromarchive` : `oci-archive:${file}:fromarchive`;
      run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${reg.host}/skopeo/busybox:v2s2`, dest]);
      const loaded = await loadArchive(store, file, { name: "skopeo/busybox" });
      assert.equal(loaded.format, format);
      assert.deepEqual(loaded.images[0]?.names, ["skopeo/busybox:fromarchive"]);
      const img = resolveImage(store, "skopeo/busybox:fromarchive");
      assert.deepEqual(img.config.config?.Cmd, ["/bin/sh"]);
      const rootfs = await prepareRootfs(store, "skopeo/busybox:fromarchive", "c1");
      assert.ok(existsSync(join(rootfs.lowerdirs[0] as string, "bin/busybox")));
    });
  }

  test("save then load round-trips through Gantry itself", async () => {
    const a = newStore();
    await makeImage(a, "local/round:v1", [[randomFile("z", 5000)]]);
    const file = join(work, "round.tar");
    await saveImages(a, ["local/round:v1"], "docker-archive", createWriteStream(file));
    const b = newStore();
    const r = await loadArchive(b, file);
    assert.equal(r.images[0]?.id, resolveImage(a, "local/round:v1").id);
    assert.equal(resolveImage(b, "local/round:v1").id, r.images[0]?.id);
  });
});

describe("hostile archives", () => {
  test("a docker-archive whose manifest points through a symlink it carries is refused", async () => {
    const { makeTar } = await import("./_tar.ts");
    const work = mkdtempSync(join(tmpdir(), "gantry-hostile-archive-"));
    try {
      const file = join(work, "evil.tar");
      writeFileSync(
        file,
        await makeTar([
          { name: "evil", type: "symlink", linkname: "/etc" },
          { name: "manifest.json", content: JSON.stringify([{ Config: "evil/passwd", RepoTags: ["evil:1"], Layers: ["evil/hostname"] }]) },
        ]),
      );
      const store = new ImageStore(join(work, "root"));
      await assert.rejects(loadArchive(store, file), /goes through the symlink evil/);
      assert.deepEqual(store.readRefs(), {});
      assert.deepEqual(store.listBlobs(), []);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
