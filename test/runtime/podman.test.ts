// A real engine drives gantry-runtime: Debian's podman (with conmon), told
// --runtime bin/gantry-runtime, runs, execs into, stops and removes a busybox container.
// Everything podman keeps (storage, run state, network config, the runtime's own state
// dir, its cgroup parent) lives under a temp dir or a test-specific cgroup, and is
// removed in `after` even when a step fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const RUNTIME = resolve("bin/gantry-runtime");
const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "echo", "sleep", "cat", "hostname", "ls", "true", "id"];
// The dev machines' hard limits are lower than podman's defaults.
const ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/** Looked up on PATH, not run: even `podman --version` sets up its default storage (a mount). */
function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$0"', cmd], { stdio: "ignore" }).status === 0;
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (podman with the cgroupfs manager, real namespaces)";
  if (!has("podman")) return "podman is not installed (apt-get install -y podman)";
  if (!has("conmon")) return "conmon is not installed (it comes with podman)";
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install -y busybox-static)`;
  if (!existsSync("dist/gantry-runtime.mjs")) return "gantry-runtime is not built (npm run build)";
  return false;
}

/** Unmounts every mount at or below dir, deepest first (podman's shm tmpfs, overlay leftovers). */
function unmountBelow(dir: string): void {
  const targets = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) spawnSync("umount", ["-l", t], { stdio: "ignore" });
}

/** Pids whose command line names dir (conmon, a container left running), signalled one by one. */
function killProcessesUsing(dir: string): void {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!cmdline.includes(dir)) continue;
    try {
      process.kill(Number(name), "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/** Removes a cgroup directory tree in every mounted hierarchy, children first. */
function removeCgroupTree(rel: string): void {
  const roots = readdirSync("/sys/fs/cgroup").map((h) => join("/sys/fs/cgroup", h));
  const rmTree = (dir: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) rmTree(join(dir, e));
    try {
      rmdirSync(dir);
    } catch {
      /* busy or gone: reported by the leftover check */
    }
  };
  for (const r of roots) rmTree(join(r, rel));
}

const skip = skipReason();

describe("podman drives gantry-runtime", { skip }, () => {
  const work = skip ? "" : mkdtempSync(join(tmpdir(), "gantry-podman-"));
  const tag = work ? work.slice(work.lastIndexOf("-") + 1).toLowerCase() : "";
  const cgroupParent = `/gantry-podman-${tag}`;
  const stateRoot = join(work, "runtime-state");
  const image = `localhost/gantry-busybox-${tag}:latest`;
  const name = `gantry-podman-${tag}`;
  const env = {
    ...process.env,
    CONTAINERS_CONF: join(work, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(work, "storage.conf"),
    CONTAINERS_REGISTRIES_CONF: join(work, "registries.conf"),
  };
  const globalFlags = [
    "--root", join(work, "storage"),
    "--runroot", join(work, "run"),
    "--tmpdir", join(work, "libpod-tmp"),
    "--network-config-dir", join(work, "networks"),
    "--volumepath", join(work, "volumes"),
    "--storage-driver", "vfs",
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
    "--runtime", RUNTIME,
    "--runtime-flag", `root=${stateRoot}`,
    "--runtime-flag", `log=${join(work, "runtime.log")}`,
  ];
  const podman = (args: string[], timeout = 60_000) =>
    spawnSync("podman", [...globalFlags, ...args], { env, encoding: "utf8", timeout, killSignal: "SIGKILL" });
  const ok = (args: string[], timeout?: number) => {
    const r = podman(args, timeout);
    const log = existsSync(join(work, "runtime.log")) ? readFileSync(join(work, "runtime.log"), "utf8") : "";
    assert.equal(r.status, 0, `podman ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}\nruntime log:\n${log}`);
    return r.stdout;
  };
  let containerId = "";

  before(() => {
    const rootfs = join(work, "rootfs");
    for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
    for (const a of APPLETS) symlinkSync("busybox", join(rootfs, "bin", a));
    const tar = join(work, "busybox.tar");
    const t = spawnSync("tar", ["-C", rootfs, "-cf", tar, "."], { encoding: "utf8" });
    assert.equal(t.status, 0, t.stderr);
    writeFileSync(env.CONTAINERS_CONF, '[engine]\nruntime = "gantry"\n[engine.runtimes]\ngantry = ["' + RUNTIME + '"]\n');
    writeFileSync(env.CONTAINERS_STORAGE_CONF, `[storage]\ndriver = "vfs"\nrunroot = "${join(work, "run")}"\ngraphroot = "${join(work, "storage")}"\n`);
    writeFileSync(env.CONTAINERS_REGISTRIES_CONF, "unqualified-search-registries = []\n");
    ok(["import", "--change", "CMD=/bin/sh", tar, image]);
  });

  after(() => {
    if (!work) return;
    // podman's own teardown first (conmon, the shm mount, the runtime's delete) ...
    podman(["rm", "--force", "--all", "--time", "0"], 60_000);
    podman(["rmi", "--force", "--all"], 60_000);
    // ... then whatever it left: processes, mounts, cgroups, files.
    killProcessesUsing(work);
    unmountBelow(work);
    removeCgroupTree(cgroupParent);
    rmSync(work, { recursive: true, force: true });
  });

  const runFlags = ["--network", "none", "--cgroup-parent", cgroupParent, ...ULIMITS];

  test("run -d starts the container through gantry-runtime", () => {
    containerId = ok(["run", "-d", "--name", name, ...runFlags, image, "sleep", "1000"]).trim();
    assert.match(containerId, /^[0-9a-f]{64}$/);
    assert.equal(ok(["inspect", "--format", "{{.State.Running}}", name]).trim(), "true");
    // The container is gantry-runtime's: its state, under the state dir podman passed, says so.
    const st = spawnSync(RUNTIME, ["--root", stateRoot, "state", containerId], { encoding: "utf8" });
    assert.equal(st.status, 0, st.stderr);
    const state = JSON.parse(st.stdout) as { status: string; pid: number };
    assert.equal(state.status, "running");
    assert.match(readFileSync(`/proc/${state.pid}/cmdline`, "utf8"), /^sleep\x001000/);
    // Its processes sit in the cgroup podman asked for.
    assert.match(readFileSync(`/proc/${state.pid}/cgroup`, "utf8"), new RegExp(`${cgroupParent}/libpod-${containerId}`));
  });

  test("exec runs inside the container and returns the exit code", () => {
    assert.ok(containerId, "needs the running container");
    const out = ok(["exec", name, "sh", "-c", "echo hello; hostname; cat /proc/1/cmdline"]);
    const [hello, host, pid1] = out.split("\n");
    assert.equal(hello, "hello");
    assert.equal(host, containerId.slice(0, 12));
    assert.equal(pid1, "sleep\x001000\x00");
    assert.equal(podman(["exec", name, "sh", "-c", "exit 3"]).status, 3);
    assert.equal(ok(["exec", "--tty", name, "echo", "tty"]).trim(), "tty");
  });

  test("stop ends it (SIGTERM is ignored by a PID 1 sleep, then SIGKILL)", () => {
    assert.ok(containerId, "needs the running container");
    ok(["stop", "--time", "1", name], 90_000);
    assert.equal(ok(["inspect", "--format", "{{.State.Running}}", name]).trim(), "false");
    assert.equal(ok(["inspect", "--format", "{{.State.ExitCode}}", name]).trim(), "137");
  });

  test("rm removes it, and gantry-runtime keeps no state or cgroup of it", () => {
    assert.ok(containerId, "needs the stopped container");
    ok(["rm", name]);
    assert.equal(ok(["ps", "--all", "--quiet"]).trim(), "");
    assert.equal(existsSync(join(stateRoot, containerId)), false, "runtime state left behind");
    for (const h of readdirSync("/sys/fs/cgroup")) {
      const dir = join("/sys/fs/cgroup", h, cgroupParent, `libpod-${containerId}`);
      assert.equal(existsSync(dir), false, `${dir} left behind`);
    }
  });

  test("run --rm in the foreground prints the program's output and removes the container", () => {
    const out = ok(["run", "--rm", ...runFlags, image, "sh", "-c", "echo fg-$((6*7))"]);
    assert.equal(out.trim(), "fg-42");
    assert.equal(ok(["ps", "--all", "--quiet"]).trim(), "");
  });
});
