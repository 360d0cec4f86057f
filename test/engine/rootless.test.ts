// A rootless `gantry daemon` run by an ordinary user, through the real docker CLI run as that
// user: the test makes a user with its own /etc/subuid and /etc/subgid range (removed after),
// starts `gantry daemon` as it with nothing but XDG_RUNTIME_DIR set (state and socket at the
// XDG defaults), and checks that busybox runs as root inside while the host sees the user's
// uid, that a published port answers on 127.0.0.1 (slirp4netns), that resource flags are
// refused with the reason (cgroup v1 is not delegable), and that rm and the daemon's stop
// leave no process of the user behind.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DOCKER, repo, skipReason } from "./_daemon.ts";

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const skip =
  skipReason() ??
  (!existsSync(DOCKER) ? `${DOCKER} is not installed` : undefined) ??
  (!has("newuidmap") || !has("newgidmap") ? "needs newuidmap/newgidmap (apt-get install uidmap)" : undefined) ??
  (!has("useradd") ? "needs useradd" : undefined);

const noSlirp = has("slirp4netns") ? undefined : "needs slirp4netns (apt-get install slirp4netns)";
const RANGE = 65536;

/** A start past every range /etc/subuid and /etc/subgid hold (the gantry user's 100000:65536 among them). */
function freeRangeStart(): number {
  let next = 3_000_000;
  for (const f of ["/etc/subuid", "/etc/subgid"]) {
    for (const line of (existsSync(f) ? readFileSync(f, "utf8") : "").split("\n")) {
      const [, s, c] = line.split(":");
      if (/^\d+$/.test(s ?? "") && /^\d+$/.test(c ?? "")) next = Math.max(next, Number(s) + Number(c));
    }
  }
  return next;
}

interface TestUser {
  name: string;
  uid: number;
  home: string;
  runtimeDir: string;
  range: number;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

function makeUser(dir: string): TestUser {
  const name = `grl${process.pid}`;
  const home = join(dir, "home");
  const runtimeDir = join(dir, "xdg-run");
  const range = freeRangeStart();
  // SUB_*_COUNT=0: no automatic range; the test gives its own, past every other.
  sh("useradd", ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", "--user-group", name]);
  sh("usermod", ["--add-subuids", `${range}-${range + RANGE - 1}`, "--add-subgids", `${range}-${range + RANGE - 1}`, name]);
  const uid = Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim());
  for (const d of [home, runtimeDir, join(home, "tmp")]) {
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, uid, uid);
  }
  return { name, uid, home, runtimeDir, range };
}

/** The environment a login session gives the user: no XDG_DATA_HOME, so the daemon's state goes to ~/.local/share/gantry. */
function userEnv(u: TestUser): Record<string, string> {
  return {
    HOME: u.home,
    USER: u.name,
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    XDG_RUNTIME_DIR: u.runtimeDir,
    TMPDIR: join(u.home, "tmp"), // tsx's cache and the like go with the test's directory
    GANTRY_HELPER: join(repo, "native", "build", "gantry-helper"),
  };
}

/** setpriv's argv running `cmd` as the user with only `env`: it executes the command itself (no wrapper relays signals). */
function asUserArgv(u: TestUser, env: Record<string, string>, cmd: string[]): string[] {
  return ["--reuid", String(u.uid), "--regid", String(u.uid), "--init-groups", "--", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd];
}

