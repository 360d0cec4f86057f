import assert from "node:assert/strict";
import { test } from "node:test";
import { hostIdOf, ownersInside, parseSubordinateIds, parseUsernsMode, UsernsPolicy, type RemapIdentity } from "./userns.ts";

test("subordinate ids: the user's lines by name or number, malformed ones skipped", () => {
  const text = "other:100000:65536\ngantry:165536:65536\n999:300000:1000\ngantry:x:5\ngantry:400000:0\n";
  assert.deepEqual(parseSubordinateIds(text, ["gantry", "999"]), [
    { start: 165536, count: 65536 },
    { start: 300000, count: 1000 },
  ]);
  assert.deepEqual(parseSubordinateIds(text, ["nobody"]), []);
});

test("userns modes: default, host, auto with a size, container:ID; anything else refused", () => {
  assert.deepEqual(parseUsernsMode(""), { kind: "default" });
  assert.deepEqual(parseUsernsMode("private"), { kind: "default" });
  assert.deepEqual(parseUsernsMode("host"), { kind: "host" });
  assert.deepEqual(parseUsernsMode("auto"), { kind: "auto", size: 1024 });
  assert.deepEqual(parseUsernsMode("auto:size=70"), { kind: "auto", size: 70 });
  assert.deepEqual(parseUsernsMode("container:sandbox"), { kind: "container", ref: "sandbox" });
  for (const bad of ["auto:size=0", "auto:size=x", "auto:uidmapping=0:1:2", "keep-id", "container:"]) {
    assert.throws(() => parseUsernsMode(bad), /invalid userns mode/, bad);
  }
});

const remap: RemapIdentity = { user: "gantry", group: "gantry", uids: [{ start: 100000, count: 65536 }], gids: [{ start: 200000, count: 65536 }] };

test("remapped containers share the first range; host opts out; auto needs a remap", () => {
  const p = new UsernsPolicy(remap);
  assert.deepEqual(p.forNewContainer("a", ""), {
    Mode: "remap",
    UidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    GidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
  });
  assert.equal(p.forNewContainer("b", "host"), undefined);
  assert.equal(new UsernsPolicy(undefined).forNewContainer("c", ""), undefined);
  assert.throws(() => new UsernsPolicy(undefined).forNewContainer("c", "auto"), /needs a daemon started with --userns-remap/);
});

test("auto ranges never overlap a held one, are freed on release, adopted after a restart, and run out clearly", () => {
  const p = new UsernsPolicy(remap);
  const a = p.forNewContainer("a", "auto:size=30000")!;
  const b = p.forNewContainer("b", "auto:size=30000")!;
  assert.equal(a.UidMappings[0]!.hostID, 100000);
  assert.equal(b.UidMappings[0]!.hostID, 130000);
  assert.equal(b.GidMappings[0]!.hostID, 230000);
  assert.throws(() => p.forNewContainer("c", "auto:size=30000"), /no free range of 30000 ids left in gantry's subordinate ids \(2 held/);
  p.release("a");
  assert.equal(p.forNewContainer("c", "auto:size=30000")!.UidMappings[0]!.hostID, 100000);
  // A restarted daemon learns the held ranges from the records.
  const q = new UsernsPolicy(remap);
  q.adopt("b", b);
  assert.equal(q.forNewContainer("d", "auto:size=30000")!.UidMappings[0]!.hostID, 100000);
  assert.throws(() => q.forNewContainer("e", "auto:size=10000"), /no free range/);
  assert.equal(q.forNewContainer("e", "auto:size=5536")!.UidMappings[0]!.hostID, 160000);
});

test("with a second range, auto containers take it before the shared first one", () => {
  const two = { ...remap, uids: [...remap.uids, { start: 500000, count: 5000 }], gids: [...remap.gids, { start: 600000, count: 5000 }] };
  const p = new UsernsPolicy(two);
  assert.equal(p.forNewContainer("a", "auto:size=5000")!.UidMappings[0]!.hostID, 500000);
  assert.equal(p.forNewContainer("b", "auto:size=5000")!.UidMappings[0]!.hostID, 100000);
});

test("hostIdOf maps a container id through the maps", () => {
  const maps = [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 10, hostID: 500000, size: 5 }];
  assert.equal(hostIdOf(maps, 0), 100000);
  assert.equal(hostIdOf(maps, 12), 500002);
  assert.equal(hostIdOf(maps, 15), undefined);
  const inside = ownersInside({ Mode: "remap", UidMappings: maps, GidMappings: [{ containerID: 0, hostID: 200000, size: 10 }] });
  assert.deepEqual(inside(500002, 200003), { uid: 12, gid: 3 });
  assert.deepEqual(inside(0, 0), { uid: 65534, gid: 65534 }, "the host's root is nobody inside");
});
