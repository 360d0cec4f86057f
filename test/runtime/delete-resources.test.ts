// `delete` returns only when every cgroup directory the container made is gone, and only once
// none of its processes is left in any hierarchy — on the real kernel, through the CLI as
// runtime-tools drives it. (The retry logic itself is tested against a fake cgroupfs in
// src/runtime/cgroups/cgroup-fs.test.ts.)
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTestSkipReason, makeBundle, runtimeCli, tempRoot, uniqueId, type Bundle } from "../helpers/busybox-bundle.ts";

const PIDS_ROOT = "/sys/fs/cgroup/pids";
const skip = kernelTestSkipReason() ?? (existsSync(join(PIDS_ROOT, "cgroup.procs")) ? undefined : "needs the cgroup v1 pids hierarchy at /sys/fs/cgroup/pids");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const procsIn = (dir: string) => {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const killAll = (pids: number[]) => {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
};

describe("runtime delete removes every cgroup it made", { skip }, () => {
  const root = skip ? "" : tempRoot();
  const bundles: Bundle[] = [];
  const ids: string[] = [];
  const leftovers: string[] = []; // cgroup directories to remove whatever happened
  const rt = (args: string[]) => runtimeCli(root, args);
  const ok = (args: string[]) => {
    const r = rt(args);
    assert.equal(r.status, 0, `gantry-runtime ${args.join(" ")} failed: ${r.stderr}`);
    return r;
  };
  const state = (id: string) => JSON.parse(ok(["state", id]).stdout) as { status: string; pid?: number };
  const cgroupPathsOf = (id: string) => Object.values(JSON.parse(readFileSync(join(root, id, "state.json"), "utf8")).cgroupPaths as Record<string, string>);
  const waitStopped = async (id: string) => {
    const deadline = Date.now() + 20_000;
    while (state(id).status !== "stopped") {
      assert.ok(Date.now() < deadline, `${id} did not stop`);
      await sleep(20);
    }
  };

  after(async () => {
    for (const id of ids) rt(["delete", "--force", id]);
    for (const dir of leftovers.reverse()) {
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        killAll(procsIn(dir));
        try {
          rmdirSync(dir);
        } catch {
          await sleep(50);
        }
      }
    }
    for (const b of bundles) b.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("processes moved into a foreign cgroup are waited for in the others (runtime-tools delete_only_create_resources)", async () => {
    // No pid namespace: the shell's children outlive it, as a shared-pid container's can; and the
    // test moves the container's process into a pids cgroup of its own, as runtime-tools does.
    const b = makeBundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 300 & done; exit 0"], (c) => {
      c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "pid");
    });
    bundles.push(b);
    const id = uniqueId("delres-foreign");
    ids.push(id);
    const foreign = join(PIDS_ROOT, `${id}-foreign`);
    mkdirSync(foreign);
    leftovers.push(foreign);
    ok(["create", "--bundle", b.dir, id]);
    const ours = cgroupPathsOf(id);
    for (const d of ours) leftovers.push(d);
    writeFileSync(join(foreign, "tasks"), String(state(id).pid));
    ok(["start", id]);
    await waitStopped(id); // the shell exited; its sleeps are still in our memory, cpu, … cgroups
    assert.ok(procsIn(foreign).length > 0, "the shell's children run in the foreign cgroup");

    ok(["delete", id]);
    assert.deepEqual(procsIn(foreign), [], "delete killed what was left of the container");
    for (const d of ours) assert.ok(!existsSync(d), `${d} outlived delete`);
    rmdirSync(foreign); // no EBUSY: nothing of the container is left in the kernel either
    assert.equal(rt(["state", id]).status === 0, false, "the container is gone");
  });

  test("delete right after a kill of many processes, repeated: no directory outlives it", async () => {
    for (let round = 0; round < 6; round++) {
      const b = makeBundle(["sh", "-c", "for i in $(seq 40); do sleep 300 & done; wait"]);
      bundles.push(b);
      const id = uniqueId(`delres-${round}`);
      ids.push(id);
      ok(["create", "--bundle", b.dir, id]);
      const ours = cgroupPathsOf(id);
      for (const d of ours) leftovers.push(d);
      ok(["start", id]);
      const deadline = Date.now() + 10_000;
      while (procsIn(ours[0]!).length < 41 && Date.now() < deadline) await sleep(10);
      ok(["kill", id, "KILL"]);
      await waitStopped(id);
      ok(["delete", id]);
      for (const d of ours) assert.ok(!existsSync(d), `round ${round}: ${d} outlived delete`);
    }
  });
});
