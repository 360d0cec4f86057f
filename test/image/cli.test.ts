// The CLI end to end on a temporary store: the offline busybox image, import (zstd too),
// images/inspect/history/tag, save → rmi → prune → load, and error exits.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTar } from "./_tar.ts";

const repo = new URL("../..", import.meta.url).pathname;
let root: string;
let work: string;

function gantry(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repo, "src/cli/gantry/main.ts"), ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, GANTRY_ROOT: root },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "gantry-cli-"));
  root = join(work, "root");
});
after(() => rmSync(work, { recursive: true, force: true }));

test("make-busybox-image.sh imports a runnable-looking busybox image offline", () => {
  const r = spawnSync("bash", [join(repo, "scripts/make-busybox-image.sh"), "test/busybox:1"], { encoding: "utf8", env: { ...process.env, GANTRY_ROOT: root } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[a-f0-9]{64}$/m);
  const inspect = gantry("image", "inspect", "--format", "{{json .Config.Cmd}} {{.Os}}", "test/busybox:1");
  assert.equal(inspect.stdout.trim(), '["/bin/sh"] linux');
  const history = gantry("history", "test/busybox:1");
  assert.match(history.stdout, /gantry import/);
});

test("import with --change, tag, images, save, rmi, prune and load", async () => {
  const tarPath = join(work, "rootfs.tar");
  writeFileSync(tarPath, await makeTar([{ name: "hello", content: "hi\n" }]));
  const zst = spawnSync("zstd", ["-q", "-f", tarPath, "-o", `${tarPath}.zst`]);
  assert.equal(zst.status, 0);
  const imp = gantry("import", "-c", "ENTRYPOINT /hello", "-c", "EXPOSE 80 53/udp", "-c", "LABEL a=b", `${tarPath}.zst`, "test/zst:v1");
  assert.equal(imp.status, 0, imp.stderr);
  const cfg = JSON.parse(gantry("image", "inspect", "--format", "{{json .Config}}", "test/zst:v1").stdout);
  assert.deepEqual(cfg.Entrypoint, ["/bin/sh", "-c", "/hello"]);
  assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ["53/udp", "80/tcp"]);
  assert.equal(gantry("tag", "test/zst:v1", "test/zst:v2").status, 0);
  const list = gantry("images", "--format", "{{.Repository}}:{{.Tag}}");
  assert.deepEqual(list.stdout.trim().split("\n").sort(), ["test/busybox:1", "test/zst:v1", "test/zst:v2"]);
  const archive = join(work, "zst.tar");
  assert.equal(gantry("save", "-o", archive, "test/zst:v1").status, 0);
  const rmi = gantry("rmi", "test/zst:v1", "test/zst:v2");
  assert.equal(rmi.status, 0, rmi.stderr);
  assert.match(rmi.stdout, /Deleted: sha256:/);
  assert.equal(gantry("image", "prune").status, 0);
  const load = gantry("load", "-i", archive);
  assert.equal(load.stdout.trim(), "Loaded image: test/zst:v1");
  assert.equal(gantry("images", "-q", "test/zst").stdout.trim().split("\n").length, 1);
});

test("errors exit non-zero with a message", () => {
  const missing = gantry("image", "inspect", "no/such:image");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /gantry: image no\/such:image is not in the local store/);
  const bad = gantry("pull", "UPPER/case");
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /invalid repository name component/);
});
