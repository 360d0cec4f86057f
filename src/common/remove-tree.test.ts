import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeTree } from "./remove-tree.ts";

describe("removeTree", () => {
  it("removes nested files and directories, and a symlink without following it", async () => {
    const root = mkdtempSync(join(tmpdir(), "gantry-rmtree-"));
    try {
      const keep = join(root, "keep");
      mkdirSync(keep);
      writeFileSync(join(keep, "precious"), "x");
      const tree = join(root, "tree");
      mkdirSync(join(tree, "work", "work"), { recursive: true });
      mkdirSync(join(tree, "upper", "etc"), { recursive: true, mode: 0o000 });
      writeFileSync(join(tree, "rootfs.json"), "{}");
      writeFileSync(join(tree, "upper", "a"), "a");
      symlinkSync(keep, join(tree, "link-to-keep"));
      await removeTree(tree);
      assert.ok(!existsSync(tree));
      assert.deepEqual(readdirSync(keep), ["precious"]);
      await removeTree(tree); // gone already: nothing to do
      const file = join(root, "file");
      writeFileSync(file, "f");
      await removeTree(file); // a plain file goes too
      assert.ok(!existsSync(file));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
