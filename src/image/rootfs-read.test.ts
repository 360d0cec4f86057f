// readUnmountedRootfsFile: a file as the overlay would show it, read without mounting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readUnmountedRootfsFile, type PreparedRootfs } from "./snapshots.ts";

test("upper layer first, then lower layers top down; a whiteout hides; a symlink needs a mount", { skip: process.getuid?.() !== 0 ? "mknod needs root" : undefined }, () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-rootfs-read-"));
  try {
    const [upper, top, base] = ["upper", "top", "base"].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [upper, top, base]) mkdirSync(join(d, "etc"), { recursive: true });
    writeFileSync(join(base, "etc", "passwd"), "base\n");
    writeFileSync(join(top, "etc", "passwd"), "top\n");
    writeFileSync(join(base, "etc", "group"), "base-group\n");
    writeFileSync(join(base, "etc", "hosts"), "base-hosts\n");
    assert.equal(spawnSync("mknod", [join(upper, "etc", "hosts"), "c", "0", "0"]).status, 0); // deleted in the container
    symlinkSync("/elsewhere", join(top, "etc", "shadow"));
    const rootfs: PreparedRootfs = { lowerdirs: [top, base], upperdir: upper, workdir: join(dir, "work"), merged: join(dir, "merged"), options: "" };

    assert.equal(readUnmountedRootfsFile(rootfs, "etc/passwd")?.toString(), "top\n", "the higher layer wins");
    assert.equal(readUnmountedRootfsFile(rootfs, "/etc/group")?.toString(), "base-group\n");
    assert.equal(readUnmountedRootfsFile(rootfs, "etc/hosts"), undefined, "a whiteout hides the lower file");
    assert.equal(readUnmountedRootfsFile(rootfs, "etc/nothing"), undefined);
    assert.equal(readUnmountedRootfsFile(rootfs, "etc/shadow"), null, "a symlink is left to the merged view");
    writeFileSync(join(upper, "etc", "passwd"), "changed\n");
    assert.equal(readUnmountedRootfsFile(rootfs, "etc/passwd")?.toString(), "changed\n", "the container's own change wins");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
