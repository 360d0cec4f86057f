// gantry-runtime under containerd, as Kubernetes users run it: Debian's containerd with its
// io.containerd.runc.v2 shim driving `bin/gantry-runtime` in place of runc (`ctr run
// --runc-binary`). A private containerd (own root, state, socket and config, no CRI plugin)
// gets a busybox image from a docker-archive Gantry itself writes; then a run passes its exit
// code, a detached task answers exec and goes with kill/delete, and nothing of it is left.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { kernelTestSkipReason, processAlive as alive, RUNTIME_BIN } from "../helpers/busybox-bundle.ts";
import { makeBusyboxImage } from "../engine/_daemon.ts";
import { ImageStore } from "../../src/image/store.ts";
import { saveImages } from "../../src/image/archive.ts";

const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip = kernelTestSkipReason() ?? (onPath("containerd") && onPath("ctr") ? undefined : "needs containerd and ctr (apt-get install containerd)");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IMAGE = "docker.io/library/busybox:latest";

/** Pids whose command line names `needle` (the shims of this test's containerd name its socket). */
function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The container's cgroup directories: ctr's default cgroupsPath is /<namespace>/<id>. */
function cgroupDirsOf(ns: string, id: string): string[] {
  const dirs: string[] = [];
  for (const ctl of readdirSync("/sys/fs/cgroup")) {
    const d = join("/sys/fs/cgroup", ctl, ns, id);
    if (existsSync(d)) dirs.push(d);
  }
  return dirs;
}

