import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { noCgroups, requestedLimits } from "./none.ts";

describe("no cgroups (rootless on cgroup v1)", () => {
  it("finds limits but not device rules in linux.resources", () => {
    assert.deepEqual(requestedLimits({ devices: [{ allow: false, access: "rwm" }] }), []);
    assert.deepEqual(requestedLimits({ memory: { limit: 1 << 26 }, pids: { limit: 5 }, cpu: {} }), ["linux.resources.memory", "linux.resources.pids"]);
  });

  it("refuses limits and the freezer with the reason; finds the container's processes without a cgroup", async () => {
    const cg = noCgroups(() => process.pid);
    assert.doesNotThrow(() => cg.apply({ devices: [] }));
    assert.throws(() => cg.apply({ memory: { limit: 1 << 26 } }), /linux\.resources\.memory needs cgroups, and a rootless runtime cannot write this host's cgroups/);
    await assert.rejects(cg.freeze(), /freezer/);
    // This process shares the host's pid namespace: only it is "the container".
    assert.deepEqual(cg.pids(), [process.pid]);
    assert.equal(cg.stats().pids.current, 1);
  });
});
