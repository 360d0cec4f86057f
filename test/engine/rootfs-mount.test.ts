// Who mounts a container's overlay: its monitor while it runs (no mount(8) from the daemon
// per start), the daemon only when something needs the files of a stopped container.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { DOCKER, docker, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

const mounted = (path: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === path);

describe("container root filesystem mounts", { skip }, () => {
  const d = useTestDaemon();

  it("is mounted while the container runs and unmounted when it exits; cp and export still see the files", () => {
    const id = docker(d, ["create", "--name", "mnt", "busybox", "sh", "-c", "echo from-run > /ran.txt; sleep 300"]).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const merged = docker(d, ["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "mnt"]).stdout.trim();
    assert.equal(mounted(merged), false, "create does not mount");

    assert.equal(docker(d, ["start", "mnt"]).status, 0);
    assert.ok(mounted(merged), "the rootfs is mounted while the container runs");
    const exec = docker(d, ["exec", "mnt", "cat", "/etc/passwd"]);
    assert.match(exec.stdout, /^root:/);

    assert.equal(docker(d, ["stop", "-t", "1", "mnt"]).status, 0);
    assert.equal(mounted(merged), false, "the monitor unmounted it when the container exited");

    // A stopped container's files are still there for cp (the daemon mounts on demand) …
    const cp = docker(d, ["cp", "mnt:/ran.txt", "-"]);
    assert.equal(cp.status, 0, cp.stderr);
    assert.match(cp.stdout, /from-run/);
    // … and it starts again over that mount, which the daemon then owns until rm.
    assert.equal(docker(d, ["start", "mnt"]).status, 0);
    assert.ok(mounted(merged));
    assert.equal(docker(d, ["rm", "-f", "mnt"]).status, 0);
    // The layer goes just after rm answers (off the `run --rm` path).
    const until = Date.now() + 5000;
    while (mounted(merged) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    assert.equal(mounted(merged), false, "rm takes the daemon's mount away");
  });

  it("run --rm leaves no mount behind, and a user name resolves without a mount", () => {
    const before = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(d.root)).length;
    const r = docker(d, ["run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "id -u; echo $HOME"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "65534\n/nonexistent\n");
    const after = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(d.root)).length;
    assert.equal(after, before);
  });
});
