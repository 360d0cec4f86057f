// `gantry daemon --runtime runc`: the same engine over runc's CLI, with the Node shim as each
// container's monitor (logs, attach, exit code), driven by the docker CLI.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { DOCKER, cleanup, docker, makeBusyboxImage, newDaemonDirs, skipReason, startTestDaemon } from "./_daemon.ts";

const skip =
  skipReason() ??
  (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`) ??
  (spawnSync("runc", ["--version"]).status === 0 ? undefined : "runc is not installed (apt-get install runc)");

describe("gantry daemon --runtime runc", { skip, concurrency: false }, () => {
  const d = newDaemonDirs();
  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, undefined, "runc");
  });
  after(async () => {
    await cleanup(d);
  });

  it("runs, logs, execs, limits, stops and removes containers through runc", () => {
    assert.equal(docker(d, ["info", "--format", "{{.DefaultRuntime}}"]).stdout.trim(), "runc");
    const r = docker(d, ["run", "--rm", "busybox", "sh", "-c", "echo via-runc; echo e >&2; exit 3"]);
    assert.equal(r.status, 3);
    assert.equal(r.stdout, "via-runc\n");
    assert.equal(r.stderr, "e\n");
    const id = docker(d, ["run", "-d", "--name", "r1", "--memory", "64m", "--cpu-shares", "300", "busybox", "sh", "-c", "echo started; sleep 300"]).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(readFileSync(`/sys/fs/cgroup/memory/gantry/${id}/memory.limit_in_bytes`, "utf8").trim(), String(64 << 20));
    assert.equal(readFileSync(`/sys/fs/cgroup/cpu/gantry/${id}/cpu.shares`, "utf8").trim(), "300");
    assert.equal(docker(d, ["exec", "r1", "sh", "-c", "exit 4"]).status, 4);
    // docker update goes through `runc update -r -` on the running container.
    const u = docker(d, ["update", "--memory", "96m", "--cpu-shares", "500", "--pids-limit", "40", "r1"]);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(readFileSync(`/sys/fs/cgroup/memory/gantry/${id}/memory.limit_in_bytes`, "utf8").trim(), String(96 << 20));
    assert.equal(readFileSync(`/sys/fs/cgroup/cpu/gantry/${id}/cpu.shares`, "utf8").trim(), "500");
    assert.equal(readFileSync(`/sys/fs/cgroup/pids/gantry/${id}/pids.max`, "utf8").trim(), "40");
    assert.equal(docker(d, ["logs", "r1"]).stdout, "started\n");
    assert.equal(docker(d, ["pause", "r1"]).status, 0);
    assert.equal(docker(d, ["unpause", "r1"]).status, 0);
    assert.match(docker(d, ["top", "r1"]).stdout, /sleep 300/);
    assert.equal(docker(d, ["stop", "-t", "1", "r1"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.ExitCode}} {{.Gantry.Runtime}}", "r1"]).stdout.trim(), "137 runc");
    assert.equal(docker(d, ["rm", "r1"]).status, 0);
  });
});
