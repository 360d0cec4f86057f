// docker export: a container's filesystem (image layers plus its own changes) as a tar.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOCKER, cleanup, docker, gantry, makeBusyboxImage, newDaemonDirs, skipReason, startTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

describe("docker export", { skip }, () => {
  const d = newDaemonDirs();
  const out = mkdtempSync(join(tmpdir(), "gantry-export-"));
  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d);
  });
  after(async () => {
    await cleanup(d);
    rmSync(out, { recursive: true, force: true });
  });

  it("writes the image's files and the container's own changes", () => {
    assert.equal(docker(d, ["run", "--name", "exp", "busybox", "sh", "-c", "echo made-here > /made.txt"]).status, 0);
    const file = join(out, "exp.tar");
    const r = docker(d, ["export", "-o", file, "exp"]);
    assert.equal(r.status, 0, r.stderr);
    const list = spawnSync("tar", ["-tf", file], { encoding: "utf8" }).stdout.split("\n").map((l) => l.replace(/^\.\//, ""));
    assert.ok(list.includes("bin/busybox"), "the image's busybox is in the export");
    assert.ok(list.includes("made.txt"), "the container's new file is in the export");
    const content = spawnSync("tar", ["-xOf", file, list.includes("./made.txt") ? "./made.txt" : "made.txt"], { encoding: "utf8" }).stdout;
    assert.equal(content.trim(), "made-here");
    assert.notEqual(docker(d, ["export", "-o", join(out, "x.tar"), "nosuchcontainer"]).status, 0);
    // Gantry's own client too
    const mine = join(out, "gantry.tar");
    const g = gantry(d, ["export", "-o", mine, "exp"]);
    assert.equal(g.status, 0, g.stderr);
    assert.ok(spawnSync("tar", ["-tf", mine], { encoding: "utf8" }).stdout.includes("made.txt"));
    assert.equal(docker(d, ["rm", "exp"]).status, 0);
  });
});