describe("gantry-runtime under containerd (ctr --runc-binary)", { skip }, () => {
  const dir = skip ? "" : mkdtempSync(join(tmpdir(), "gantry-ctd-"));
  const sock = join(dir, "containerd.sock");
  const ns = `gantry-test-${process.pid}`;
  const runcRoot = join(dir, "runc"); // the runtime's --root, private to this test
  const made: string[] = [];
  let containerd: ChildProcess | undefined;
  // The shim puts its socket under /run/containerd/s whatever the config says; what this test
  // makes there goes again if no containerd of the host had it.
  const runDirs = ["/run/containerd/s", "/run/containerd/fifo", "/run/containerd"].filter((d) => !existsSync(d));

  const ctr = (args: string[], timeout = 60_000) => {
    const r = spawnSync("ctr", ["-a", sock, "-n", ns, ...args], { encoding: "utf8", timeout, killSignal: "SIGKILL" });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const ok = (args: string[]) => {
    const r = ctr(args);
    assert.equal(r.status, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const runtimeFlags = ["--runc-binary", RUNTIME_BIN, "--runc-root", runcRoot, "--fifo-dir", join(dir, "fifo")];
  const taskStatus = (id: string) => ok(["task", "ls"]).stdout.split("\n").find((l) => l.split(/\s+/)[0] === id)?.split(/\s+/)[2];
  const containerdLog = () => {
    try {
      return readFileSync(join(dir, "containerd.log"), "utf8").split("\n").slice(-30).join("\n");
    } catch {
      return "";
    }
  };

  before(async () => {
    const store = join(dir, "store");
    await makeBusyboxImage(store);
    const archive = join(dir, "busybox.tar");
    const out = createWriteStream(archive);
    await saveImages(new ImageStore(store), ["busybox:latest"], "docker-archive", out);
    await finished(out); // saveImages ends the stream

    writeFileSync(
      join(dir, "config.toml"),
      [
        "version = 2",
        `root = "${join(dir, "root")}"`,
        `state = "${join(dir, "state")}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${sock}"`,
        "[ttrpc]",
        `  address = "${sock}.ttrpc"`,
        "[debug]",
        `  address = "${join(dir, "debug.sock")}"`,
        "[metrics]",
        '  address = ""',
        "",
      ].join("\n"),
    );
    const log = openSync(join(dir, "containerd.log"), "w");
    containerd = spawn("containerd", ["--config", join(dir, "config.toml")], { stdio: ["ignore", log, log] });
    const deadline = Date.now() + 30_000;
    while (!(existsSync(sock) && ctr(["version"], 10_000).status === 0)) {
      if (containerd.exitCode !== null) throw new Error(`containerd exited: ${containerdLog()}`);
      if (Date.now() > deadline) throw new Error(`containerd did not come up: ${containerdLog()}`);
      await sleep(100);
    }
    ok(["image", "import", archive]);
    assert.match(ok(["image", "ls", "-q"]).stdout, /^docker\.io\/library\/busybox:latest$/m);
  });

  after(async () => {
    if (!dir) return;
    if (containerd && containerd.exitCode === null) {
      for (const id of made) {
        ctr(["task", "kill", "-s", "SIGKILL", id], 10_000);
        ctr(["task", "delete", "--force", id], 20_000);
        ctr(["container", "delete", id], 10_000);
      }
      ctr(["image", "rm", IMAGE], 10_000);
      ctr(["namespace", "remove", ns], 10_000);
      const exited = new Promise((r) => containerd!.once("exit", r));
      containerd.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (containerd.exitCode === null && containerd.signalCode === null) containerd.kill("SIGKILL");
    }
    // Whatever a failure left: the shims of this containerd (they name its socket), the
    // containers' processes and cgroups, mounts below the test's directory.
    for (const pid of pidsWithArg(sock)) process.kill(pid, "SIGKILL");
    for (const id of made) {
      for (const d of cgroupDirsOf(ns, id)) {
        for (const p of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
          try {
            process.kill(Number(p), "SIGKILL");
          } catch {
            /* gone */
          }
        }
      }
    }
    await sleep(100);
    for (const ctl of readdirSync("/sys/fs/cgroup")) {
      for (const d of [...made.map((id) => join("/sys/fs/cgroup", ctl, ns, id)), join("/sys/fs/cgroup", ctl, ns)]) {
        try {
          rmdirSync(d);
        } catch {
          /* not there */
        }
      }
    }
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n").reverse()) {
      const target = line.split(" ")[4];
      if (target?.startsWith(`${dir}/`)) spawnSync("umount", ["-l", target]);
    }
    rmSync(dir, { recursive: true, force: true });
    for (const d of runDirs) {
      try {
        rmdirSync(d); // only when empty
      } catch {
        /* in use meanwhile */
      }
    }
  });

  test("ctr run --rm passes the program's output and exit code, and leaves nothing", () => {
    const id = "gantry-run";
    made.push(id);
    const r = ctr(["run", "--rm", ...runtimeFlags, IMAGE, id, "sh", "-c", "echo hello as pid $$; exit 3"]);
    assert.equal(r.status, 3, `${r.stderr}\n${containerdLog()}`);
    assert.equal(r.stdout.trim(), "hello as pid 1", "in its own pid namespace");
    assert.equal(ok(["container", "ls", "-q"]).stdout.trim(), "", "--rm removed the container");
    assert.deepEqual(cgroupDirsOf(ns, id), []);
    assert.ok(!existsSync(join(runcRoot, ns, id)), "the runtime's state is gone");
  });

  test("a detached task: exec with output and exit code, kill, delete, and everything cleaned up", async () => {
    const id = "gantry-task";
    made.push(id);
    ok(["run", "-d", ...runtimeFlags, IMAGE, id, "sleep", "300"]);
    assert.equal(taskStatus(id), "RUNNING");
    const pid = Number(ok(["task", "ls"]).stdout.split("\n").find((l) => l.startsWith(`${id} `))!.split(/\s+/)[1]);
    assert.ok(pid > 0 && alive(pid));
    assert.ok(cgroupDirsOf(ns, id).length > 0, "the task runs in its cgroups");
    assert.equal(readFileSync(`/proc/${pid}/cmdline`, "utf8"), "sleep\u0000300\u0000");

    const exec = ctr(["task", "exec", "--fifo-dir", join(dir, "fifo"), "--exec-id", "probe", id, "sh", "-c", "echo pid1=$(cat /proc/1/cmdline | tr '\\0' ' '); exit 5"]);
    assert.equal(exec.status, 5, exec.stderr);
    assert.equal(exec.stdout.trim(), "pid1=sleep 300");
    assert.match(ok(["task", "ps", id]).stdout, new RegExp(`^${pid}\\b`, "m"));

    ok(["task", "kill", "-s", "SIGKILL", id]);
    const deadline = Date.now() + 20_000;
    while (taskStatus(id) !== "STOPPED") {
      assert.ok(Date.now() < deadline, "the task did not stop");
      await sleep(50);
    }
    ok(["task", "delete", id]);
    assert.equal(taskStatus(id), undefined);
    ok(["container", "delete", id]);
    assert.equal(ok(["container", "ls", "-q"]).stdout.trim(), "");

    assert.ok(!alive(pid), "the container's process is gone");
    assert.deepEqual(cgroupDirsOf(ns, id), [], "its cgroups are gone");
    assert.ok(!existsSync(join(runcRoot, ns, id)), "the runtime's state is gone");
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`/${ns}/${id}/`));
    assert.deepEqual(mounts, [], "its rootfs is unmounted");
  });
});
