import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { GantryError } from "../common/errors.ts";
import { defaultClientSocket, rootlessPaths, subordinateRanges, unshareArgs } from "./rootless.ts";
import { refuseLimitsWithoutCgroups, requestedResourceFlags, type HostFacts } from "./resources.ts";

describe("rootless daemon", () => {
  it("keeps state at the XDG places, and needs XDG_RUNTIME_DIR", () => {
    assert.deepEqual(rootlessPaths({ XDG_RUNTIME_DIR: "/run/user/1000" }, "/home/al"), {
      dataRoot: "/home/al/.local/share/gantry",
      execRoot: "/run/user/1000/gantry",
      socket: "/run/user/1000/gantry.sock",
    });
    assert.equal(rootlessPaths({ XDG_RUNTIME_DIR: "/r", XDG_DATA_HOME: "/data" }, "/home/al").dataRoot, "/data/gantry");
    assert.throws(() => rootlessPaths({}, "/home/al"), /needs XDG_RUNTIME_DIR/);
    assert.equal(defaultClientSocket({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000), "/run/user/1000/gantry.sock");
    assert.equal(defaultClientSocket({ XDG_RUNTIME_DIR: "/run/user/0" }, 0), undefined);
  });

  it("maps root to the user and 1.. onto the user's first subordinate range", () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-subid-"));
    try {
      const subuid = join(dir, "subuid");
      const subgid = join(dir, "subgid");
      writeFileSync(subuid, "other:100000:65536\nal:200000:65536\nal:900000:10\n");
      writeFileSync(subgid, "1000:300000:1000\n");
      const ranges = subordinateRanges({ name: "al", uid: 1000, gid: 1000 }, { subuid, subgid });
      assert.deepEqual(ranges, { uid: { start: 200000, count: 65536 }, gid: { start: 300000, count: 1000 } });
      assert.deepEqual(unshareArgs(ranges).filter((a) => a.startsWith("--map")), ["--map-root-user", "--map-users=200000,1,65536", "--map-groups=300000,1,1000"]);
      assert.throws(
        () => subordinateRanges({ name: "bo", uid: 1001, gid: 1001 }, { subuid, subgid }),
        (err: unknown) => err instanceof GantryError && /bo has no range in .*subuid \(hint: as root: usermod --add-subuids/.test(err.describe()),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses every resource flag without cgroups, naming the flags and the reason", () => {
    const host = { noCgroups: "cgroup v1 cannot be delegated" } as HostFacts;
    assert.deepEqual(requestedResourceFlags({ Memory: 64 << 20, NanoCpus: 1e9, PidsLimit: 10, CpusetCpus: "0" }), ["--memory", "--cpus", "--cpuset-cpus", "--pids-limit"]);
    // What the docker CLI sends when no flag is given asks for nothing.
    assert.deepEqual(requestedResourceFlags({ Memory: 0, MemorySwap: 0, MemorySwappiness: -1, PidsLimit: null, CpusetCpus: "", DeviceCgroupRules: [], OomKillDisable: false }), []);
    assert.doesNotThrow(() => refuseLimitsWithoutCgroups({ PidsLimit: -1, MemorySwap: -1 }, host));
    assert.throws(() => refuseLimitsWithoutCgroups({ Memory: 64 << 20 }, host), /--memory: resource limits need cgroups, and cgroup v1 cannot be delegated/);
    assert.doesNotThrow(() => refuseLimitsWithoutCgroups({ Memory: 64 << 20 }, {} as HostFacts));
  });
});
