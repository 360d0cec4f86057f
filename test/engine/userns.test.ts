// User namespaces through the real docker CLI (and `gantry run --userns=auto`, which the docker
// CLI refuses client-side) against a daemon started with `--userns-remap default`: the
// container's root is the gantry user's first subordinate id on the host, files it makes in
// a bind mount are that id's, image layers stay shared and unchanged (idmapped mounts),
// `--userns=host` opts out, auto ranges are disjoint and freed on rm, bad input is refused.
// The `gantry` user and its /etc/subuid, /etc/subgid lines persist (as dockerd's dockremap).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cleanup, DOCKER, docker, gantry, makeBusyboxImage, newDaemonDirs, spawnTestDaemon, skipReason, startTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

/** The gantry user's first subordinate id range, as /etc/subuid has it. */
function gantryRange(file: "/etc/subuid" | "/etc/subgid"): { start: number; count: number } {
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("gantry:"));
  assert.ok(line, `${file} has a gantry line`);
  const [, start, count] = line.split(":");
  return { start: Number(start), count: Number(count) };
}

function hostIds(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]), gid: Number(/^Gid:\s+(\d+)/m.exec(status)![1]) };
}

/** Every file and directory below `dir`, with its owner, and the bytes they hold. */
function treeOf(dir: string): { entries: number; owners: Set<number>; bytes: number } {
  const out = { entries: 0, owners: new Set<number>(), bytes: 0 };
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p, { throwIfNoEntry: false }) ?? { uid: -1, size: 0 };
      out.entries++;
      out.owners.add(st.uid);
      if (e.isFile()) out.bytes += st.size;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function waitRunning(d: TestDaemon, name: string): number {
  const r = docker(d, ["inspect", "-f", "{{.State.Pid}}", name]);
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe("--userns-remap default through the docker CLI", { skip, concurrency: false }, () => {
  const d = newDaemonDirs();
  const snapshots = () => join(d.root, "snapshots");
  before(async () => {
    // The container's root is no owner of the test's directory: it only needs to pass through.
    chmodSync(d.dir, 0o711);
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, undefined, undefined, ["--userns-remap", "default"]);
  });
  after(async () => {
    await cleanup(d);
  });

  it("runs the container's root as the first subordinate id of the gantry user", () => {
    const uid = gantryRange("/etc/subuid");
    const gid = gantryRange("/etc/subgid");
    assert.equal(uid.count >= 65536, true);
    const r = docker(d, ["run", "-d", "--name", "remapped", "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    const inside = docker(d, ["exec", "remapped", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map"]);
    assert.equal(inside.status, 0, inside.stderr);
    const [idU, idG, map] = inside.stdout.trim().split("\n");
    assert.equal(idU, "0");
    assert.equal(idG, "0");
    assert.deepEqual(map!.trim().split(/\s+/).map(Number), [0, uid.start, uid.count]);
    const pid = waitRunning(d, "remapped");
    assert.deepEqual(hostIds(pid), { uid: uid.start, gid: gid.start });
    // inspect's Gantry key and `gantry ns` show the maps.
    const view = JSON.parse(docker(d, ["inspect", "-f", "{{json .Gantry.Userns}}", "remapped"]).stdout) as { Mode: string; UidMap: string[]; GidMap: string[] };
    assert.equal(view.Mode, "remap");
    assert.deepEqual(view.UidMap, [`0 ${uid.start} ${uid.count}`]);
    assert.deepEqual(view.GidMap, [`0 ${gid.start} ${gid.count}`]);
    const ns = gantry(d, ["ns", "remapped"]);
    assert.equal(ns.status, 0, ns.stderr);
    assert.match(ns.stdout, new RegExp(`uid_map\\s+0 ${uid.start} ${uid.count}`));
    assert.equal(docker(d, ["rm", "-f", "remapped"]).status, 0);
  });

  it("gives a file the container makes in a bind mount to the remapped root on the host", () => {
    const bind = join(d.dir, "bind");
    mkdirSync(bind, { mode: 0o777 });
    chmodSync(bind, 0o777);
    const r = docker(d, ["run", "--rm", "-v", `${bind}:/data`, "busybox", "sh", "-c", "echo hi > /data/made && ls -n /data/made"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\s0\s+0\s/); // root's inside
    const st = statSync(join(bind, "made"));
    assert.equal(st.uid, gantryRange("/etc/subuid").start);
    assert.equal(st.gid, gantryRange("/etc/subgid").start);
  });

  it("keeps the image's layers shared and unchanged: idmapped, not copied", () => {
    const layersBefore = readdirSync(snapshots()).sort();
    const before = treeOf(snapshots());
    for (const name of ["share1", "share2"]) {
      const r = docker(d, ["run", "--name", name, "busybox", "sh", "-c", "ls -ln /bin/busybox; echo changed > /etc/motd"]);
      assert.equal(r.status, 0, r.stderr);
      // The layer's root-owned files are the container's root's, through the idmapped mount.
      assert.match(r.stdout, /\s0\s+0\s/);
    }
    assert.deepEqual(readdirSync(snapshots()).sort(), layersBefore, "no layer was added");
    const afterRuns = treeOf(snapshots());
    assert.equal(afterRuns.entries, before.entries);
    assert.equal(afterRuns.bytes, before.bytes);
    assert.deepEqual([...afterRuns.owners], [...before.owners], "the layer's owners are unchanged on disk");
    assert.ok(!afterRuns.owners.has(gantryRange("/etc/subuid").start));
    // The container's writable layer holds host ids: what its root wrote is the remapped root's.
    const upper = JSON.parse(docker(d, ["inspect", "-f", "{{json .GraphDriver.Data}}", "share1"]).stdout) as { UpperDir: string };
    assert.equal(statSync(join(upper.UpperDir, "etc", "motd")).uid, gantryRange("/etc/subuid").start);
    // A commit carries the container's ids, not the host's: its root's file is root's in the image.
    const commit = docker(d, ["commit", "share1", "uns-committed"]);
    assert.equal(commit.status, 0, commit.stderr);
    const seen = docker(d, ["run", "--rm", "--userns=host", "uns-committed", "ls", "-ln", "/etc/motd"]);
    assert.equal(seen.status, 0, seen.stderr);
    assert.match(seen.stdout, /\s0\s+0\s/);
    // export shows the container's ids too.
    const listing = spawnSync("sh", ["-c", `"${DOCKER}" -H unix://${d.socket} export share1 | tar -tv --numeric-owner -f - bin/busybox etc/motd`], { encoding: "utf8" });
    assert.equal(listing.status, 0, listing.stderr);
    const owners = listing.stdout.trim().split("\n").map((l) => l.split(/\s+/)[1]);
    assert.deepEqual(owners, ["0/0", "0/0"], listing.stdout);
    assert.equal(docker(d, ["rm", "share1", "share2"]).status, 0);
    assert.equal(docker(d, ["rmi", "uns-committed"]).status, 0);
  });

  it("gives new volumes to the remapped root: an empty one, and image content copied up through the idmapped layers", () => {
    const base = gantryRange("/etc/subuid").start;
    const empty = docker(d, ["run", "--rm", "-v", "uns-empty:/data", "busybox", "sh", "-c", "echo x > /data/f && ls -ln /data/f"]);
    assert.equal(empty.status, 0, empty.stderr);
    const mp = (name: string) => docker(d, ["volume", "inspect", "-f", "{{.Mountpoint}}", name]).stdout.trim();
    assert.equal(statSync(mp("uns-empty")).uid, base);
    assert.equal(statSync(join(mp("uns-empty"), "f")).uid, base);
    // /bin has image content: the daemon mounts the rootfs (idmapped) and copies it up.
    const copied = docker(d, ["run", "--rm", "-v", "uns-bin:/bin", "busybox", "ls", "-ln", "/bin/busybox"]);
    assert.equal(copied.status, 0, copied.stderr);
    assert.match(copied.stdout, /\s0\s+0\s/);
    assert.equal(statSync(join(mp("uns-bin"), "busybox")).uid, base);
    assert.equal(docker(d, ["volume", "rm", "uns-empty", "uns-bin"]).status, 0);
  });

  it("hands the container's cgroup to its root and reads a stopped container's files through its maps", () => {
    const base = gantryRange("/etc/subuid").start;
    const r = docker(d, ["run", "-d", "--name", "cg", "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    const pids = join("/sys/fs/cgroup/pids/gantry", id);
    assert.equal(statSync(pids).uid, base);
    assert.equal(statSync(join(pids, "cgroup.procs")).uid, base);
    assert.equal(statSync(join(pids, "pids.max")).uid, 0, "the limits stay the host's");
    // docker cp into it: the files are the container's root's (the remapped root on the host).
    const src = join(d.dir, "cp-in");
    writeFileSync(src, "in\n");
    const cpIn = docker(d, ["cp", src, "cg:/tmp/cp-in"]);
    assert.equal(cpIn.status, 0, cpIn.stderr);
    assert.match(docker(d, ["exec", "cg", "ls", "-ln", "/tmp/cp-in"]).stdout, /\s0\s+0\s/);
    assert.equal(docker(d, ["rm", "-f", "cg"]).status, 0);
    // cp from a created (never started) container: the daemon's own mount of its rootfs.
    assert.equal(docker(d, ["create", "--name", "cpsrc", "busybox"]).status, 0);
    const out = join(d.dir, "cp-out");
    const cp = docker(d, ["cp", "cpsrc:/etc/passwd", out]);
    assert.equal(cp.status, 0, cp.stderr);
    assert.match(readFileSync(out, "utf8"), /^root:x:0:0/);
    assert.equal(docker(d, ["rm", "cpsrc"]).status, 0);
  });

  it("opts a container out with --userns=host", () => {
    const r = docker(d, ["run", "-d", "--name", "hostns", "--userns=host", "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    const pid = waitRunning(d, "hostns");
    assert.deepEqual(hostIds(pid), { uid: 0, gid: 0 });
    assert.equal(readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/).join(" "), "0 0 4294967295");
    assert.equal(docker(d, ["inspect", "-f", "{{.Gantry.Userns.Mode}}", "hostns"]).stdout.trim(), "host");
    assert.equal(docker(d, ["rm", "-f", "hostns"]).status, 0);
  });

  it("gives --userns=auto containers disjoint ranges of the asked size, freed on rm", () => {
    const maps: number[][] = [];
    for (const name of ["auto1", "auto2"]) {
      const r = gantry(d, ["run", "-d", "--name", name, "--userns=auto:size=2000", "busybox", "sleep", "60"]);
      assert.equal(r.status, 0, r.stderr);
      const pid = waitRunning(d, name);
      const [inside, outside, count] = readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/).map(Number);
      assert.equal(inside, 0);
      assert.equal(count, 2000);
      assert.equal(hostIds(pid).uid, outside);
      maps.push([outside!, count!]);
    }
    const [[a, n], [b]] = maps as [[number, number], [number, number]];
    assert.ok(a + n <= b! || b! + n <= a, `ranges ${a}+${n} and ${b}+${n} overlap`);
    // Both inside the daemon's subordinate ids.
    const sub = gantryRange("/etc/subuid");
    for (const [s, c] of maps) assert.ok(s! >= sub.start && s! + c! <= sub.start + sub.count);
    // A removed container's range is free again: the next auto container may take it.
    assert.equal(docker(d, ["rm", "-f", "auto1"]).status, 0);
    const r = gantry(d, ["run", "-d", "--name", "auto3", "--userns=auto:size=2000", "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(hostIds(waitRunning(d, "auto3")).uid, a);
    assert.equal(docker(d, ["inspect", "-f", "{{.Gantry.Userns.Mode}}", "auto3"]).stdout.trim(), "auto");
    assert.equal(docker(d, ["rm", "-f", "auto2", "auto3"]).status, 0);
  });

  it("refuses a bad userns mode and an auto range larger than what is left", () => {
    const bad = gantry(d, ["create", "--userns=auto:size=x", "busybox"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid userns mode "auto:size=x"/);
    const big = gantry(d, ["create", "--userns=auto:size=99999999", "busybox"]);
    assert.notEqual(big.status, 0);
    assert.match(big.stderr, /no free range of 99999999 ids/);
    assert.equal(docker(d, ["ps", "-aq"]).stdout.trim(), "", "nothing was left created");
  });

  it("says in info that containers are remapped and how layers are shifted", () => {
    const info = JSON.parse(docker(d, ["info", "--format", "{{json .}}"]).stdout) as { SecurityOptions: string[] };
    assert.ok(info.SecurityOptions.includes("name=userns"), JSON.stringify(info.SecurityOptions));
    const raw = spawnSync("curl", ["-s", "--unix-socket", d.socket, "http://x/info"], { encoding: "utf8" });
    const gantryInfo = (JSON.parse(raw.stdout) as { GantryUserns: { Remap: string; Layers: string } }).GantryUserns;
    assert.equal(gantryInfo.Remap, "gantry:gantry");
    assert.equal(gantryInfo.Layers, "idmapped");
  });
});

describe("--userns-remap with the chowned-copy fallback (GANTRY_USERNS_LAYERS=copy stands for a kernel that refuses idmapped layers)", { skip, concurrency: false }, () => {
  const d = newDaemonDirs();
  before(async () => {
    chmodSync(d.dir, 0o711);
    await makeBusyboxImage(d.root);
    process.env.GANTRY_USERNS_LAYERS = "copy";
    try {
      await startTestDaemon(d, undefined, undefined, ["--userns-remap", "default"]);
    } finally {
      delete process.env.GANTRY_USERNS_LAYERS;
    }
  });
  after(async () => {
    await cleanup(d);
  });

  it("says so in info and runs containers on one shifted copy per range, the image's layer unchanged", () => {
    const raw = spawnSync("curl", ["-s", "--unix-socket", d.socket, "http://x/info"], { encoding: "utf8" });
    assert.equal((JSON.parse(raw.stdout) as { GantryUserns: { Layers: string } }).GantryUserns.Layers, "copy");
    const base = gantryRange("/etc/subuid").start;
    for (let i = 0; i < 2; i++) {
      const r = docker(d, ["run", "--rm", "busybox", "sh", "-c", "id -u; ls -ln /bin/busybox; touch /new"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^0\n.*\s0\s+0\s/s);
    }
    const copies = join(d.root, "engine", "userns-layers");
    const made = readdirSync(copies);
    assert.equal(made.length, 1, `one copy for one layer and one range: ${made.join(", ")}`);
    assert.equal(statSync(join(copies, made[0]!, "bin", "busybox")).uid, base);
    const layer = readdirSync(join(d.root, "snapshots"))[0]!;
    assert.equal(statSync(join(d.root, "snapshots", layer, "fs", "bin", "busybox")).uid, 0);
  });
});

describe("--userns-remap bad input", { skip, concurrency: false }, () => {
  async function daemonError(args: string[]): Promise<string> {
    const d = newDaemonDirs();
    try {
      const child = await spawnTestDaemon(d, undefined, undefined, args);
      const code = await new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
      assert.notEqual(code, 0);
      return d.log.join("");
    } finally {
      await cleanup(d);
    }
  }

  it("refuses an unknown user", async () => {
    assert.match(await daemonError(["--userns-remap", "no-such-gantry-user"]), /--userns-remap: user "no-such-gantry-user" not found/);
  });

  it("refuses a user without a subordinate id range, naming the file and the fix", async () => {
    const user = "gantry-uns-nosub";
    const made = spawnSync("getent", ["passwd", user]).status !== 0;
    if (made) assert.equal(spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]).status, 0);
    try {
      const log = await daemonError(["--userns-remap", user]);
      assert.match(log, new RegExp(`--userns-remap: ${user} has no subordinate uid range in /etc/subuid`));
      assert.match(log, /usermod --add-subuids/);
    } finally {
      if (made) spawnSync("userdel", [user]);
    }
  });
});
