import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { HostConfig } from "./api-types.ts";
import type { HostFacts } from "./resources.ts";
import { planUpdate, type UpdateBody } from "./update.ts";

const host: HostFacts = { ncpu: 2, cpus: "0-1", mems: "0", cgroupVersion: 1, swappiness: true, swapLimit: true, blkioWeight: false };

describe("docker update's plan (dockerd's UpdateContainer rules)", () => {
  it("changes only what the request sets and gives the limits to write", () => {
    const p = planUpdate({ Memory: 512 << 20, MemorySwap: 1024 << 20, CpuShares: 100, RestartPolicy: { Name: "no", MaximumRetryCount: 0 } }, { Memory: 256 << 20, NanoCpus: 1e9, CpuShares: 0, PidsLimit: null }, host);
    assert.equal(p.hostConfig.Memory, 256 << 20);
    assert.equal(p.hostConfig.MemorySwap, 1024 << 20);
    assert.equal(p.hostConfig.CpuShares, 100, "zero means unchanged");
    assert.deepEqual(p.resources, { memory: { limit: 256 << 20, swap: 1024 << 20 }, cpu: { shares: 100, period: 100000, quota: 100000 } });
  });

  it("a restart policy alone writes no limit; -1 pids writes max", () => {
    assert.equal(planUpdate({}, { RestartPolicy: { Name: "always" } }, host).resources, undefined);
    const p = planUpdate({ PidsLimit: 50 }, { PidsLimit: -1 }, host);
    assert.equal(p.hostConfig.PidsLimit, 0);
    assert.deepEqual(p.resources?.pids, { limit: -1 });
  });

  it("refuses clashes with the container (409) and bad values (400)", () => {
    const refuses = (hc: HostConfig, body: UpdateBody, code: string, re: RegExp) =>
      assert.throws(() => planUpdate(hc, body, host), (e: { code: string; message: string }) => e.code === code && re.test(e.message));
    refuses({}, { Memory: 256 << 20 }, "CONFLICT", /^Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time$/);
    refuses({ MemorySwap: -1 }, { Memory: 256 << 20 }, "CONFLICT", /update the memoryswap at the same time/);
    refuses({ NanoCpus: 1e9 }, { CpuQuota: 50000 }, "CONFLICT", /CPU Quota cannot be updated as NanoCPUs has already been set/);
    refuses({ CpuPeriod: 50000 }, { NanoCpus: 1e9 }, "CONFLICT", /Nano CPUs cannot be updated as CPU Period has already been set/);
    refuses({ AutoRemove: true }, { RestartPolicy: { Name: "always" } }, "CONFLICT", /AutoRemove is enabled/);
    refuses({}, { Memory: 1 << 20, MemorySwap: -1 }, "INVALID_ARGUMENT", /Minimum memory limit allowed is 6MB/);
    refuses({}, { RestartPolicy: { Name: "sometimes" as "no" } }, "INVALID_ARGUMENT", /invalid restart policy 'sometimes'/);
    refuses({}, { RestartPolicy: { Name: "always", MaximumRetryCount: 3 } }, "INVALID_ARGUMENT", /only be used with 'on-failure'/);
  });

  it("swap may come without memory; blkio weight is discarded with dockerd's warning when the kernel has none", () => {
    assert.equal(planUpdate({ Memory: 64 << 20 }, { MemorySwap: 256 << 20 }, host).hostConfig.MemorySwap, 256 << 20);
    const p = planUpdate({}, { BlkioWeight: 300 }, host);
    assert.deepEqual(p.warnings, ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]);
    assert.equal(p.hostConfig.BlkioWeight, undefined);
    assert.equal(p.resources, undefined);
    assert.equal(planUpdate({}, { BlkioWeight: 300 }, { ...host, blkioWeight: true }).hostConfig.BlkioWeight, 300);
  });
});
