import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { adaptHostConfig, parseCpuset, toLinuxResources, verifyResources, type HostFacts } from "./resources.ts";
import { buildOciSpec, capabilities, DEFAULT_CAPS } from "./oci-spec.ts";
import { restartDecision } from "./restart-policy.ts";
import type { HostConfig } from "./api-types.ts";

const v1: HostFacts = { ncpu: 2, cpus: "0-1", mems: "0", cgroupVersion: 1, swappiness: true, swapLimit: true };
const v2: HostFacts = { ...v1, cgroupVersion: 2, swappiness: false };

describe("Docker resource flags", () => {
  it("maps the walkthrough's flags as dockerd does", () => {
    const hc: HostConfig = { CpuShares: 513, NanoCpus: 2e9, CpusetCpus: "0,1", Memory: 1073741824, MemorySwap: 1293942784, MemorySwappiness: 7 };
    assert.deepEqual(verifyResources(adaptHostConfig(hc, v1), v1), []);
    assert.deepEqual(toLinuxResources(hc), {
      memory: { limit: 1073741824, swap: 1293942784, swappiness: 7 },
      cpu: { shares: 513, period: 100000, quota: 200000, cpus: "0,1" },
    });
  });

  it("defaults swap to twice the memory and drops swappiness on v2 with Docker's warning", () => {
    const hc = adaptHostConfig({ Memory: 64 << 20, MemorySwappiness: 7 }, v2);
    assert.equal(hc.MemorySwap, 128 << 20);
    const warnings = verifyResources(hc, v2);
    assert.match(warnings[0] ?? "", /Memory swappiness discarded/);
    assert.equal(toLinuxResources(hc).memory?.swappiness, undefined);
  });

  it("refuses impossible values with Docker's messages", () => {
    const bad = (hc: HostConfig, re: RegExp) => assert.throws(() => verifyResources(adaptHostConfig(hc, v1), v1), re);
    bad({ CpusetCpus: "1,3" }, /^GantryError: Requested CPUs are not available - requested 1,3, available: 0-1$/);
    bad({ CpusetCpus: "x" }, /Invalid value x for cpuset cpus/);
    bad({ CpusetMems: "1" }, /Requested memory nodes are not available - requested 1, available: 0/);
    bad({ Memory: 100 << 20, MemorySwap: 50 << 20 }, /Minimum memoryswap limit should be larger than memory limit, see usage/);
    bad({ Memory: 1 << 20 }, /Minimum memory limit allowed is 6MB/);
    bad({ NanoCpus: 3e9 }, /range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available/);
    bad({ NanoCpus: 1e9, CpuPeriod: 50000 }, /Conflicting options: Nano CPUs and CPU Period cannot both be set/);
    bad({ MemorySwappiness: 101 }, /valid memory swappiness range is 0-100/);
    bad({ BlkioWeight: 5 }, /Range of blkio weight is from 10 to 1000/);
    bad({ CpuPeriod: 10 }, /CPU cfs period can not be less than 1ms/);
  });

  it("parses cpusets", () => {
    assert.deepEqual([...(parseCpuset("0-2,5") ?? [])], [0, 1, 2, 5]);
    assert.equal(parseCpuset("3-1"), undefined);
  });
});

describe("OCI spec from a create request", () => {
  const base = {
    id: "a".repeat(64),
    config: { Tty: false },
    args: ["sleep", "1"],
    env: ["PATH=/bin"],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [] },
    rootfs: "/tmp/rootfs",
    etcFiles: { hostname: "/h", hosts: "/hs", resolvConf: "/r" },
    pidOfContainer: (name: string) => (name === "pod" ? 4242 : 0),
  };

  it("shares namespaces by /proc/PID/ns path and drops them for host", () => {
    const spec = buildOciSpec({ ...base, hostConfig: { PidMode: "container:pod", IpcMode: "host", NetworkMode: "none", UTSMode: "container:pod" } });
    const ns = spec.linux?.namespaces ?? [];
    assert.deepEqual(ns.find((n) => n.type === "pid"), { type: "pid", path: "/proc/4242/ns/pid" });
    assert.equal(ns.find((n) => n.type === "ipc"), undefined);
    assert.deepEqual(ns.find((n) => n.type === "uts"), { type: "uts", path: "/proc/4242/ns/uts" });
    assert.equal(spec.hostname, undefined, "a joined UTS namespace keeps its hostname");
    assert.equal(spec.linux?.cgroupsPath, `/gantry/${"a".repeat(64)}`);
  });

  it("puts the cgroup under --cgroup-parent and refuses one that climbs", () => {
    const spec = buildOciSpec({ ...base, hostConfig: { CgroupParent: "/kubepods/besteffort/pod1/" } });
    assert.equal(spec.linux?.cgroupsPath, `/kubepods/besteffort/pod1/${"a".repeat(64)}`);
    assert.equal(buildOciSpec({ ...base, hostConfig: { CgroupParent: "kubepods" } }).linux?.cgroupsPath, `/kubepods/${"a".repeat(64)}`);
    assert.throws(() => buildOciSpec({ ...base, hostConfig: { CgroupParent: "/kubepods/../etc" } }), /invalid cgroup parent/);
  });

  it("applies capabilities, privileged, read-only, ulimits and security options", () => {
    assert.deepEqual(capabilities({}), DEFAULT_CAPS);
    assert.deepEqual(capabilities({ CapDrop: ["ALL"], CapAdd: ["net_admin"] }), ["CAP_NET_ADMIN"]);
    assert.ok(!capabilities({ CapDrop: ["CHOWN"] }).includes("CAP_CHOWN"));
    assert.throws(() => capabilities({ CapAdd: ["BOGUS"] }), /invalid capability: CAP_BOGUS/);
    const spec = buildOciSpec({ ...base, hostConfig: { ReadonlyRootfs: true, Ulimits: [{ Name: "nofile", Soft: 512, Hard: 1024 }], SecurityOpt: ["no-new-privileges"] } });
    assert.equal(spec.root?.readonly, true);
    assert.deepEqual(spec.process?.rlimits, [{ type: "RLIMIT_NOFILE", soft: 512, hard: 1024 }]);
    assert.equal(spec.process?.noNewPrivileges, true);
    const priv = buildOciSpec({ ...base, hostConfig: { Privileged: true } });
    assert.deepEqual(priv.linux?.maskedPaths, []);
    assert.ok(priv.linux?.resources?.devices?.some((d) => d.allow && d.type === undefined));
    assert.throws(() => buildOciSpec({ ...base, hostConfig: { SecurityOpt: ["apparmor=foo"] } }), /not supported/);
  });
});

describe("restart policies", () => {
  it("follow Docker's rules with doubling back-off", () => {
    assert.equal(restartDecision({ Name: "no" }, 1, 0, false, 0).restart, false);
    assert.equal(restartDecision({ Name: "always" }, 0, 0, false, 0).restart, true);
    assert.equal(restartDecision({ Name: "always" }, 0, 0, true, 0).restart, false, "a manual stop never restarts");
    assert.equal(restartDecision({ Name: "on-failure", MaximumRetryCount: 2 }, 1, 1, false, 0).restart, true);
    assert.equal(restartDecision({ Name: "on-failure", MaximumRetryCount: 2 }, 1, 2, false, 0).restart, false);
    assert.equal(restartDecision({ Name: "on-failure" }, 0, 0, false, 0).restart, false);
    assert.equal(restartDecision({ Name: "always" }, 0, 3, false, 0).delayMs, 800);
    assert.equal(restartDecision({ Name: "always" }, 0, 3, false, 20_000).delayMs, 100, "a long run resets the back-off");
  });
});
