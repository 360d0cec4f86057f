// The image CLI end to end through a daemon (the store's one writer): the offline busybox
// image made by scripts/make-busybox-image.sh, import (zstd too), images/inspect/history/tag,
// save → rmi → prune → load, and error exits.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gantry, repo, skipReason, useTestDaemon } from "../engine/_daemon.ts";
import { makeTar } from "./_tar.ts";

describe("gantry image verbs against a daemon", { skip: skipReason(), concurrency: false }, () => {
  const d = useTestDaemon();
  before(() => {
    // The script runs bin/gantry, the bundle: build it when it is older than the source.
    const r = spawnSync("npm", ["run", "-s", "build"], { cwd: repo, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });

  it("make-busybox-image.sh imports a runnable busybox image into the daemon at GANTRY_HOST", () => {
    const r = spawnSync("bash", [join(repo, "scripts/make-busybox-image.sh"), "test/busybox:1"], { encoding: "utf8", env: { ...process.env, GANTRY_HOST: `unix://${d.socket}` } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}$/m);
    const inspect = gantry(d, ["image", "inspect", "--format", "{{json .Config.Cmd}} {{.Os}}", "test/busybox:1"]);
    assert.equal(inspect.stdout.trim(), '["/bin/sh"] linux');
    assert.match(gantry(d, ["history", "test/busybox:1"]).stdout, /gantry import/);
    const run = gantry(d, ["run", "--rm", "test/busybox:1", "sh", "-c", "exit 3"]);
    assert.equal(run.status, 3, run.stderr);
  });

  it("import with --change, tag, images, save, rmi, prune and load", async () => {
    const tarPath = join(d.dir, "rootfs.tar");
    writeFileSync(tarPath, await makeTar([{ name: "hello", content: "hi\n" }]));
    const zst = spawnSync("zstd", ["-q", "-f", tarPath, "-o", `${tarPath}.zst`]);
    assert.equal(zst.status, 0);
    const imp = gantry(d, ["import", "-c", "ENTRYPOINT /hello", "-c", "EXPOSE 80 53/udp", "-c", "LABEL a=b", `${tarPath}.zst`, "test/zst:v1"]);
    assert.equal(imp.status, 0, imp.stderr);
    assert.match(imp.stdout, /^sha256:[a-f0-9]{64}$/m);
    const cfg = JSON.parse(gantry(d, ["image", "inspect", "--format", "{{json .Config}}", "test/zst:v1"]).stdout);
    assert.deepEqual(cfg.Entrypoint, ["/bin/sh", "-c", "/hello"]);
    assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ["53/udp", "80/tcp"]);
    assert.equal(gantry(d, ["tag", "test/zst:v1", "test/zst:v2"]).status, 0);
    const list = gantry(d, ["images", "--format", "{{.Repository}}:{{.Tag}}", "test/zst"]);
    assert.deepEqual(list.stdout.trim().split("\n").sort(), ["test/zst:v1", "test/zst:v2"]);
    const archive = join(d.dir, "zst.tar");
    assert.equal(gantry(d, ["save", "-o", archive, "test/zst:v1"]).status, 0);
    const rmi = gantry(d, ["rmi", "test/zst:v1", "test/zst:v2"]);
    assert.equal(rmi.status, 0, rmi.stderr);
    assert.match(rmi.stdout, /Deleted: sha256:/);
    assert.equal(gantry(d, ["images", "-q", "test/zst"]).stdout, "");
    const prune = gantry(d, ["image", "prune"]);
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(prune.stdout, /^Total reclaimed space: /m);
    const load = gantry(d, ["load", "-i", archive]);
    assert.equal(load.stdout.trim(), "Loaded image: test/zst:v1");
    assert.equal(gantry(d, ["images", "-q", "test/zst"]).stdout.trim().split("\n").length, 1);
  });

  it("errors exit non-zero with the daemon's message", () => {
    const missing = gantry(d, ["image", "inspect", "no/such:image"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /gantry: Error response from daemon: No such image: no\/such:image/);
    const bad = gantry(d, ["pull", "UPPER/case"]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /invalid repository name component/);
    const nowhere = gantry({ ...d, socket: join(d.dir, "nothing.sock") }, ["images"]);
    assert.equal(nowhere.status, 125);
    assert.match(nowhere.stderr, /Cannot connect to the Gantry daemon at unix:\/\/.*nothing\.sock/);
  });
});
