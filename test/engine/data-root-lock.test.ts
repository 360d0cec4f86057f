// A daemon owns its data root (DATA_ROOT/daemon.lock): a second daemon on the same root
// refuses to start, naming the owner, and leaves the first one serving; once the owner is
// SIGKILLed, the next daemon takes the root over.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, docker, killDaemon, makeBusyboxImage, newDaemonDirs, skipReason, startTestDaemon, type TestDaemon } from "./_daemon.ts";

describe("one daemon per data root", { skip: skipReason(), concurrency: false }, () => {
  it("a second daemon on the same data root refuses; a dead owner's root is taken over", async () => {
    const first = newDaemonDirs();
    // Same data root, its own socket and exec root.
    const second: TestDaemon = { ...first, socket: join(first.dir, "second.sock"), execRoot: join(first.dir, "run2"), child: undefined, log: [] };
    try {
      await makeBusyboxImage(first.root);
      await startTestDaemon(first);
      await assert.rejects(startTestDaemon(second), (err: Error) => {
        assert.match(err.message, new RegExp(`data root ${first.root} is in use by another gantry daemon \\(pid ${first.child!.pid}\\)`));
        return true;
      });
      assert.notEqual(second.child!.exitCode, 0);
      const lock = JSON.parse(readFileSync(join(first.root, "daemon.lock"), "utf8")) as { pid: number };
      assert.equal(lock.pid, first.child!.pid);
      // The owner is untouched and still serves.
      assert.match(docker(first, ["images"]).stdout, /busybox\s+latest/);
      assert.equal(JSON.parse(readFileSync(join(first.root, "daemon.lock"), "utf8")).pid, first.child!.pid);

      await killDaemon(first, "SIGKILL");
      second.log = [];
      await startTestDaemon(second);
      assert.match(docker(second, ["images"]).stdout, /busybox\s+latest/);
      assert.equal(JSON.parse(readFileSync(join(first.root, "daemon.lock"), "utf8")).pid, second.child!.pid);
    } finally {
      await killDaemon(second);
      await cleanup(first);
    }
  });
});
