import { test } from "node:test";
import assert from "node:assert/strict";
import { cgroupDir, forgetCgroupMounts, parseMountinfo, parseProcCgroup, readCgroupMounts, readMounts, unifiedMount, v1Hierarchies } from "./hierarchy.ts";
import { resolveCgroupPath } from "./cgroup-path.ts";
import { GantryError } from "../../common/errors.ts";

const separate = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const comounted = `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
27 24 0:23 /docker/abc /mnt/again rw,nosuid shared:10 - cgroup cgroup rw,memory
28 24 0:24 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids
`;

test("v1 hierarchies from mountinfo: separate cpu/cpuacct mounts, named hierarchies", () => {
  const h = v1Hierarchies(parseMountinfo(separate));
  assert.deepEqual(h.map((x) => [x.mountPoint, x.controllers]), [
    ["/sys/fs/cgroup/cpu", ["cpu"]],
    ["/sys/fs/cgroup/cpuacct", ["cpuacct"]],
    ["/sys/fs/cgroup/systemd", ["name=systemd"]],
  ]);
  assert.equal(unifiedMount(parseMountinfo(separate))?.mountPoint, "/sys/fs/cgroup/unified");
});

test("v1 hierarchies: co-mounted cpu,cpuacct, bind mounts counted once, escaped mount points", () => {
  const h = v1Hierarchies(parseMountinfo(comounted));
  assert.deepEqual(h.map((x) => [x.mountPoint, x.root, x.controllers]), [
    ["/sys/fs/cgroup/cpu,cpuacct", "/", ["cpu", "cpuacct"]],
    ["/sys/fs/cgroup/memory", "/docker/abc", ["memory"]],
    ["/sys/fs/cgroup/with space", "/", ["pids"]],
  ]);
  assert.equal(unifiedMount(parseMountinfo(comounted)), undefined);
});

test("/proc/self/cgroup keys by controller, v2 line under ''", () => {
  const m = parseProcCgroup("9:name=systemd:/user.slice\n2:cpu,cpuacct:/a\n0::/b\n");
  assert.equal(m.get("cpu"), "/a");
  assert.equal(m.get("cpuacct"), "/a");
  assert.equal(m.get("name=systemd"), "/user.slice");
  assert.equal(m.get(""), "/b");
});

test("cgroupDir: absolute is under the hierarchy root, relative under our own cgroup", () => {
  assert.equal(cgroupDir("/sys/fs/cgroup/memory", "/", "/process_api/x", "/gantry/c1"), "/sys/fs/cgroup/memory/gantry/c1");
  assert.equal(cgroupDir("/sys/fs/cgroup/memory", "/", "/process_api/x", "gantry/c1"), "/sys/fs/cgroup/memory/process_api/x/gantry/c1");
  // a mount of a sub-tree: our path is shown from the hierarchy root
  assert.equal(cgroupDir("/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc/sub", "c1"), "/sys/fs/cgroup/memory/sub/c1");
});

test("cgroupsPath: default, normalised, '..' and root refused", () => {
  assert.equal(resolveCgroupPath(undefined, "c1"), "/gantry/c1");
  assert.equal(resolveCgroupPath("", "c1"), "/gantry/c1");
  assert.equal(resolveCgroupPath("//a/./b/", "c1"), "/a/b");
  assert.equal(resolveCgroupPath("a/b", "c1"), "a/b");
  const invalid = (e: unknown) => e instanceof GantryError && e.code === "INVALID_SPEC";
  assert.throws(() => resolveCgroupPath("/a/../b", "c1"), invalid);
  assert.throws(() => resolveCgroupPath("..", "c1"), invalid);
  assert.throws(() => resolveCgroupPath("/", "c1"), invalid);
  assert.throws(() => resolveCgroupPath(undefined, "a/b"), invalid);
});

test("readCgroupMounts: this host's cgroup mounts only, read once until forgotten", () => {
  const all = readMounts();
  const cgroups = readCgroupMounts();
  assert.deepEqual(
    cgroups,
    all.filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2"),
  );
  assert.equal(readCgroupMounts(), cgroups, "the same list, not read again");
  forgetCgroupMounts();
  const again = readCgroupMounts();
  assert.notEqual(again, cgroups, "read again after forgetCgroupMounts");
  assert.deepEqual(again, cgroups);
});
