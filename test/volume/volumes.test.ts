// Volume library against the real filesystem and mount table. A "container" here is a shell
// in its own mount namespace (unshare -m) that mounts the OCI entries the library produced,
// exactly as the runtime would, so nothing it mounts is seen on the host.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryError } from "../../src/common/errors.ts";
import { openVolumes, parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../../src/volume/index.ts";
import type { OciMountEntry, Volumes } from "../../src/volume/index.ts";

const skip = process.getuid?.() !== 0 ? "needs root to mount and chown" : undefined;
let work: string;
let vols: Volumes;
const cid = () => randomBytes(32).toString("hex");
const isCode = (code: string) => (e: unknown) => e instanceof GantryError && e.code === code;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "gantry-vol-"));
  vols = await openVolumes(join(work, "state"));
});

after(() => {
  if (skip) return;
  // Any tmpfs a failed test left mounted on a volume.
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4];
    if (mp?.startsWith(work)) spawnSync("umount", ["-l", mp]);
  }
  rmSync(work, { recursive: true, force: true });
});

/** Runs `script` in a private mount namespace with the entries mounted under a fake root. */
function runContainer(entries: OciMountEntry[], script: string): { code: number; out: string; err: string } {
  const root = mkdtempSync(join(work, "ctr-"));
  const lines = ["set -e"];
  for (const e of entries) {
    const dst = join(root, e.destination);
    lines.push(`mkdir -p '${dst}'`);
    if (e.type === "tmpfs") {
      lines.push(`mount -t tmpfs -o '${e.options.join(",")}' tmpfs '${dst}'`);
    } else {
      lines.push(`mount --rbind '${e.source}' '${dst}'`);
      if (e.options.includes("ro")) lines.push(`mount -o remount,bind,ro '${dst}'`);
    }
  }
  lines.push(`cd '${root}'`, "set +e", script);
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", lines.join("\n")], {
    encoding: "utf8",
  });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

test(
  "a named volume's data written by one container is read by the next; ls/inspect/labels",
  { skip },
  async () => {
    const v = await vols.create({ name: "appdata", labels: { tier: "db" } });
    assert.equal(v.mountpoint, join(work, "state", "volumes", "appdata", "_data"));
    assert.equal(
      (await vols.create({ name: "appdata" })).createdAt,
      v.createdAt,
      "create of an existing name returns it",
    );
    const c1 = cid();
    const e1 = await vols.resolveMounts({ containerId: c1, mounts: [parseVolumeFlag("appdata:/data")] });
    assert.deepEqual(e1, [
      { destination: "/data", type: "bind", source: v.mountpoint, options: ["rbind", "rprivate"] },
    ]);
    assert.equal(runContainer(e1, "echo persisted > data/file").code, 0);
    await vols.release(c1);
    const c2 = cid();
    const e2 = await vols.resolveMounts({ containerId: c2, mounts: [parseVolumeFlag("appdata:/srv:ro")] });
    const r = runContainer(e2, "cat srv/file; echo x > srv/other && echo WROTE");
    assert.equal(r.out.trim(), "persisted");
    assert.match(r.err, /Read-only file system/);
    assert.deepEqual(
      vols.list({ label: { tier: "db" } }).map((x) => x.name),
      ["appdata"],
    );
    assert.deepEqual(vols.inspect("appdata").usedBy, [c2]);
    await vols.release(c2);
  },
);

test("a volume in use cannot be removed; prune spares named and used volumes", { skip }, async () => {
  await vols.create({ name: "busy" });
  const c = cid();
  await vols.resolveMounts({
    containerId: c,
    mounts: [parseMountFlag("type=volume,source=busy,target=/b"), parseVolumeFlag("/anon")],
  });
  await assert.rejects(
    vols.remove("busy"),
    (e: unknown) => isCode("CONFLICT")(e) && /volume is in use/.test((e as Error).message),
  );
  const anon = vols.list().find((v) => v.anonymous && v.usedBy.includes(c))!;
  assert.ok(anon && /^[0-9a-f]{64}$/.test(anon.name));
  assert.deepEqual((await vols.prune()).removed, [], "used anonymous volume survives prune");
  // a crash: the engine restarts and the container is gone
  const reopened = await openVolumes(join(work, "state"));
  assert.deepEqual(reopened.inspect("busy").usedBy, [c]);
  await reopened.reconcile([]);
  vols = reopened;
  assert.deepEqual(vols.inspect("busy").usedBy, []);
  const pruned = await vols.prune();
  assert.deepEqual(pruned.removed, [anon.name]);
  assert.ok(existsSync(vols.inspect("busy").mountpoint));
  await vols.remove("busy");
  assert.equal(existsSync(join(work, "state", "volumes", "busy")), false);
  await assert.rejects(vols.remove("busy"), isCode("NOT_FOUND"));
  // rm -v / --rm removes the container's anonymous volumes
  const c2 = cid();
  await vols.resolveMounts({ containerId: c2, mounts: [parseVolumeFlag("/tmpdata")] });
  const anon2 = vols.list().find((v) => v.usedBy.includes(c2))!.name;
  assert.deepEqual(await vols.release(c2, true), [anon2]);
});

