// The helper's idmapped-overlay step on its own (mountOnHost): lower dirs shown through the
// maps, the layers unchanged on disk, copy-up keeping the shifted owner, and a failing call
// named with its errno and path.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { GantryError } from "../../src/common/errors.ts";
import { mountOnHost } from "../../src/runtime/index.ts";

const repo = resolve(import.meta.dirname, "..", "..");
const skip =
  process.getuid?.() !== 0 ? "needs root (mounts)" : !existsSync(join(repo, "native", "build", "gantry-helper")) ? "the native helper is not built (make -C native)" : undefined;

describe("mountOnHost: an idmapped overlay made by the helper", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-idmap-"));
  const [l1, l2, upper, work, target] = ["l1", "l2", "upper", "work", "merged"].map((d) => join(dir, d)) as [string, string, string, string, string];
  for (const d of [l1, l2, upper, work, target]) mkdirSync(d);
  writeFileSync(join(l1, "top"), "1");
  writeFileSync(join(l2, "bottom"), "2");
  const maps = { uidMappings: [{ containerID: 0, hostID: 300000, size: 1000 }], gidMappings: [{ containerID: 0, hostID: 400000, size: 1000 }] };
  after(() => {
    spawnSync("umount", ["-l", target]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the lower dirs' root-owned files as the mapped root's, and leaves the layers as they were", () => {
    mountOnHost([{ idmapped: true, target, lowerdirs: [l1, l2], upperdir: upper, workdir: work, ...maps }]);
    assert.equal(statSync(join(target, "top")).uid, 300000);
    assert.equal(statSync(join(target, "bottom")).gid, 400000);
    assert.equal(statSync(join(l2, "bottom")).uid, 0);
    writeFileSync(join(target, "bottom"), "changed"); // copy-up into the upper dir
    assert.equal(statSync(join(upper, "bottom")).uid, 300000);
    assert.equal(statSync(join(l2, "bottom")).size, 1);
    spawnSync("umount", [target]);
  });

  it("names the failing call, its errno and the path", () => {
    const missing = join(dir, "no-such-layer");
    assert.throws(
      () => mountOnHost([{ idmapped: true, target, lowerdirs: [missing], upperdir: upper, workdir: work, ...maps }]),
      (err: unknown) => err instanceof GantryError && err.code === "SYSCALL_FAILED" && err.message.includes(`open_tree(OPEN_TREE_CLONE) ${missing}`) && err.details?.errno === "ENOENT",
    );
    assert.notEqual(spawnSync("mountpoint", ["-q", target]).status, 0, "nothing was mounted");
  });
});
