// Other clients of the same API: the npm dockerode library and Gantry's own CLI verbs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  it("gantry CLI: mounts, pause, rename, diff, cp both ways, logs --since, bad flags refused before the daemon", () => {
    const host = mkdtempSync(join(tmpdir(), "gantry-cli-"));
    try {
      writeFileSync(join(host, "in.txt"), "from the host\n");
      const run = gantry(d, ["run", "-d", "--name", "gm", "-v", `${host}:/hostdir:ro`, "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m", "--tmpfs", "/fast:size=2m,exec", "busybox", "sh", "-c", "echo started; echo x > /made; sleep 300"]);
      assert.equal(run.status, 0, run.stderr);
      const catMounts = gantry(d, ["exec", "gm", "cat", "/proc/mounts"]);
      assert.equal(catMounts.status, 0, catMounts.stderr);
      const mounts = catMounts.stdout;
      assert.match(mounts, /^tmpfs \/scratch tmpfs [^ ]*size=1024k/m);
      assert.match(mounts, /^tmpfs \/fast tmpfs [^ ]*size=2048k/m);
      assert.doesNotMatch(mounts.split("\n").find((l) => l.includes(" /fast ")) ?? "", /noexec/);
      assert.equal(gantry(d, ["exec", "gm", "cat", "/hostdir/in.txt"]).stdout, "from the host\n");
      assert.notEqual(gantry(d, ["exec", "gm", "touch", "/hostdir/new"]).status, 0, "the bind is read-only");
      assert.equal(gantry(d, ["pause", "gm"]).status, 0);
      assert.equal(gantry(d, ["inspect", "-f", "{{.State.Status}}", "gm"]).stdout.trim(), "paused");
      assert.equal(gantry(d, ["unpause", "gm"]).status, 0);
      assert.equal(gantry(d, ["rename", "gm", "gm2"]).status, 0);
      assert.equal(gantry(d, ["inspect", "-f", "{{.Name}}", "gm2"]).stdout.trim(), "/gm2");
      assert.match(gantry(d, ["diff", "gm2"]).stdout, /^A \/made$/m);
      assert.equal(gantry(d, ["cp", join(host, "in.txt"), "gm2:/tmp"]).status, 0);
      assert.equal(gantry(d, ["exec", "gm2", "cat", "/tmp/in.txt"]).stdout, "from the host\n");
      const back = gantry(d, ["cp", "gm2:/made", join(host, "out.txt")]);
      assert.equal(back.status, 0, back.stderr);
      assert.equal(readFileSync(join(host, "out.txt"), "utf8"), "x\n");
      assert.equal(gantry(d, ["logs", "--since", "1h", "gm2"]).stdout, "started\n");
      const missing = gantry(d, ["cp", "nosuch:/x", join(host, "y")]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /No such container/i);
      for (const [flag, value, message] of [
        ["-p", "80:99999", /invalid container port "99999"/],
        ["--mount", "type=bind,target=/x", /source is required/],
        ["--tmpfs", "/t:bogus", /option "bogus" is not allowed/],
        ["-v", "rel/dir:/x", /invalid characters for a local volume name/],
      ] as const) {
        const r = gantry(d, ["run", "--rm", "--name", "never", flag, value, "busybox", "true"]);
        assert.equal(r.status, 125, `${flag} ${value}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      assert.equal(gantry(d, ["ps", "-a", "-q", "--filter", "name=never"]).stdout, "", "nothing was created");
      assert.equal(gantry(d, ["rm", "-f", "gm2"]).status, 0);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });
});
