// Real containers through bin/gantry-runtime: isolation, limits, lifecycle, cleanup.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, kernelTestSkipReason, makeBundle, runtimeCli, tempRoot, uniqueId, type Bundle } from "../helpers/busybox-bundle.ts";

const skip = kernelTestSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("gantry-runtime on real namespaces and cgroups", { skip }, () => {
  const root = skip ? "" : tempRoot();
  const bundles: Bundle[] = [];
  const ids: string[] = [];
  const bundle = (args: string[], edit?: Parameters<typeof makeBundle>[1]) => {
    const b = makeBundle(args, edit);
    bundles.push(b);
    return b;
  };
  const id = (p: string) => {
    const i = uniqueId(p);
    ids.push(i);
    return i;
  };
  const rt = (args: string[], opts?: { timeout?: number }) => runtimeCli(root, args, opts);
  const ok = (args: string[]) => {
    const r = rt(args);
    assert.equal(r.status, 0, `gantry-runtime ${args.join(" ")} failed: ${r.stderr}`);
    return r;
  };
  const state = (cid: string) => JSON.parse(ok(["state", cid]).stdout) as { status: string; pid?: number };

  after(() => {
    for (const i of ids) rt(["delete", "--force", i]);
    for (const b of bundles) b.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("run: PID 1, own hostname, a new net namespace holds only lo, up", () => {
    const b = bundle(["sh", "-c", "echo pid=$$; hostname; ls /sys/class/net; cat /proc/net/dev | tail -n +3 | wc -l; cat /sys/class/net/lo/flags"]);
    b.config.hostname = "box1";
    b.write();
    const r = ok(["run", "--bundle", b.dir, id("basic")]);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "pid=1");
    assert.equal(lines[1], "box1");
    assert.equal(lines[2], "lo");
    assert.equal(lines[3], "1", "only one interface in /proc/net/dev");
    assert.equal(lines[4], "0x9", "lo is up (IFF_UP|IFF_LOOPBACK), as runc leaves it");
  });

  test("run returns the program's exit code", () => {
    const b = bundle(["sh", "-c", "exit 42"]);
    assert.equal(rt(["run", "--bundle", b.dir, id("exit")]).status, 42);
  });

  test("run deletes what it made when the program exits: state directory and every cgroup directory", () => {
    // without a cgroup namespace the container sees its cgroup paths as the host names them
    const b = bundle(["sh", "-c", "cat /proc/self/cgroup; exit 5"], (c) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "cgroup")));
    const cid = id("run-cleanup");
    const r = rt(["run", "--bundle", b.dir, cid]);
    assert.equal(r.status, 5, r.stderr);
    const dirs = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(":"))
      .filter(([, ctrl, path]) => ctrl !== undefined && !ctrl.startsWith("name=") && path?.endsWith(`/${cid}`))
      .map(([, ctrl, path]) => (ctrl ? join("/sys/fs/cgroup", ctrl.split(",")[0]!, path!) : join(existsSync("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup", path!)));
    assert.ok(dirs.length > 0, `the container saw no cgroup of its own: ${r.stdout}`);
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} left behind after run`);
    assert.equal(existsSync(join(root, cid)), false, "state directory left behind after run");
    assert.equal(rt(["state", cid]).status !== 0, true, "state still answers for a run that ended");
  });

  test("namespace inodes differ from the host's for new types and equal the target's for joined ones", async () => {
    const a = bundle(["sleep", "30"]);
    const ida = id("ns-a");
    ok(["create", "--bundle", a.dir, ida]);
    ok(["start", ida]);
    const pidA = state(ida).pid!;
    const host = (t: string) => readlinkSync(`/proc/self/ns/${t}`);
    const ofA = (t: string) => readlinkSync(`/proc/${pidA}/ns/${t}`);
    for (const t of ["pid", "net", "ipc", "uts", "mnt", "cgroup"]) assert.notEqual(ofA(t), host(t), `${t} should be new`);
    assert.equal(ofA("user"), host("user"), "no user namespace was asked for");

    const b = bundle(["sleep", "30"], (c) => {
      c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
        n.type === "network" || n.type === "ipc" ? { type: n.type, path: `/proc/${pidA}/ns/${n.type === "network" ? "net" : "ipc"}` } : n,
      );
    });
    const idb = id("ns-b");
    ok(["create", "--bundle", b.dir, idb]);
    const pidB = state(idb).pid!;
    assert.equal(readlinkSync(`/proc/${pidB}/ns/net`), ofA("net"));
    assert.equal(readlinkSync(`/proc/${pidB}/ns/ipc`), ofA("ipc"));
    assert.notEqual(readlinkSync(`/proc/${pidB}/ns/uts`), ofA("uts"));
    ok(["delete", "--force", idb]);
    ok(["delete", "--force", ida]);
  });

  test("a new user namespace gets the uid/gid maps", () => {
    const b = bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"], (c) => {
      c.linux!.namespaces!.push({ type: "user" });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.root!.readonly = false;
      // the mapped root must be able to reach its rootfs through the bundle directory
      // sysfs cannot be mounted without owning the net namespace's user ns: keep it simple
      c.mounts = c.mounts!.filter((m) => m.destination !== "/sys" && m.destination !== "/sys/fs/cgroup");
    });
    chmodSync(b.dir, 0o755);
    const r = ok(["run", "--bundle", b.dir, id("userns")]);
    const maps = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    assert.deepEqual(maps, ["0 200000 65536", "0 200000 65536", "0"]);
  });

  test("cgroup v1 files hold what the config asked", () => {
    const b = bundle(["sleep", "30"], (c) => {
      c.linux!.resources = {
        cpu: { shares: 513, quota: 200000, period: 100000, cpus: "0" },
        memory: { limit: 1073741824, swap: 1293942784, swappiness: 7 },
        pids: { limit: 64 },
      };
    });
    const cid = id("cg");
    ok(["create", "--bundle", b.dir, cid]);
    const pid = state(cid).pid!;
    const cgroupOf = (ctrl: string) => {
      const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.split(":")[1]!.split(",").includes(ctrl));
      assert.ok(line, `no ${ctrl} line in /proc/${pid}/cgroup`);
      return join("/sys/fs/cgroup", ctrl, line.split(":")[2]!);
    };
    const read = (ctrl: string, file: string) => readFileSync(join(cgroupOf(ctrl), file), "utf8").trim();
    if (!existsSync("/sys/fs/cgroup/cpu/cpu.shares")) return; // a v2 host: covered by the driver's unit tests
    assert.equal(read("cpu", "cpu.shares"), "513");
    assert.equal(read("cpu", "cpu.cfs_quota_us"), "200000");
    assert.equal(read("cpu", "cpu.cfs_period_us"), "100000");
    assert.equal(read("cpuset", "cpuset.cpus"), "0");
    assert.equal(read("memory", "memory.limit_in_bytes"), "1073741824");
    if (existsSync(join(cgroupOf("memory"), "memory.memsw.limit_in_bytes"))) {
      assert.equal(read("memory", "memory.memsw.limit_in_bytes"), "1293942784");
    }
    assert.equal(read("memory", "memory.swappiness"), "7");
    assert.equal(read("pids", "pids.max"), "64");
    const dirs = ["cpu", "memory", "pids", "cpuset"].map(cgroupOf);
    ok(["delete", "--force", cid]);
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} left behind after delete`);
  });

  test("a process allocating past its memory limit is OOM-killed and reported so", () => {
    const b = bundle(["sh", "-c", "tail /dev/zero"], (c) => {
      c.linux!.resources = { memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
    });
    const cid = id("oom");
    ok(["create", "--bundle", b.dir, cid]);
    ok(["start", cid]);
    const deadline = Date.now() + 20_000;
    while (state(cid).status !== "stopped" && Date.now() < deadline) spinWait(50);
    assert.equal(state(cid).status, "stopped");
    const ev = JSON.parse(rt(["events", "--stats", cid]).stdout || "null");
    // stopped containers have no live stats; the OOM count is read from the cgroup
    assert.ok(ev === null || ev.type === "stats");
    const count = oomCount(cid);
    assert.ok(count >= 1, `expected an OOM kill recorded in the cgroup, got ${count}`);
    ok(["delete", cid]);
  });

  test("a fork bomb stops at the pids limit", () => {
    const b = bundle(["sh", "-c", "for i in $(seq 1 60); do sleep 5 & done; echo all-forked"], (c) => {
      c.linux!.resources = { pids: { limit: 20 } };
    });
    const r = rt(["run", "--bundle", b.dir, id("pids")]);
    assert.notEqual(r.status, 0, "the shell should fail to fork past 20 processes");
    assert.doesNotMatch(r.stdout, /all-forked/);
    assert.match(r.stderr, /fork/i);
  });

  test("pause freezes progress and resume restores it", async () => {
    // write-then-rename, so the test never reads a half-written counter
    const b = bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.tmp; mv /tmp/c.tmp /tmp/counter; done"]);
    const cid = id("pause");
    ok(["create", "--bundle", b.dir, cid]);
    ok(["start", cid]);
    const counter = () => Number(readFileSync(join(b.rootfs, "tmp/counter"), "utf8").trim() || 0);
    await sleep(300);
    ok(["pause", cid]);
    assert.equal(state(cid).status, "paused");
    await sleep(100);
    const c1 = counter();
    await sleep(400);
    assert.equal(counter(), c1, "the counter moved while paused");
    ok(["resume", cid]);
    assert.equal(state(cid).status, "running");
    await sleep(400);
    assert.ok(counter() > c1, "the counter did not move after resume");
    ok(["delete", "--force", cid]);
  });

  test("create/start/kill/delete: states, and nothing is left after delete", async () => {
    const b = bundle(["sleep", "30"]);
    const cid = id("life");
    ok(["create", "--bundle", b.dir, cid]);
    assert.equal(state(cid).status, "created");
    const pid = state(cid).pid!;
    ok(["start", cid]);
    assert.equal(state(cid).status, "running");
    const del = rt(["delete", cid]);
    assert.notEqual(del.status, 0, "delete of a running container must be refused");
    assert.match(del.stderr, /running/);
    ok(["kill", cid, "KILL"]);
    const deadline = Date.now() + 5000;
    while (state(cid).status !== "stopped" && Date.now() < deadline) await sleep(20);
    assert.equal(state(cid).status, "stopped");
    ok(["delete", cid]);
    assert.equal(existsSync(join(root, cid)), false, "state dir left behind");
    // Once the monitor has left, init (or the caller's subreaper) reaps the container: allow it a moment.
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !/\) Z /.test(safeRead(`/proc/${pid}/stat`)); i++) await sleep(20);
    assert.ok(!existsSync(`/proc/${pid}`) || /\) Z /.test(safeRead(`/proc/${pid}/stat`)), "process left behind");
    assert.equal(existsSync(`/sys/fs/cgroup/pids/gantry/${cid}`), false, "cgroup left behind");
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(b.rootfs), "mount left behind on the host");
    const again = rt(["state", cid]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /does not exist/);
  });

  test("exec runs a process inside the running container's namespaces", () => {
    const b = bundle(["sleep", "30"], (c) => (c.hostname = "execbox"));
    const cid = id("exec");
    ok(["run", "-d", "--bundle", b.dir, cid]);
    const r = ok(["exec", cid, "sh", "-c", "hostname"]);
    assert.equal(r.stdout.trim(), "execbox");
    const code = rt(["exec", cid, "sh", "-c", "exit 3"]);
    assert.equal(code.status, 3);
    const ps = JSON.parse(ok(["ps", "--format", "json", cid]).stdout) as number[];
    assert.ok(ps.includes(state(cid).pid!));
    ok(["delete", "--force", cid]);
  });

  test("hooks run at their points with the state on stdin", () => {
    const b = bundle(["true"]);
    const log = join(b.dir, "hooks.log");
    const hook = (name: string) => ({ path: "/bin/sh", args: ["sh", "-c", `read s; echo ${name} "$s" >> ${log}`] });
    b.config.hooks = {
      prestart: [hook("prestart")],
      createRuntime: [hook("createRuntime")],
      // runs in the container's namespaces before pivot_root: host paths still resolve
      createContainer: [{ path: "/bin/sh", args: ["sh", "-c", `echo createContainer $(readlink /proc/self/ns/uts) >> ${log}`] }],
      // runs in the container after start, inside its root filesystem
      startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "echo startContainer > /tmp/started"] }],
      poststart: [hook("poststart")],
      poststop: [hook("poststop")],
    };
    b.write();
    const cid = id("hooks");
    ok(["run", "--bundle", b.dir, cid]);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]);
    assert.match(lines[2]!, /^createContainer uts:\[\d+\]$/);
    assert.notEqual(lines[2], `createContainer ${readlinkSync("/proc/self/ns/uts")}`, "createContainer runs in the container's uts namespace");
    assert.equal(readFileSync(join(b.rootfs, "tmp/started"), "utf8").trim(), "startContainer");
    const st = JSON.parse(lines[1]!.slice("createRuntime ".length));
    assert.equal(st.id, cid);
    assert.ok(st.pid > 1);
  });

  test("a failing createRuntime hook fails create and leaves nothing behind", () => {
    const b = bundle(["true"]);
    b.config.hooks = { createRuntime: [{ path: "/bin/false" }] };
    b.write();
    const cid = id("badhook");
    const r = rt(["create", "--bundle", b.dir, cid]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /hook \/bin\/false exited with status 1/);
    assert.equal(existsSync(join(root, cid)), false);
    assert.equal(existsSync(`/sys/fs/cgroup/pids/gantry/${cid}`), false);
  });

  test("terminal: the pty master travels over --console-socket (runc's protocol)", () => {
    const b = bundle(["sh", "-c", "tty; echo hi-from-pty"], (c) => (c.process!.terminal = true));
    const sock = join(b.dir, "console.sock");
    const out = join(b.dir, "console.out");
    // A receiver in Python (Node cannot receive SCM_RIGHTS): accept, take the fd, copy it to a file.
    const receiver = spawn("python3", ["-c", `
import socket, os, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); msg, fds, _, _ = socket.recv_fds(c, 64, 1)
with open(sys.argv[2], "wb") as f:
    while True:
        try: d = os.read(fds[0], 4096)
        except OSError: break
        if not d: break
        f.write(d)
`, sock, out], { stdio: "inherit" });
    try {
      const deadline = Date.now() + 5000;
      while (!existsSync(sock) && Date.now() < deadline) spinWait(20);
      const cid = id("tty");
      ok(["create", "--bundle", b.dir, "--console-socket", sock, cid]);
      ok(["start", cid]);
      const until = Date.now() + 10_000;
      while (receiver.exitCode === null && Date.now() < until) spinWait(50);
      const text = readFileSync(out, "utf8");
      assert.match(text, /\/dev\/pts\/\d+\r?\n/);
      assert.match(text, /hi-from-pty/);
      ok(["delete", "--force", cid]);
    } finally {
      receiver.kill();
    }
  });

  test("run with a terminal and no console socket relays the pty itself", () => {
    const b = bundle(["sh", "-c", "tty"], (c) => (c.process!.terminal = true));
    const r = ok(["run", "--bundle", b.dir, id("runtty")]);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  test("seccomp: a denied syscall fails with the configured errno", () => {
    const b = bundle(["sh", "-c", "mkdir /tmp/x && echo made || echo denied"], (c) => {
      c.linux!.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    });
    assert.equal(ok(["run", "--bundle", b.dir, id("seccomp")]).stdout.trim(), "denied");
  });

  test("read-only rootfs and masked paths", () => {
    // Masked files read as empty (/dev/null over them); pick one this kernel has.
    const masked = ["/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kcore"].find((p) => existsSync(p));
    assert.ok(masked, "no maskable /proc file on this kernel");
    const b = bundle(["sh", "-c", `touch /x 2>/dev/null && echo writable || echo readonly; cat ${masked} | wc -c; touch /proc/sys/kernel/x 2>/dev/null || echo sys-ro`], (c) => {
      c.root!.readonly = true;
      c.linux!.maskedPaths = [masked];
    });
    const out = ok(["run", "--bundle", b.dir, id("ro")]).stdout.trim().split("\n");
    assert.deepEqual(out, ["readonly", "0", "sys-ro"]);
  });

  test("the launcher's code cache: written by a successful run, and a broken one is replaced, not trusted", () => {
    const cache = join(REPO, "dist", "gantry-runtime.cjs.cache");
    const b = bundle(["true"]);
    rmSync(cache, { force: true });
    ok(["run", "--bundle", b.dir, id("cache1")]);
    assert.ok(statSync(cache).size > 10_000, "a run leaves a V8 code cache beside the bundle");
    writeFileSync(cache, "not a code cache");
    ok(["run", "--bundle", b.dir, id("cache2")]);
    assert.ok(statSync(cache).size > 10_000, "the unusable cache was rewritten");
    const failed = rt(["run", "--bundle", "/nonexistent", id("cache3")]);
    assert.notEqual(failed.status, 0);
  });

  test("the C entry point says so when it cannot run node, and leaves no helper behind", () => {
    const mark = `GANTRY_TEST_MARK=${uniqueId("entry")}`;
    const r = spawnSync(join(REPO, "bin", "gantry-runtime"), ["--root", root, "run", "--bundle", "/nonexistent", "x"], {
      env: { ...process.env, GANTRY_NODE: "/nonexistent/node", [mark.split("=")[0]!]: mark.split("=")[1]! },
      encoding: "utf8",
      timeout: 10_000,
    });
    assert.equal(r.status, 127);
    assert.match(r.stderr, /gantry-runtime: cannot run node: No such file or directory/);
    // Its helper saw the channel close and went (it was reparented: find it by its environment).
    const stray = () =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/environ`, "latin1").split("\0").includes(mark) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z ");
          } catch {
            return false;
          }
        });
    const until = Date.now() + 5000;
    while (stray().length && Date.now() < until) spinWait(20);
    assert.deepEqual(stray(), []);
  });

  test("bad input: clear errors, non-zero exit, nothing left behind", () => {
    const missing = rt(["create", "--bundle", "/nonexistent-bundle", id("missing")]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /no config\.json/);

    const b = bundle(["true"]);
    writeFileSync(join(b.dir, "config.json"), JSON.stringify({ ociVersion: "1.0.0", process: { user: { uid: "zero", gid: 0 }, args: ["true"], cwd: "/" }, root: { path: "rootfs" } }));
    const badType = rt(["create", "--bundle", b.dir, id("badtype")]);
    assert.notEqual(badType.status, 0);
    assert.match(badType.stderr, /process\.user\.uid/);

    writeFileSync(join(b.dir, "config.json"), "{ not json");
    const notJson = rt(["create", "--bundle", b.dir, id("notjson")]);
    assert.notEqual(notJson.status, 0);
    assert.match(notJson.stderr, /not valid JSON/);

    const b2 = bundle(["true"], (c) => c.linux!.namespaces!.push({ type: "bogus" } as never));
    const ns = rt(["create", "--bundle", b2.dir, id("badns")]);
    assert.notEqual(ns.status, 0);
    assert.match(ns.stderr, /linux\.namespaces\[\d+\]\.type: unknown namespace type/);

    const b3 = bundle(["true"], (c) => (c.process!.capabilities!.bounding = ["CAP_NOT_A_THING"]));
    const cap = rt(["create", "--bundle", b3.dir, id("badcap")]);
    assert.notEqual(cap.status, 0);
    assert.match(cap.stderr, /unknown capability "CAP_NOT_A_THING"/);

    const b4 = bundle(["sleep", "10"]);
    const dup = id("dup");
    ok(["create", "--bundle", b4.dir, dup]);
    const again = rt(["create", "--bundle", b4.dir, dup]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already exists/);
    ok(["delete", "--force", dup]);

    const unknown = rt(["start", "no-such-container"]);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /does not exist/);

    const opt = rt(["create", "--frobnicate", "--bundle", b4.dir, id("opt")]);
    assert.notEqual(opt.status, 0);
    assert.match(opt.stderr, /unknown option '--frobnicate'/);

    // Nothing was left by the failed creates: the only entries are none.
    assert.deepEqual(JSON.parse(ok(["list", "--format", "json"]).stdout), []);
  });

  test("an unavailable cgroup controller file is named in the error", () => {
    const rt1 = "/sys/fs/cgroup/cpu/cpu.rt_runtime_us";
    if (existsSync(rt1) || !existsSync("/sys/fs/cgroup/cpu/cpu.shares")) return; // the kernel has RT group scheduling, or v2
    const b = bundle(["true"], (c) => (c.linux!.resources = { cpu: { realtimeRuntime: 1000 } }));
    const cid = id("rt");
    const r = rt(["create", "--bundle", b.dir, cid]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cpu\.rt_runtime_us/);
    assert.equal(existsSync(`/sys/fs/cgroup/cpu/gantry/${cid}`), false);
    assert.equal(existsSync(join(root, cid)), false);
  });

  function oomCount(cid: string): number {
    const p = `/sys/fs/cgroup/memory/gantry/${cid}/memory.oom_control`;
    if (existsSync(p)) return Number(/oom_kill (\d+)/.exec(readFileSync(p, "utf8"))?.[1] ?? 0);
    const e = `/sys/fs/cgroup/gantry/${cid}/memory.events`;
    return existsSync(e) ? Number(/oom_kill (\d+)/.exec(readFileSync(e, "utf8"))?.[1] ?? 0) : 0;
  }
});

function safeRead(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

function spinWait(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