test(
  "copy-up fills a new empty volume with the image's content, owners and modes kept, once",
  { skip },
  async () => {
    const rootfs = join(work, "rootfs");
    const data = join(rootfs, "var", "lib", "app");
    mkdirSync(join(data, "sub"), { recursive: true });
    writeFileSync(join(data, "config"), "from image\n");
    chownSync(join(data, "config"), 1234, 5678);
    chmodSync(join(data, "config"), 0o640);
    chownSync(join(data, "sub"), 1000, 1000);
    chmodSync(join(data, "sub"), 0o2750);
    writeFileSync(join(data, "sub", "tool"), "#!/bin/sh\n");
    chmodSync(join(data, "sub", "tool"), 0o4755);
    symlinkSync("../config", join(data, "sub", "link"));
    linkSync(join(data, "config"), join(data, "hardlink"));
    spawnSync("mkfifo", [join(data, "fifo")]);
    chownSync(data, 33, 33);
    chmodSync(data, 0o770);
    // the image reaches /data through an absolute symlink, resolved inside the rootfs
    symlinkSync("/var/lib/app", join(rootfs, "data"));

    const c = cid();
    const [entry] = await vols.resolveMounts({
      containerId: c,
      mounts: [parseVolumeFlag("seeded:/data")],
      rootfs,
    });
    const vd = entry!.source;
    assert.equal(readFileSync(join(vd, "config"), "utf8"), "from image\n");
    const st = statSync(join(vd, "config"));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [1234, 5678, 0o640]);
    const sub = statSync(join(vd, "sub"));
    assert.deepEqual([sub.uid, sub.mode & 0o7777], [1000, 0o2750]);
    assert.equal(statSync(join(vd, "sub", "tool")).mode & 0o7777, 0o4755);
    assert.equal(readlinkSync(join(vd, "sub", "link")), "../config");
    assert.equal(statSync(join(vd, "hardlink")).ino, st.ino, "hard links stay linked");
    assert.ok(lstatSync(join(vd, "fifo")).isFIFO());
    const top = statSync(vd);
    assert.deepEqual(
      [top.uid, top.mode & 0o777],
      [33, 0o770],
      "the volume root takes the image directory's owner and mode",
    );

    // a volume with data is never overwritten; nocopy leaves a new volume empty
    writeFileSync(join(vd, "config"), "changed\n");
    await vols.release(c);
    await vols.resolveMounts({ containerId: c, mounts: [parseVolumeFlag("seeded:/data")], rootfs });
    assert.equal(readFileSync(join(vd, "config"), "utf8"), "changed\n");
    const [empty] = await vols.resolveMounts({
      containerId: c,
      mounts: [parseVolumeFlag("bare:/data:nocopy")],
      rootfs,
    });
    assert.equal(spawnSync("ls", ["-A", empty!.source], { encoding: "utf8" }).stdout, "");
    await vols.release(c);
  },
);

test("bind mounts, tmpfs and a tmpfs-backed volume", { skip }, async () => {
  const host = join(work, "hostdir");
  mkdirSync(host);
  writeFileSync(join(host, "f"), "host file\n");
  const c = cid();
  const entries = await vols.resolveMounts({
    containerId: c,
    mounts: [
      parseVolumeFlag(`${host}:/ro:ro`),
      parseVolumeFlag(`${join(work, "made-by-v")}:/made`),
      parseTmpfsFlag("/scratch:size=1m"),
    ],
  });
  assert.ok(existsSync(join(work, "made-by-v")), "-v creates a missing host directory");
  const r = runContainer(entries, "cat ro/f; touch ro/x 2>&1; grep -c scratch /proc/self/mountinfo");
  assert.match(r.out, /host file/);
  assert.match(r.out, /Read-only file system/);
  await assert.rejects(
    vols.resolveMounts({
      containerId: c,
      mounts: [
        parseVolumeFlag("rollback:/r"),
        parseMountFlag(`type=bind,source=${join(work, "missing")},target=/m`),
      ],
    }),
    /bind source path does not exist/,
  );
  assert.throws(
    () => vols.inspect("rollback"),
    isCode("NOT_FOUND"),
    "a failed resolve leaves no new volume behind",
  );
  await vols.release(c);

  const t = await vols.create({
    name: "ramvol",
    driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" },
  });
  await vols.acquire("ramvol", c);
  assert.match(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(` ${t.mountpoint} .* tmpfs `));
  await vols.release(c);
  assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(` ${t.mountpoint} `));
  await assert.rejects(vols.create({ name: "badopt", driverOpts: { colour: "red" } }), /invalid option key/);
  await assert.rejects(vols.create({ name: "x" }), isCode("INVALID_ARGUMENT"));
  await vols.remove("ramvol");
});
