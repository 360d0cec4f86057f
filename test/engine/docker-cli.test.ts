// The real docker CLI (28.2.2, client only) against `gantry daemon` on a temporary socket:
// every verb the engine serves, the walkthrough with its cgroup files, and Docker's
// errors for bad input.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { DOCKER, docker, skipReason, useTestDaemon, type TestDaemon } from "./_daemon.ts";
import { overlayTakesVolatile } from "../../src/engine/kernel-release.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

function raw(d: TestDaemon, method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: body !== undefined ? { "Content-Type": "application/json" } : {} }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const cgroupFile = (id: string, controller: string, file: string) => readFileSync(join("/sys/fs/cgroup", controller, "gantry", id, file), "utf8").trim();

describe("docker CLI against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("negotiates the API version (ping headers, /version, versioned and unversioned paths)", async () => {
    const ping = await raw(d, "HEAD", "/_ping");
    assert.equal(ping.status, 200);
    assert.equal(ping.headers["api-version"], "1.50");
    assert.equal(ping.headers.ostype, "linux");
    const v = docker(d, ["version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}"]);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), "1.50 1.50");
    const old = docker(d, ["version", "--format", "{{.Client.APIVersion}}"], { env: { DOCKER_API_VERSION: "1.41" } });
    assert.equal(old.stdout.trim(), "1.41");
    assert.equal((await raw(d, "GET", "/v1.41/containers/json")).status, 200);
    assert.equal((await raw(d, "GET", "/containers/json")).status, 200);
    const info = docker(d, ["info", "--format", "{{.NCPU}} {{.CgroupVersion}} {{.Driver}}"]);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^\d+ [12] overlay2/);
  });

  it("runs the walkthrough: limits land in the container's cgroup files, the pid is on the host", () => {
    const r = docker(d, ["run", "-d", "--name", "walk", "--cpu-shares", "513", "--cpus", "2", "--cpuset-cpus", "0,1", "--memory", "1024M", "--memory-swap", "1234M", "--memory-swappiness", "7", "busybox", "sleep", "300"]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = docker(d, ["ps"]);
    assert.match(ps.stdout, /walk/);
    assert.match(ps.stdout, /Up /);
    const pid = Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", "walk"]).stdout.trim());
    assert.ok(pid > 0);
    assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /^sleep\x00300/);
    assert.equal(cgroupFile(id, "cpu", "cpu.shares"), "513");
    assert.equal(cgroupFile(id, "cpu", "cpu.cfs_quota_us"), "200000");
    assert.equal(cgroupFile(id, "cpu", "cpu.cfs_period_us"), "100000");
    assert.equal(cgroupFile(id, "cpuset", "cpuset.cpus"), "0-1");
    assert.equal(cgroupFile(id, "memory", "memory.limit_in_bytes"), "1073741824");
    assert.equal(cgroupFile(id, "memory", "memory.memsw.limit_in_bytes"), "1293942784");
    assert.equal(cgroupFile(id, "memory", "memory.swappiness"), "7");
    const inspect = JSON.parse(docker(d, ["inspect", "walk"]).stdout)[0];
    assert.equal(inspect.State.Status, "running");
    assert.equal(inspect.HostConfig.CpuShares, 513);
    assert.equal(inspect.HostConfig.NanoCpus, 2e9);
    assert.ok(inspect.Gantry.Namespaces.pid.startsWith("pid:["));
    assert.ok(inspect.Gantry.CgroupPaths.memory.endsWith(id));
  });

  it("run --rm: output on stdout and stderr, exit code from wait", () => {
    const r = docker(d, ["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    const ps = docker(d, ["ps", "-a", "--format", "{{.Command}}"]);
    assert.doesNotMatch(ps.stdout, /exit 3/, "--rm removed the container");
  });

  it("run --rm mounts its root filesystem volatile (its unmount skips the sync); a kept container's is not", () => {
    const rootLine = (out: string) => out.split("\n").find((l) => l.split(" ")[4] === "/") ?? "";
    const rm = docker(d, ["run", "--rm", "busybox", "cat", "/proc/self/mountinfo"]);
    assert.equal(rm.status, 0, rm.stderr);
    // (a kernel older than 5.10 has no `volatile`: there the mount goes without it)
    if (overlayTakesVolatile) assert.match(rootLine(rm.stdout), / overlay overlay .*\bvolatile\b/);
    else assert.doesNotMatch(rootLine(rm.stdout), /\bvolatile\b/);
    const kept = docker(d, ["run", "--name", "kept-rootfs", "busybox", "cat", "/proc/self/mountinfo"]);
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(rootLine(kept.stdout), / overlay overlay /);
    assert.doesNotMatch(rootLine(kept.stdout), /\bvolatile\b/);
    assert.equal(docker(d, ["rm", "kept-rootfs"]).status, 0);
  });

  it("the host's root is detached before the container's process runs, also under --pids-limit 1", () => {
    for (const args of [[], ["--pids-limit", "1"]]) {
      const r = docker(d, ["run", "--rm", ...args, "busybox", "cat", "/proc/self/mountinfo"]);
      assert.equal(r.status, 0, r.stderr);
      const roots = r.stdout.split("\n").filter((l) => l.split(" ")[4] === "/");
      assert.equal(roots.length, 1, `one mount at / (${args.join(" ") || "no limit"}):\n${r.stdout}`);
      assert.match(roots[0]!, / overlay overlay /);
    }
  });

  it("--network none (and no networking at all): only lo, and it is up", () => {
    for (const args of [["--network", "none"], []]) {
      // IFF_UP|IFF_LOOPBACK is 0x9; a down lo shows 0x8.
      const r = docker(d, ["run", "--rm", ...args, "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "lo\n0x9\n", `docker run ${args.join(" ")}`);
    }
  });

  it("run -i feeds stdin; -t gives a terminal", () => {
    const r = docker(d, ["run", "--rm", "-i", "busybox", "sh", "-c", "read x; echo got $x"], { input: "hello\n" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "got hello\n");
  });

  it("logs: all, --tail, -t, --since, -f ends when the container exits", () => {
    const r = docker(d, ["run", "-d", "--name", "logger", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2; sleep 1"]);
    assert.equal(r.status, 0, r.stderr);
    const f = docker(d, ["logs", "-f", "logger"]);
    assert.equal(f.status, 0);
    assert.equal(f.stdout, "line 1\nline 2\nline 3\n");
    assert.equal(f.stderr, "oops\n");
    assert.equal(docker(d, ["logs", "--tail", "1", "logger"]).stderr, "oops\n");
    assert.match(docker(d, ["logs", "-t", "logger"]).stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z line 1$/m);
    assert.equal(docker(d, ["logs", "--since", String(Math.floor(Date.now() / 1000) + 60), "logger"]).stdout, "");
  });

  it("exec: exit code, env, workdir, user, stdin", () => {
    const r = docker(d, ["exec", "walk", "sh", "-c", "exit 5"]);
    assert.equal(r.status, 5);
    const e = docker(d, ["exec", "-e", "A=b", "-w", "/tmp", "-u", "65534", "walk", "sh", "-c", "echo $A $(pwd) $(id -u)"]);
    assert.equal(e.stdout.trim(), "b /tmp 65534");
    const i = docker(d, ["exec", "-i", "walk", "cat"], { input: "piped\n" });
    assert.equal(i.stdout, "piped\n");
    const missing = docker(d, ["exec", "walk", "/nonexistent"]);
    assert.notEqual(missing.status, 0);
  });

  it("top, stats, pause/unpause, rename, diff, cp", () => {
    const top = docker(d, ["top", "walk"]);
    assert.match(top.stdout, /sleep 300/);
    const stats = docker(d, ["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "walk"]);
    assert.equal(stats.status, 0, stats.stderr);
    assert.match(stats.stdout, /^walk .+ \/ 1GiB 1$/m);
    // transitions the state machine lacks are refused with Docker's words, and change nothing
    let refused = docker(d, ["unpause", "walk"]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Container [0-9a-f]{64} is not paused/);
    assert.equal(docker(d, ["pause", "walk"]).status, 0);
    assert.equal(cgroupFile(docker(d, ["inspect", "-f", "{{.Id}}", "walk"]).stdout.trim(), "freezer", "freezer.state"), "FROZEN");
    assert.match(docker(d, ["ps", "--filter", "name=walk"]).stdout, /\(Paused\)/);
    refused = docker(d, ["pause", "walk"]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Container [0-9a-f]{64} is already paused/);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "walk"]).stdout.trim(), "paused");
    assert.equal(docker(d, ["unpause", "walk"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "walk"]).stdout.trim(), "running");
    assert.equal(docker(d, ["rename", "walk", "walk2"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.Name}}", "walk2"]).stdout.trim(), "/walk2");
    docker(d, ["exec", "walk2", "sh", "-c", "echo x > /tmp/newfile; rm /bin/vi"]);
    const diff = docker(d, ["diff", "walk2"]).stdout;
    assert.match(diff, /^A \/tmp\/newfile$/m);
    assert.match(diff, /^D \/bin\/vi$/m);
    const src = join(d.dir, "cp-in.txt");
    writeFileSync(src, "copied\n");
    assert.equal(docker(d, ["cp", src, "walk2:/tmp/"]).status, 0);
    assert.equal(docker(d, ["exec", "walk2", "cat", "/tmp/cp-in.txt"]).stdout, "copied\n");
    const out = join(d.dir, "cp-out.txt");
    assert.equal(docker(d, ["cp", "walk2:/tmp/newfile", out]).status, 0);
    assert.equal(readFileSync(out, "utf8"), "x\n");
  });

  it("stop, kill, wait, restart, start, rm, ps filters", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "stopper", "--stop-timeout", "1", "busybox", "sleep", "300"]).status, 0);
    const t0 = Date.now();
    assert.equal(docker(d, ["stop", "stopper"]).status, 0);
    assert.ok(Date.now() - t0 < 8000);
    assert.equal(docker(d, ["wait", "stopper"]).stdout.trim(), "137");
    assert.equal(docker(d, ["ps", "-a", "--filter", "status=exited", "--filter", "name=stopper", "-q"]).stdout.trim().length, 12);
    assert.equal(docker(d, ["start", "stopper"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "stopper"]).stdout.trim(), "running");
    assert.equal(docker(d, ["rm", "-f", "stopper"]).status, 0);
    assert.equal(docker(d, ["run", "-d", "--name", "stopper", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]).status, 0);
    const badKill = docker(d, ["kill", "-s", "NOPE", "stopper"]);
    assert.notEqual(badKill.status, 0);
    assert.match(badKill.stderr, /unknown signal "NOPE"/);
    const badCreate = docker(d, ["create", "--stop-signal", "RTMAX+1", "busybox"]);
    assert.notEqual(badCreate.status, 0);
    assert.match(badCreate.stderr, /unknown signal "RTMAX\+1"/);
    assert.equal(docker(d, ["kill", "-s", "TERM", "stopper"]).status, 0);
    assert.equal(docker(d, ["wait", "stopper"]).stdout.trim(), "7");
    assert.equal(docker(d, ["restart", "-t", "1", "stopper"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Running}}", "stopper"]).stdout.trim(), "true");
    const rm = docker(d, ["rm", "stopper"]);
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, /stop the container before removing or force remove/);
    assert.equal(docker(d, ["rm", "-f", "stopper"]).status, 0);
    assert.equal(docker(d, ["rm", "-f", "stopper"]).status, 0, "rm -f of a missing container is not an error");
    assert.match(docker(d, ["inspect", "stopper"]).stderr, /No such object: stopper/);
  });

  it("restart policy on-failure:2 restarts twice with back-off, then stays down", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 4"]).status, 0);
    const deadline = Date.now() + 15_000;
    let state = "";
    while (Date.now() < deadline) {
      state = docker(d, ["inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "flaky"]).stdout.trim();
      if (state === "2 exited 4") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(state, "2 exited 4");
  });

  it("events: create/start/die with exitCode", () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    docker(d, ["run", "--rm", "--name", "evt", "busybox", "sh", "-c", "exit 2"]);
    const ev = docker(d, ["events", "--since", since, "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=evt", "--format", "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}"]);
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /^create/m);
    assert.match(ev.stdout, /^start/m);
    assert.match(ev.stdout, /^die 2$/m);
    assert.match(ev.stdout, /^destroy/m);
  });

  it("namespace sharing: --pid/--ipc/--uts container:NAME and host", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "pod", "busybox", "sleep", "300"]).status, 0);
    assert.equal(docker(d, ["run", "-d", "--name", "side", "--pid", "container:pod", "--ipc", "container:pod", "busybox", "sleep", "300"]).status, 0);
    const ns = (n: string) => JSON.parse(docker(d, ["inspect", "-f", "{{json .Gantry.Namespaces}}", n]).stdout) as Record<string, string>;
    const a = ns("pod");
    const b = ns("side");
    assert.equal(a.pid, b.pid);
    assert.equal(a.ipc, b.ipc);
    assert.notEqual(a.uts, b.uts, "the docker CLI allows only --uts host");
    assert.notEqual(a.mnt, b.mnt);
    const ps = docker(d, ["exec", "side", "ps"]).stdout;
    assert.match(ps, /sleep 300[\s\S]*sleep 300/, "side sees pod's processes");
    assert.equal(docker(d, ["run", "--rm", "--pid", "host", "busybox", "sh", "-c", "test -d /proc/1 && cat /proc/1/comm"]).status, 0);
    const caps = docker(d, ["run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", "grep CapEff /proc/self/status"]).stdout;
    assert.match(caps, /CapEff:\s+0000000000001000/);
    const ro = docker(d, ["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert.notEqual(ro.status, 0);
    const ul = docker(d, ["run", "--rm", "--ulimit", "nofile=512:512", "--pids-limit", "50", "busybox", "sh", "-c", "ulimit -n; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || true"]);
    assert.match(ul.stdout, /^512$/m);
  });

  it("bad input gets Docker's errors", async () => {
    const cpuset = docker(d, ["run", "--rm", "--cpuset-cpus", "1,7", "busybox", "true"]);
    assert.equal(cpuset.status, 125);
    assert.match(cpuset.stderr, /Requested CPUs are not available - requested 1,7, available: 0-\d+/);
    const swap = docker(d, ["run", "--rm", "--memory", "100M", "--memory-swap", "50M", "busybox", "true"]);
    assert.match(swap.stderr, /Minimum memoryswap limit should be larger than memory limit/);
    const mem = docker(d, ["create", "--memory", "1M", "busybox", "true"]);
    assert.match(mem.stderr, /Minimum memory limit allowed is 6MB/);
    const cpus = docker(d, ["create", "--cpus", "64", "busybox", "true"]);
    assert.match(cpus.stderr, /range of CPUs is from 0.01 to \d+\.00, as there are only \d+ CPUs available/);
    const malformed = await raw(d, "POST", "/v1.50/containers/create", "{not json");
    assert.equal(malformed.status, 400);
    assert.match(JSON.parse(malformed.body).message, /malformed JSON/);
    const noImage = await raw(d, "POST", "/v1.50/containers/create", JSON.stringify({ Image: "nosuchimage:1.0" }));
    assert.equal(noImage.status, 404);
    assert.equal(JSON.parse(noImage.body).message, "No such image: nosuchimage:1.0");
    const port = docker(d, ["create", "-p", "8081:80", "busybox"]);
    assert.match(port.stderr, /port publishing/);
    const cond = await raw(d, "POST", "/containers/pod/wait?condition=bogus");
    assert.equal(cond.status, 400);
    const missingCmd = docker(d, ["run", "--rm", "busybox", "/no/such/binary"], { timeoutMs: 15_000 });
    assert.equal(missingCmd.status, 127, missingCmd.stderr);
  });

  it("volumes: named (persist, :ro), bind, --mount tmpfs, in-use refusal, rm -v", () => {
    assert.equal(docker(d, ["run", "--rm", "-v", "data1:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]).status, 0);
    const ro = docker(d, ["run", "--rm", "-v", "data1:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/x"]);
    assert.equal(ro.stdout, "persisted\n");
    assert.match(ro.stderr, /Read-only file system/);
    const dir = join(d.dir, "bind");
    mkdirSync(dir);
    writeFileSync(join(dir, "h"), "fromhost\n");
    assert.equal(docker(d, ["run", "--rm", "-v", `${dir}:/b`, "busybox", "cat", "/b/h"]).stdout, "fromhost\n");
    assert.match(docker(d, ["run", "--rm", "--mount", "type=tmpfs,target=/t", "busybox", "sh", "-c", "mount | grep ' /t '"]).stdout, /^tmpfs on \/t type tmpfs/);
    assert.match(docker(d, ["volume", "ls"]).stdout, /local\s+data1/);
    assert.equal(docker(d, ["run", "-d", "--name", "vuser", "-v", "data1:/data", "busybox", "sleep", "300"]).status, 0);
    const mounts = JSON.parse(docker(d, ["inspect", "-f", "{{json .Mounts}}", "vuser"]).stdout);
    assert.equal(mounts[0].Name, "data1");
    assert.equal(mounts[0].Destination, "/data");
    assert.match(docker(d, ["volume", "rm", "data1"]).stderr, /volume is in use/);
    assert.equal(docker(d, ["rm", "-f", "vuser"]).status, 0);
    assert.equal(docker(d, ["volume", "rm", "data1"]).status, 0);
  });

  it("images: ls, inspect, tag, rmi, save and load", () => {
    assert.match(docker(d, ["images"]).stdout, /busybox\s+latest/);
    assert.equal(docker(d, ["tag", "busybox", "bb:two"]).status, 0);
    assert.match(docker(d, ["image", "inspect", "-f", "{{.Config.Cmd}}", "bb:two"]).stdout, /\/bin\/sh/);
    const tar = join(d.dir, "bb.tar");
    assert.equal(docker(d, ["save", "-o", tar, "bb:two"]).status, 0);
    assert.match(docker(d, ["rmi", "bb:two"]).stdout, /Untagged: bb:two/);
    const load = docker(d, ["load", "-i", tar]);
    assert.equal(load.status, 0, load.stderr);
    assert.match(load.stdout, /Loaded image: bb:two/);
  });

  it("system prune removes stopped containers", () => {
    docker(d, ["create", "--name", "leftover", "busybox", "true"]);
    const r = docker(d, ["system", "prune", "-f"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(docker(d, ["ps", "-a", "--filter", "name=leftover", "-q"]).stdout.trim(), "");
  });
});