/** A command run as the user, with the session's environment. */
function asUser(u: TestUser, cmd: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync("setpriv", asUserArgv(u, { ...userEnv(u), ...(opts.env ?? {}) }, cmd), {
    encoding: "utf8",
    input: opts.input,
    timeout: 60_000,
    killSignal: "SIGKILL",
    cwd: repo, // tsx resolves from here
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** The docker CLI as the user, pointed at the rootless socket as rootless Docker's users do (DOCKER_HOST). */
const dockerAs = (u: TestUser, args: string[]) => asUser(u, [DOCKER, ...args], { env: { DOCKER_HOST: `unix://${join(u.runtimeDir, "gantry.sock")}` } });

/** busybox as a tar the user can read, imported through the daemon (`docker import`), so the image store is the daemon's own writing. */
function busyboxTar(u: TestUser, dir: string): string {
  const rootfs = join(dir, "bb-rootfs");
  for (const d of ["bin", "etc", "root", "tmp", "proc", "sys", "dev"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
  for (const a of ["sh", "id", "sleep", "httpd", "cat", "ls", "true", "echo", "hostname", "wget"]) symlinkSync("busybox", join(rootfs, "bin", a));
  writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
  writeFileSync(join(rootfs, "etc", "motd"), "served from a rootless container\n");
  const tar = join(u.home, "busybox.tar");
  sh("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", tar, "."]);
  chownSync(tar, u.uid, u.uid);
  return tar;
}

function userPids(u: TestUser): number[] {
  const r = spawnSync("ps", ["-u", String(u.uid), "-o", "pid=,stat="], { encoding: "utf8" });
  // Zombies are already gone as far as the user is concerned: only their exit status is left for a parent.
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, stat]) => pid && !stat?.startsWith("Z"))
    .map(([pid]) => Number(pid));
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


function httpGet(port: number, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

describe("rootless gantry daemon run by an ordinary user", { skip, concurrency: false }, () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-rootless-"));
  let u: TestUser;
  let daemon: ChildProcess | undefined;
  const log: string[] = [];
  const socket = () => join(u.runtimeDir, "gantry.sock");

  /** `gantry daemon` as the user, nothing but the session's environment: the XDG defaults apply. */
  async function startDaemon(): Promise<void> {
    const child = spawn("setpriv", asUserArgv(u, userEnv(u), [process.execPath, "--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "daemon"]), {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
    });
    daemon = child;
    child.stdout?.on("data", (b: Buffer) => log.push(b.toString()));
    child.stderr?.on("data", (b: Buffer) => log.push(b.toString()));
    await until("the rootless daemon's socket", () => {
      if (child.exitCode !== null) throw new Error(`daemon exited: ${log.join("")}`);
      return existsSync(socket()) && dockerAs(u, ["version", "-f", "{{.Server.Version}}"]).status === 0;
    });
  }

  before(async () => {
    chmodSync(dir, 0o711); // the user passes through to its home and runtime dir
    u = makeUser(dir);
    await startDaemon();
    const r = dockerAs(u, ["import", busyboxTar(u, dir), "busybox:latest"]);
    assert.equal(r.status, 0, r.stderr);
  });

  after(async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon!.once("exit", r));
      daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    // Anything of the test user's still alive after a failure is the test's own to end.
    for (const pid of userPids(u)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await until("the test user's processes to end", () => userPids(u).length === 0, 10_000).catch(() => {});
    spawnSync("userdel", [u.name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its state and socket at the XDG places and says rootless in info", () => {
    assert.ok(existsSync(join(u.home, ".local", "share", "gantry", "daemon.lock")), "data root is ~/.local/share/gantry");
    assert.ok(existsSync(join(u.runtimeDir, "gantry", "runtime")), "exec root is $XDG_RUNTIME_DIR/gantry");
    const info = dockerAs(u, ["info", "-f", "{{json .SecurityOptions}} {{.CgroupDriver}}"]);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /name=rootless/);
    assert.match(info.stdout, / none$/m);
    // The gantry CLI finds the user's daemon without -H, as rootless Docker users set DOCKER_HOST once.
    const ps = asUser(u, [process.execPath, "--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "info"]);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout + ps.stderr, /rootless/);
    // Bad input: --userns-remap makes no sense without root, and is refused before anything starts.
    const remap = asUser(u, [process.execPath, "--import", "tsx", join(repo, "src", "cli", "gantry", "main.ts"), "daemon", "--userns-remap", "default", "--data-root", join(u.home, "other")]);
    assert.notEqual(remap.status, 0);
    assert.match(remap.stderr, /--userns-remap is for a root daemon/);
    assert.ok(!existsSync(join(u.home, "other")), "nothing was made");
  });

  it("runs busybox as root inside, the user's uid on the host", async () => {
    const id = dockerAs(u, ["run", "--rm", "busybox", "id", "-u"]);
    assert.equal(id.status, 0, id.stderr);
    assert.equal(id.stdout.trim(), "0");
    // --network host: the daemon's (the host's) network namespace, which the user namespace does not own: /sys is the host's, bound read-only.
    const host = dockerAs(u, ["run", "--rm", "--network", "host", "busybox", "sh", "-c", "id -u; ls /sys/class/net"]);
    assert.equal(host.status, 0, host.stderr);
    assert.match(host.stdout, /^0\n(.*\n)*lo\n/);
    const r = dockerAs(u, ["run", "-d", "--name", "sleeper", "busybox", "sleep", "300"]);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(dockerAs(u, ["inspect", "-f", "{{.State.Pid}}", "sleeper"]).stdout.trim());
    assert.ok(pid > 0);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)![1]), u.uid, "the host sees the user's uid");
    // Its user namespace maps root to the user and 1.. onto the user's subordinate range.
    const map = readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(map, [
      [0, u.uid, 1],
      [1, u.range, RANGE],
    ]);
  });

  it("refuses resource flags with the reason instead of ignoring them", () => {
    for (const flags of [["--memory", "64m"], ["--cpus", "1"], ["--pids-limit", "10"]]) {
      const r = dockerAs(u, ["run", "--rm", "--name", "limited", ...flags, "busybox", "true"]);
      assert.notEqual(r.status, 0, `${flags[0]} was accepted`);
      assert.match(r.stderr, new RegExp(`${flags[0]}: resource limits need cgroups, and this daemon is rootless and the host's cgroups are v1, which cannot be delegated`));
    }
    assert.equal(dockerAs(u, ["ps", "-a", "-q", "--filter", "name=limited"]).stdout.trim(), "", "nothing was created");
  });

  it("publishes a port on 127.0.0.1 through slirp4netns", { skip: noSlirp }, async () => {
    const r = dockerAs(u, ["run", "-d", "--name", "web", "-p", "18497:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    const body = await until("the published port to answer", () => httpGet(18497, "/motd"));
    assert.equal(body, "served from a rootless container\n");
    // Without a host address the port listens on loopback only; the container reaches out through slirp4netns's gateway.
    assert.match(dockerAs(u, ["port", "web"]).stdout, /80\/tcp -> 127\.0\.0\.1:18497/);
    const ip = dockerAs(u, ["exec", "web", "cat", "/etc/resolv.conf"]);
    assert.match(ip.stdout, /nameserver 10\.0\.2\.3/, ip.stderr);
    // A host port already taken: the start fails and says which mapping, nothing is left running.
    const running = dockerAs(u, ["ps", "-q"]).stdout;
    const taken = dockerAs(u, ["run", "--rm", "-p", "18497:80", "busybox", "true"]);
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /publishing 127\.0\.0\.1:18497->80\/tcp: slirp4netns/);
    assert.equal(dockerAs(u, ["ps", "-q"]).stdout, running, "the same containers run");
  });

  it("rm takes the container and its processes away", async () => {
    const ids = dockerAs(u, ["ps", "-q", "--no-trunc"]).stdout.trim().split("\n").filter(Boolean);
    assert.ok(ids.length > 0, "containers run");
    const theirPids = ids.flatMap((id) => dockerAs(u, ["inspect", "-f", "{{.State.Pid}} {{.Gantry.MonitorPid}}", id]).stdout.trim().split(" ").map(Number));
    assert.ok(theirPids.every((p) => p > 0 && userPids(u).includes(p)), `container and monitor pids ${theirPids.join(",")} are the user's`);
    const r = dockerAs(u, ["rm", "-f", ...ids]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(dockerAs(u, ["ps", "-a", "-q"]).stdout.trim(), "");
    const containersDir = join(u.home, ".local", "share", "gantry", "engine", "containers");
    assert.deepEqual(readdirSync(containersDir).filter((n) => ids.includes(n)), []);
    await until("the containers' processes to end", () => !theirPids.some((p) => userPids(u).includes(p)));
    const comms = spawnSync("ps", ["-u", String(u.uid), "-o", "comm="], { encoding: "utf8" }).stdout;
    assert.doesNotMatch(comms, /slirp4netns/, "the published port's slirp4netns went with its container");
  });

  it("stops with its containers and leaves no process of the user behind", async () => {
    const r = dockerAs(u, ["run", "-d", "--stop-timeout", "1", "busybox", "sleep", "300"]);
    assert.equal(r.status, 0, r.stderr);
    const exited = new Promise((res) => daemon!.once("exit", res));
    daemon!.kill("SIGTERM");
    await exited;
    assert.equal(daemon!.exitCode, 0, log.join(""));
    await until("every process of the user to end", () => userPids(u).length === 0);
    // The overlay mounts lived in the daemon's own mount namespace: none ever reached the host's.
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(u.home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  });

  it("starts again with its state, and stops with its containers when its launcher is killed outright", async () => {
    await startDaemon();
    assert.match(dockerAs(u, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout, /^busybox:latest$/m, "the image store persisted");
    const r = dockerAs(u, ["run", "-d", "--stop-timeout", "1", "-p", "18498:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(await until("the published port to answer", () => httpGet(18498, "/motd")));
    const exited = new Promise((res) => daemon!.once("exit", res));
    daemon!.kill("SIGKILL"); // the launcher: no signal reaches the daemon, which notices it was orphaned
    await exited;
    await until("every process of the user to end", () => userPids(u).length === 0);
    assert.equal(await httpGet(18498, "/motd"), undefined, "the port closed with its slirp4netns");
  });
});
