import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "../common/errors.ts";
import { fromDockerMountFields, fromDockerVolumeCreate, toDockerMount } from "./docker-mounts.ts";
import { parseMountFlag } from "./mount-spec.ts";

test("Binds, Mounts, Tmpfs and image VOLUMEs become one list of requests", () => {
  const reqs = fromDockerMountFields(
    {
      Binds: ["data:/data:ro", "/srv:/srv"],
      Mounts: [
        {
          Type: "volume",
          Source: "cache",
          Target: "/cache",
          VolumeOptions: { NoCopy: true, Labels: { a: "b" } },
        },
        { Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } },
        { Type: "bind", Source: "/etc/x", Target: "/x/", ReadOnly: true },
      ],
      Tmpfs: { "/run": "size=64m" },
    },
    { "/data": {}, "/logs": {} },
  );
  assert.deepEqual(
    reqs.map((r) => `${r.type}:${r.target}:${r.readOnly}`),
    [
      "volume:/data:true",
      "bind:/srv:false",
      "volume:/cache:false",
      "tmpfs:/scratch:false",
      "bind:/x:true",
      "tmpfs:/run:false",
      "volume:/logs:false",
    ],
  );
  assert.deepEqual(reqs[3]!.type === "tmpfs" && reqs[3]!.options, [
    "noexec",
    "nosuid",
    "nodev",
    "size=1048576",
    "mode=1777",
  ]);
  const anon = reqs[6]!;
  assert.ok(anon.type === "volume" && anon.name === undefined);
});

test("API mount errors are clear", () => {
  assert.throws(
    () => fromDockerMountFields({ Mounts: [{ Type: "npipe", Target: "/x" }] }),
    (e: unknown) => e instanceof GantryError && e.code === "UNSUPPORTED_OPTION",
  );
  assert.throws(
    () => fromDockerMountFields({ Mounts: [{ Type: "bind", Source: "rel", Target: "/x" }] }),
    /absolute Source/,
  );
  assert.throws(
    () => fromDockerMountFields({ Binds: ["a1:/x"], Tmpfs: { "/x": "" } }),
    /Duplicate mount point: \/x/,
  );
  assert.throws(() => fromDockerVolumeCreate({ Labels: { a: 1 } }), /Labels must be an object of strings/);
  assert.deepEqual(
    fromDockerVolumeCreate({
      Name: "v2",
      Driver: "local",
      DriverOpts: { type: "tmpfs" },
      Labels: { a: "b" },
    }),
    {
      name: "v2",
      driver: "local",
      labels: { a: "b" },
      driverOpts: { type: "tmpfs" },
    },
  );
});

test("a parsed --mount sent as HostConfig.Mounts comes back as the same request", () => {
  for (const spec of [
    "type=bind,source=/srv,target=/srv,readonly,bind-propagation=rshared,bind-nonrecursive",
    "type=bind,src=/srv,dst=/w,bind-create-src",
    "type=volume,source=cache,target=/cache,volume-nocopy,volume-label=a=b,volume-opt=o=addr=1",
    "target=/anon",
    "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1777,ro",
  ]) {
    const parsed = parseMountFlag(spec);
    const [back] = fromDockerMountFields({ Mounts: [toDockerMount(parsed)] });
    // the daemon orders tmpfs options its own way; the set is what the kernel sees
    const norm = (m: typeof parsed) => (m.type === "tmpfs" ? { ...m, options: [...m.options].sort() } : m);
    assert.deepEqual(norm(back!), norm(parsed), spec);
  }
  assert.deepEqual(toDockerMount(parseMountFlag("type=tmpfs,target=/t,tmpfs-size=2k")).TmpfsOptions, { SizeBytes: 2048 });
});
