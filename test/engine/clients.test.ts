// Other clients of the same API: the npm dockerode library and Gantry's own CLI verbs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { gantry, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason();

describe("dockerode and the gantry CLI against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("dockerode: create, start, wait, logs, exec with exit code, inspect, stats, remove", async () => {
    const docker = new Docker({ socketPath: d.socket });
    assert.equal(String(await docker.ping()), "OK");
    const v = await docker.version();
    assert.equal(v.ApiVersion, "1.50");
    const c = await docker.createContainer({ Image: "busybox", Cmd: ["sh", "-c", "echo out; echo err >&2; sleep 30"], name: "dode" });
    await c.start();
    const info = await c.inspect();
    assert.equal(info.State.Running, true);
    assert.ok(info.State.Pid > 0);
    await new Promise((r) => setTimeout(r, 300));
    const logs = (await c.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let o = "";
    let e = "";
    stdout.on("data", (b: Buffer) => (o += b.toString()));
    stderr.on("data", (b: Buffer) => (e += b.toString()));
    // demux the multiplexed buffer by hand (modem.demuxStream needs a stream)
    for (let i = 0; i + 8 <= logs.length; ) {
      const len = logs.readUInt32BE(i + 4);
      (logs[i] === 2 ? stderr : stdout).write(logs.subarray(i + 8, i + 8 + len));
      i += 8 + len;
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(o, "out\n");
    assert.equal(e, "err\n");
    const exec = await c.exec({ Cmd: ["sh", "-c", "exit 9"], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    await new Promise((r) => stream.on("end", r).resume());
    assert.equal((await exec.inspect()).ExitCode, 9);
    const stats = await c.stats({ stream: false });
    assert.ok(stats.memory_stats.usage > 0);
    assert.ok((stats.pids_stats?.current ?? 0) >= 1);
    await c.kill();
    const w = await c.wait();
    assert.equal(w.StatusCode, 137);
    await c.remove();
    await assert.rejects(docker.getContainer("dode").inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
  });

  it("gantry CLI: run, ps, exec, logs, inspect --format, ns, stop, rm", () => {
    const r = gantry(d, ["run", "--rm", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 4"]);
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "oops\n");
    const id = gantry(d, ["run", "-d", "--name", "g1", "--memory", "64m", "busybox", "sleep", "300"]).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(gantry(d, ["ps"]).stdout, /g1/);
    assert.equal(gantry(d, ["ps", "-q", "--filter", "name=g1"]).stdout.trim(), id.slice(0, 12));
    assert.equal(gantry(d, ["exec", "g1", "sh", "-c", "exit 6"]).status, 6);
    assert.equal(gantry(d, ["exec", "-i", "g1", "cat"], { input: "in\n" }).stdout, "in\n");
    assert.equal(gantry(d, ["inspect", "-f", "{{.HostConfig.Memory}}", "g1"]).stdout.trim(), String(64 * 1024 * 1024));
    assert.equal(gantry(d, ["run", "-d", "--name", "g2", "--pid", "container:g1", "--uts", "container:g1", "busybox", "sleep", "300"]).status, 0);
    const ns = gantry(d, ["ns", "g1"]).stdout;
    assert.match(ns, /^lrwxrwxrwx .* pid +-> pid:\[\d+\] +shared with: g2$/m);
    assert.match(ns, /^lrwxrwxrwx .* uts +-> uts:\[\d+\] +shared with: g2$/m);
    assert.doesNotMatch(ns, /mnt .*shared with/);
    const top = gantry(d, ["top", "g1"]).stdout;
    assert.match(top, /sleep 300/);
    assert.equal(gantry(d, ["stop", "-t", "1", "g2"]).status, 0);
    assert.equal(gantry(d, ["wait", "g2"]).stdout.trim(), "143", "not pid 1 in the shared pid namespace: SIGTERM kills it");
    assert.match(gantry(d, ["logs", "g2"]).stdout, /^$/);
    assert.equal(gantry(d, ["rm", "-f", "g1", "g2"]).status, 0);
    assert.equal(gantry(d, ["rm", "-f", "g1"]).status, 0);
    const bad = gantry(d, ["run", "--rm", "--cpuset-cpus", "9", "busybox", "true"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Requested CPUs are not available/);
  });
});
