// Layer unpacking: metadata is preserved, whiteouts become overlay whiteouts, and a corpus of
// hostile layers is refused with nothing written outside the snapshot directory.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { unpackLayer } from "../../src/image/unpack.ts";
import { GantryError } from "../../src/common/errors.ts";
import { makeTar, type TarEntry } from "./_tar.ts";

const isRoot = process.getuid?.() === 0;
let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), "gantry-unpack-"));
});
after(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A fresh sandbox: `outside/` next to `snap/`, with a sentinel file the attacks aim at. */
function sandbox() {
  const dir = join(work, `case-${n++}`);
  mkdirSync(join(dir, "snap"), { recursive: true });
  mkdirSync(join(dir, "outside"));
  writeFileSync(join(dir, "outside", "victim"), "original");
  return { dir, snap: join(dir, "snap"), outside: join(dir, "outside") };
}

function getfattr(path: string, name: string): string | undefined {
  const r = spawnSync("getfattr", ["-h", "--only-values", "-n", name, path], { encoding: "utf8" });
  return r.status === 0 ? r.stdout : undefined;
}

describe("unpackLayer", () => {
  test("preserves modes, owners, times, symlinks, hardlinks and computes the DiffID", async () => {
    const { snap } = sandbox();
    const mtime = new Date(1_600_000_000_000);
    const bytes = await makeTar([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "bin/", type: "directory", mode: 0o755, mtime },
      { name: "bin/tool", content: "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 1001, mtime },
      { name: "bin/link", type: "link", linkname: "bin/tool" },
      { name: "bin/sh", type: "symlink", linkname: "/bin/tool", uid: 7, gid: 8 },
      { name: "etc/deep/file", content: "implicit parents" },
      { name: "ro/", type: "directory", mode: 0o555 },
      { name: "ro/inside", content: "x" },
    ]);
    const r = await unpackLayer(Readable.from([bytes]), snap);
    assert.equal(r.diffId, `sha256:${createHash("sha256").update(bytes).digest("hex")}`);
    const tool = lstatSync(join(snap, "bin/tool"));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.mtimeMs, mtime.getTime());
    assert.equal(lstatSync(join(snap, "bin/link")).ino, tool.ino);
    assert.equal(readlinkSync(join(snap, "bin/sh")), "/bin/tool");
    assert.equal(lstatSync(join(snap, "bin")).mtimeMs, mtime.getTime());
    assert.equal(lstatSync(join(snap, "ro")).mode & 0o777, 0o555);
    assert.equal(readFileSync(join(snap, "etc/deep/file"), "utf8"), "implicit parents");
    if (isRoot) {
      assert.equal(tool.uid, 1000);
      assert.equal(tool.gid, 1001);
      assert.equal(lstatSync(join(snap, "bin/sh")).uid, 7);
    }
  });

  test("converts whiteouts and opaque markers to overlayfs form; keeps devices, fifos and xattrs", { skip: !isRoot && "needs root (mknod, trusted.* xattrs)" }, async () => {
    const { snap } = sandbox();
    await unpackLayer(
      Readable.from([
        await makeTar([
          { name: "etc/.wh.removed" },
          { name: "var/cache/.wh..wh..opq" },
          { name: "var/cache/kept", content: "k" },
          { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
          { name: "dev/loop9", type: "block-device", devmajor: 7, devminor: 9, mode: 0o660 },
          { name: "run/fifo", type: "fifo", mode: 0o600 },
          { name: "usr/bin/ping", content: "elf", pax: { "SCHILY.xattr.user.note": "hello" } },
        ]),
      ]),
      snap,
    );
    const wh = lstatSync(join(snap, "etc/removed"));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(getfattr(join(snap, "var/cache"), "trusted.overlay.opaque"), "y");
    assert.ok(existsSync(join(snap, "var/cache/kept")));
    assert.ok(!existsSync(join(snap, "var/cache/.wh..wh..opq")));
    const nul = lstatSync(join(snap, "dev/null"));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.ok(lstatSync(join(snap, "dev/loop9")).isBlockDevice());
    assert.ok(lstatSync(join(snap, "run/fifo")).isFIFO());
    assert.equal(getfattr(join(snap, "usr/bin/ping"), "user.note"), "hello");
  });

  test("binary xattr values (file capabilities) survive, from a tar GNU tar wrote", { skip: !isRoot && "needs root" }, async () => {
    const { dir, snap } = sandbox();
    const src = join(dir, "src");
    mkdirSync(src);
    writeFileSync(join(src, "ping"), "elf");
    // A file capability (cap_net_raw+ep) is a binary value with NUL and high bytes.
    const caps = "0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=";
    assert.equal(spawnSync("setfattr", ["-n", "security.capability", "-v", caps, join(src, "ping")]).status, 0);
    assert.equal(spawnSync("setfattr", ["-n", "user.bin", "-v", "0x00ff10fe", join(src, "ping")]).status, 0);
    const deep = join("d".repeat(60), "e".repeat(60), "file");
    mkdirSync(join(src, deep, ".."), { recursive: true });
    writeFileSync(join(src, deep), "x");
    assert.equal(spawnSync("setfattr", ["-n", "user.bin", "-v", "0x00ff10fe", join(src, deep)]).status, 0);
    const tarFile = join(dir, "caps.tar");
    const t = spawnSync("tar", ["--xattrs", "--xattrs-include=*", "-C", src, "-cf", tarFile, "ping", "d".repeat(60)], { encoding: "utf8" });
    assert.equal(t.status, 0, t.stderr);
    const warnings: string[] = [];
    await unpackLayer(Readable.from([readFileSync(tarFile)]), snap, { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, []);
    const hex = (p: string, n: string) => spawnSync("getfattr", ["-e", "hex", "--only-values", "-n", n, p]).stdout.toString("hex");
    assert.equal(hex(join(snap, "ping"), "security.capability"), hex(join(src, "ping"), "security.capability"));
    assert.equal(hex(join(src, "ping"), "user.bin"), "00ff10fe", "0xff is not UTF-8: tar-stream alone would lose it");
    assert.equal(hex(join(snap, "ping"), "user.bin"), "00ff10fe");
    assert.equal(hex(join(snap, deep), "user.bin"), "00ff10fe", "a long (PAX path) name keeps its binary xattr");
  });

  test("a later entry replaces an earlier file, and a file written over a hardlink leaves the other name alone", async () => {
    const { snap } = sandbox();
    await unpackLayer(
      Readable.from([
        await makeTar([
          { name: "a", content: "first" },
          { name: "h", type: "link", linkname: "a" },
          { name: "h", content: "second" },
          { name: "a", content: "third" },
        ]),
      ]),
      snap,
    );
    assert.equal(readFileSync(join(snap, "a"), "utf8"), "third");
    assert.equal(readFileSync(join(snap, "h"), "utf8"), "second");
  });

  // The hostile corpus: each layer tries to write `outside/victim` or a new file outside.
  const corpus: { name: string; entries: TarEntry[]; message: RegExp }[] = [
    { name: "dot-dot component", entries: [{ name: "../outside/victim", content: "pwned" }], message: /"\.\." component/ },
    { name: "dot-dot in the middle", entries: [{ name: "a/../../outside/victim", content: "pwned" }], message: /"\.\." component/ },
    { name: "absolute path with dot-dot", entries: [{ name: "/../outside/victim", content: "pwned" }], message: /"\.\." component/ },
    {
      name: "write through an absolute symlink to a directory",
      entries: [{ name: "evil", type: "symlink", linkname: "OUTSIDE" }, { name: "evil/victim", content: "pwned" }],
      message: /goes through the symlink "evil"/,
    },
    {
      name: "write through a relative symlink",
      entries: [{ name: "evil", type: "symlink", linkname: "../outside" }, { name: "evil/new", content: "pwned" }],
      message: /goes through the symlink "evil"/,
    },
    {
      name: "file written over a symlink to a file (write target)",
      entries: [{ name: "victim", type: "symlink", linkname: "OUTSIDE/victim" }, { name: "victim", content: "pwned" }],
      message: /would write through the symlink "victim"/,
    },
    {
      name: "directory entry replacing a symlink, then a file under it",
      entries: [{ name: "d", type: "symlink", linkname: "OUTSIDE" }, { name: "d", type: "directory" }, { name: "d/victim", content: "pwned" }],
      message: /would write through the symlink "d"/,
    },
    {
      name: "symlink chain through a nested directory",
      entries: [{ name: "a/b", type: "symlink", linkname: "../../outside" }, { name: "a/b/c/new", content: "pwned" }],
      message: /goes through the symlink "a\/b"/,
    },
    {
      name: "hardlink to a file outside (dot-dot)",
      entries: [{ name: "h", type: "link", linkname: "../outside/victim" }],
      message: /"\.\." component/,
    },
    {
      name: "hardlink to an absolute host path",
      entries: [{ name: "h", type: "link", linkname: "OUTSIDE/victim" }],
      message: /in this layer/,
    },
    {
      name: "hardlink through a symlink",
      entries: [{ name: "s", type: "symlink", linkname: "OUTSIDE" }, { name: "h", type: "link", linkname: "s/victim" }],
      message: /goes through the symlink "s"/,
    },
    {
      name: "hardlink used as a write target after its symlink parent",
      entries: [{ name: "s", type: "symlink", linkname: "OUTSIDE" }, { name: "s/victim", type: "link", linkname: "x" }],
      message: /goes through the symlink "s"/,
    },
    {
      name: "whiteout through a symlink",
      entries: [{ name: "s", type: "symlink", linkname: "OUTSIDE" }, { name: "s/.wh.victim" }],
      message: /goes through the symlink "s"/,
    },
    {
      name: "overlay xattr smuggled in a layer",
      entries: [{ name: "d/", type: "directory", pax: { "SCHILY.xattr.trusted.overlay.redirect": "/etc" } }],
      message: /overlayfs xattr/,
    },
  ];

  for (const c of corpus) {
    test(`refuses a hostile layer: ${c.name}`, async () => {
      const { snap, outside, dir } = sandbox();
      const entries = c.entries.map((e) => ({ ...e, linkname: e.linkname?.replace("OUTSIDE", outside) }));
      await assert.rejects(unpackLayer(Readable.from([await makeTar(entries)]), snap), (err: unknown) => {
        assert.ok(err instanceof GantryError, String(err));
        assert.equal(err.code, "INVALID_LAYER");
        assert.match(err.message, c.message);
        return true;
      });
      assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
      assert.deepEqual(readdirSync(outside), ["victim"]);
      assert.deepEqual(readdirSync(dir).sort(), ["outside", "snap"]);
    });
  }

  test("an absolute entry name lands inside the snapshot", async () => {
    const { snap, outside } = sandbox();
    await unpackLayer(Readable.from([await makeTar([{ name: `${outside}/victim`, content: "inside" }])]), snap);
    assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
    assert.equal(readFileSync(join(snap, outside, "victim"), "utf8"), "inside");
  });

  test("a truncated tar is an error", async () => {
    const { snap } = sandbox();
    const bytes = await makeTar([{ name: "big", content: "x".repeat(5000) }]);
    await assert.rejects(unpackLayer(Readable.from([bytes.subarray(0, 1024)]), snap));
  });
});
