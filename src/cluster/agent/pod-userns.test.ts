import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { kubeletIdPool, PodUserns, POD_USERNS_SIZE } from "./pod-userns.ts";

test("the kubelet's ids: its subordinate lines, else 65536 up to 2^32", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-podusers-"));
  try {
    const files = { subuid: join(dir, "subuid"), subgid: join(dir, "subgid") };
    assert.deepEqual(kubeletIdPool(files), { uids: [{ start: 65536, count: 2 ** 32 - 65536 }], gids: [{ start: 65536, count: 2 ** 32 - 65536 }] });
    writeFileSync(files.subuid, "other:100000:65536\nkubelet:655360:262144\n");
    writeFileSync(files.subgid, "kubelet:1310720:131072\n");
    assert.deepEqual(kubeletIdPool(files), { uids: [{ start: 655360, count: 262144 }], gids: [{ start: 1310720, count: 131072 }] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pod ranges: disjoint, stable per pod, recorded, adopted by a new agent, freed on release, run out clearly", () => {
  const root = mkdtempSync(join(tmpdir(), "gantry-podusers-"));
  try {
    const ids = { uids: [{ start: 65536, count: 3 * POD_USERNS_SIZE }], gids: [{ start: 65536, count: 3 * POD_USERNS_SIZE }] };
    const a = new PodUserns(root, ids);
    const pa = a.forPod("pod-a");
    const pb = a.forPod("pod-b");
    assert.deepEqual(pa.UidMappings, [{ containerID: 0, hostID: 65536, size: 65536 }]);
    assert.deepEqual(pb.UidMappings, [{ containerID: 0, hostID: 131072, size: 65536 }]);
    assert.deepEqual(a.forPod("pod-a"), pa, "a pod keeps its range");
    assert.equal(a.hostGid("pod-b", 2000), 131072 + 2000);
    assert.equal(a.hostGid("no-such-pod", 2000), 2000);
    assert.deepEqual(JSON.parse(readFileSync(join(root, "pod-a", "userns"), "utf8")), {
      uidMappings: [{ hostId: 65536, containerId: 0, length: 65536 }],
      gidMappings: [{ hostId: 65536, containerId: 0, length: 65536 }],
    });
    // A new agent over the same directory knows both: the next pod gets the third range.
    const b = new PodUserns(root, ids);
    assert.deepEqual(b.of("pod-a"), pa);
    assert.equal(b.forPod("pod-c").UidMappings[0]!.hostID, 196608);
    assert.throws(() => b.forPod("pod-d"), /no free range of 65536 ids left .*3 held/);
    b.release("pod-a");
    assert.equal(b.of("pod-a"), undefined);
    assert.equal(b.forPod("pod-d").UidMappings[0]!.hostID, 65536, "a released range is handed out again");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
