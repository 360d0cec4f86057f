// Live restore: SIGKILL the daemon while containers run. The monitors (not the daemon) are
// the containers' parents, so they keep running; the restarted daemon re-adopts them from
// disk, their logs continue, and an exit that happened while it was down is reported with
// the right code.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { DOCKER, docker, killDaemon, skipReason, startTestDaemon, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("live restore after SIGKILL of the daemon", { skip }, () => {
  const d = useTestDaemon();

  it("keeps containers running, re-adopts them and reports exits that happened meanwhile", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "keep", "busybox", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"]).status, 0);
    assert.equal(docker(d, ["run", "-d", "--name", "dies", "busybox", "sh", "-c", "sleep 1; exit 7"]).status, 0);
    assert.equal(docker(d, ["run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300"]).status, 0);
    const pid = Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", "keep"]).stdout.trim());
    assert.ok(pid > 0);

    await killDaemon(d, "SIGKILL");
    await new Promise((r) => setTimeout(r, 2000)); // "dies" exits while nobody watches
    assert.ok(alive(pid), "the container outlived its daemon");

    await startTestDaemon(d);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"]).stdout.trim(), `running ${pid}`);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "dies"]).stdout.trim(), "exited 7");
    assert.equal(docker(d, ["wait", "dies"]).stdout.trim(), "7");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "always"]).stdout.trim(), "running 0");

    const before = docker(d, ["logs", "keep"]).stdout.split("\n").filter(Boolean).length;
    await new Promise((r) => setTimeout(r, 600));
    const afterLines = docker(d, ["logs", "keep"]).stdout.split("\n").filter(Boolean);
    assert.ok(afterLines.length > before, "logs continue after the restart");
    assert.match(afterLines.at(-1) ?? "", /^tick \d+$/);

    // The re-adopted container is fully managed: exec, stop with its exit code, rm.
    assert.equal(docker(d, ["exec", "keep", "true"]).status, 0);
    assert.equal(docker(d, ["stop", "-t", "1", "keep"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.ExitCode}}", "keep"]).stdout.trim(), "137");
    assert.ok(!alive(pid));
    assert.equal(docker(d, ["rm", "keep", "dies"]).status, 0);
  });
});
