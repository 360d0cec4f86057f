import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../common/errors.ts";
import {
  parseMountFlag,
  parseSize,
  parseTmpfsFlag,
  parseVolumeFlag,
  checkDuplicateTargets,
} from "./mount-spec.ts";

test("-v forms: anonymous, named, bind with modes", () => {
  assert.deepEqual(parseVolumeFlag("/data"), {
    type: "volume",
    target: "/data",
    readOnly: false,
    noCopy: false,
    labels: {},
    driverOpts: {},
  });
  assert.deepEqual(parseVolumeFlag("db:/var/lib/db:ro"), {
    type: "volume",
    name: "db",
    target: "/var/lib/db",
    readOnly: true,
    noCopy: false,
    labels: {},
    driverOpts: {},
  });
  assert.deepEqual(parseVolumeFlag("/srv/x:/x:rw,z,rshared"), {
    type: "bind",
    source: "/srv/x",
    target: "/x",
    readOnly: false,
    propagation: "rshared",
    createSource: true,
    nonRecursive: false,
    relabel: "z",
  });
  assert.equal((parseVolumeFlag("vol:/x:nocopy") as { noCopy: boolean }).noCopy, true);
});

test("malformed -v values are refused with the value in the message", () => {
  for (const bad of [
    "",
    "a:b:c:d",
    "x:relative",
    "/h:/",
    "./rel:/x",
    "v:/x:bogus",
    "v:/x:ro,rw",
    "/h:/x:nocopy",
    "v:/x/../y",
    "a:/x",
    "bad name:/x",
  ]) {
    assert.throws(
      () => parseVolumeFlag(bad),
      (e: unknown) => e instanceof GantryError && e.code === "INVALID_ARGUMENT",
      bad,
    );
  }
  assert.throws(
    () => parseVolumeFlag("v:/x:bogus"),
    /invalid mode "bogus" in volume specification "v:\/x:bogus"/,
  );
});

test("--mount forms and errors", () => {
  assert.deepEqual(parseMountFlag("type=bind,source=/h,target=/c,readonly"), {
    type: "bind",
    source: "/h",
    target: "/c",
    readOnly: true,
    propagation: "rprivate",
    createSource: false,
    nonRecursive: false,
  });
  assert.deepEqual(parseMountFlag("src=v1,dst=/d,volume-label=a=b,volume-opt=type=tmpfs,volume-nocopy"), {
    type: "volume",
    name: "v1",
    target: "/d",
    readOnly: false,
    noCopy: true,
    labels: { a: "b" },
    driverOpts: { type: "tmpfs" },
  });
  assert.deepEqual(parseMountFlag("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770"), {
    type: "tmpfs",
    target: "/t",
    readOnly: false,
    options: ["nosuid", "nodev", "noexec", "size=67108864", "mode=1770"],
  });
  for (const bad of [
    "type=bind,target=/c",
    "type=nfs,target=/c",
    "type=bind,source=rel,target=/c",
    "source=v",
    "type=tmpfs,source=x,target=/t",
    "type=volume,target=/t,tmpfs-size=1m",
    "target=/t,readonly=maybe",
    "target=/t,bogus=1",
    'target="/t',
  ]) {
    assert.throws(
      () => parseMountFlag(bad),
      (e: unknown) => e instanceof GantryError,
      bad,
    );
  }
});

test("--tmpfs keeps Docker's noexec,nosuid,nodev unless asked otherwise", () => {
  assert.deepEqual(parseTmpfsFlag("/run"), {
    type: "tmpfs",
    target: "/run",
    readOnly: false,
    options: ["noexec", "nosuid", "nodev"],
  });
  assert.deepEqual(parseTmpfsFlag("/run:exec,size=1m,mode=700").options, [
    "nosuid",
    "nodev",
    "exec",
    "size=1m",
    "mode=700",
  ]);
  assert.throws(() => parseTmpfsFlag("/run:uid=x"), /option "uid=x" is not allowed/);
  assert.equal(parseSize("1g", "size"), 1024 ** 3);
  assert.throws(
    () => checkDuplicateTargets([parseTmpfsFlag("/a"), parseVolumeFlag("/a")]),
    /Duplicate mount point: \/a/,
  );
});
