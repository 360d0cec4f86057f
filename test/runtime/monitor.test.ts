// The engine's monitor mode: the helper stays as the container's parent, writes json-file
// logs, serves the attach socket (Docker's 8-byte frames), and writes the exit file.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../../src/runtime/runtime.ts";
import { kernelTestSkipReason, makeBundle, uniqueId, type Bundle } from "../helpers/busybox-bundle.ts";

const skip = kernelTestSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(path: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path) && Date.now() < until) await sleep(10);
  assert.ok(existsSync(path), `${path} did not appear`);
}

function frame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const hdr = Buffer.alloc(8);
  hdr[0] = type;
  hdr.writeUInt32BE(body.length, 4);
  return Buffer.concat([hdr, body]);
}

/** What an attach client receives until the monitor closes its connection: stdout payloads. */
function collectStdout(sock: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  sock.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((resolve) => {
    const done = () => {
      let all = Buffer.concat(chunks);
      let out = "";
      while (all.length >= 8 && all.length >= 8 + all.readUInt32BE(4)) {
        const len = all.readUInt32BE(4);
        if (all[0] === 1) out += all.subarray(8, 8 + len).toString("latin1");
        all = all.subarray(8 + len);
      }
      resolve(out);
    };
    sock.on("close", done);
    sock.on("error", () => {});
  });
}

const connectOnce = (path: string) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(path);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });

/** A connection to the monitor's attach socket. Its file appears at bind(), a moment before
 * listen(): a connect in between is refused (seen in CI), so that one is tried again. */
async function connected(path: string, ms = 10_000): Promise<Socket> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await connectOnce(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED" || Date.now() > until) throw err;
      await sleep(10);
    }
  }
}

const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").replace(/\(.*\)/, "x").split(" ")[2];

describe("runtime monitor mode", { skip }, () => {
  const work = skip ? "" : mkdtempSync(join(tmpdir(), "gantry-monitor-"));
  const rt = new Runtime(join(work, "state"));
  const bundles: Bundle[] = [];
  const ids: string[] = [];
  after(async () => {
    for (const id of ids) await rt.delete(id, true).catch(() => {});
    for (const b of bundles) b.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("logs both streams as json-file, takes stdin from attach, records the exit code", async () => {
    const b = makeBundle(["sh", "-c", "echo out1; echo err1 >&2; read x; echo got-$x; exit 7"]);
    bundles.push(b);
    const id = uniqueId("mon");
    ids.push(id);
    const paths = { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) };
    const created = await rt.create(id, { bundle: b.dir, monitor: { ...paths, openStdin: true } });
    assert.ok(created.monitorPid! > 0);
    assert.equal(readFileSync(`/proc/${created.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1], String(created.monitorPid), "the monitor is the container's parent");

    // The monitor binds its attach socket once it has reported the pid (as the engine's
    // connectMonitor knows): create may return first.
    await waitFor(paths.attachSocket);
    const sock = await connected(paths.attachSocket);
    const frames: Buffer[] = [];
    sock.on("data", (d) => frames.push(d));
    await rt.start(id);
    sock.write(frame(0, "hello\n"));
    await waitFor(paths.exitFile);
    sock.destroy();

    assert.equal(JSON.parse(readFileSync(paths.exitFile, "utf8")).exitCode, 7);
    const entries = readFileSync(paths.logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const byStream = (s: string) => entries.filter((e) => e.stream === s).map((e) => e.log).join("");
    assert.equal(byStream("stdout"), "out1\ngot-hello\n");
    assert.equal(byStream("stderr"), "err1\n");
    for (const e of entries) assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const all = Buffer.concat(frames);
    assert.equal(all[0], 1, "the first frame is stdout");
    assert.match(all.toString("latin1"), /got-hello/);
    assert.equal(rt.stateOf(id).status, "stopped");
  });

  test("a container that exits at once is still reported, and the log rotates", async () => {
    const b = makeBundle(["sh", "-c", "for i in $(seq 1 200); do echo line-$i; done"]);
    bundles.push(b);
    const id = uniqueId("rot");
    ids.push(id);
    const logPath = join(work, `${id}.log`);
    const exitFile = join(work, `${id}.exit`);
    await rt.create(id, { bundle: b.dir, monitor: { logPath, attachSocket: join(work, `${id}.sock`), exitFile, logMaxSize: 2000, logMaxFiles: 3 } });
    await rt.start(id);
    await waitFor(exitFile);
    assert.equal(JSON.parse(readFileSync(exitFile, "utf8")).exitCode, 0);
    assert.ok(existsSync(`${logPath}.1`) && existsSync(`${logPath}.2`), "rotated files exist");
    assert.equal(existsSync(`${logPath}.3`), false, "no more than max-file files");
    const last = readFileSync(logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l).log);
    assert.equal(last.at(-1), "line-200\n");
  });

  test("a container still waiting for start goes with its monitor: a killed monitor leaves no init behind", async () => {
    const b = makeBundle(["sleep", "300"]);
    bundles.push(b);
    const id = uniqueId("orphan");
    ids.push(id);
    const created = await rt.create(id, { bundle: b.dir, monitor: { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) } });
    assert.notEqual(procState(created.pid), "Z", "the init waits for start");
    process.kill(created.monitorPid!, "SIGKILL");
    const until = Date.now() + 10_000;
    const gone = () => !existsSync(`/proc/${created.pid}`) || procState(created.pid) === "Z";
    while (!gone() && Date.now() < until) await sleep(20);
    assert.ok(gone(), "the init waiting in accept() went with its monitor");
  });

  test("once started, a container outlives its monitor", async () => {
    const b = makeBundle(["sleep", "300"]);
    bundles.push(b);
    const id = uniqueId("outlive");
    ids.push(id);
    const created = await rt.create(id, { bundle: b.dir, monitor: { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) } });
    await rt.start(id);
    process.kill(created.monitorPid!, "SIGKILL");
    await sleep(300);
    assert.equal(procState(created.pid), "S", "the started container runs on");
    process.kill(created.pid, "SIGKILL");
  });

  const mountedAt = (target: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === target);

  test("a host mount (an engine's overlay rootfs) is made before the container and undone after it", async () => {
    const dir = mkdtempSync(join(work, "overlay-"));
    const [upper, workdir, merged] = ["upper", "work", "merged"].map((d) => join(dir, d));
    for (const d of [upper!, workdir!, merged!]) mkdirSync(d);
    const b = makeBundle(["sh", "-c", "echo written > /marker; test -x /bin/busybox"], (c) => (c.root = { path: merged! }));
    bundles.push(b);
    const id = uniqueId("hostmnt");
    ids.push(id);
    const exitFile = join(work, `${id}.exit`);
    const overlay = { source: "overlay", target: merged!, type: "overlay", data: `lowerdir=${b.rootfs},upperdir=${upper},workdir=${workdir}`, unmountOnExit: true };
    await rt.create(id, { bundle: b.dir, hostMounts: [overlay], monitor: { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile } });
    assert.ok(mountedAt(merged!), "the overlay is mounted on the host while the container exists");
    await rt.start(id);
    await waitFor(exitFile);
    assert.equal(JSON.parse(readFileSync(exitFile, "utf8")).exitCode, 0, "the container saw the lower layer through the overlay");
    assert.equal(mountedAt(merged!), false, "the monitor unmounted the rootfs before writing the exit file");
    assert.equal(readFileSync(join(upper!, "marker"), "utf8"), "written\n", "writes went to the upper layer");

    // A mount that cannot be made fails the create, names the step, and leaves nothing.
    const bad = uniqueId("badmnt");
    await assert.rejects(
      rt.create(bad, { bundle: b.dir, hostMounts: [{ ...overlay, type: "no-such-fs" }], monitor: { logPath: join(work, `${bad}.log`), attachSocket: join(work, `${bad}.sock`), exitFile: join(work, `${bad}.exit`) } }),
      (err: Error & { details?: { step?: string; errno?: string } }) => {
        assert.match(err.message, /host-mount/);
        assert.equal(err.details?.errno, "ENODEV");
        return true;
      },
    );
    assert.equal(rt.state.exists(bad), false);
    assert.equal(mountedAt(merged!), false);
  });

  test("through a spawner: it forks the monitors, they outlive it, and create spawns directly once it is gone", async () => {
    const root = join(work, "state-spawner");
    const rt2 = new Runtime(root);
    await rt2.startSpawner(join(root, ".spawner.sock"));
    const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
    const b = makeBundle(["sleep", "30"]);
    bundles.push(b);
    const made: string[] = [];
    try {
      const create = async () => {
        const id = uniqueId("spawned");
        made.push(id);
        const files = { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) };
        return rt2.create(id, { bundle: b.dir, monitor: files });
      };
      const first = await create();
      const spawnerPid = ppidOf(first.monitorPid!);
      assert.notEqual(spawnerPid, process.pid, "the monitor's parent is the spawner, not this process");
      assert.equal(readFileSync(`/proc/${spawnerPid}/comm`, "utf8").trim(), "gantry:spawner");
      assert.equal(ppidOf(first.pid), first.monitorPid, "the monitor is the container's parent");

      process.kill(spawnerPid, "SIGKILL");
      // (kill returns before the process is gone; a spawner still accepting would fork this one)
      for (const until = Date.now() + 5000; existsSync(`/proc/${spawnerPid}/stat`) && !/^\S+ \S+ Z/.test(readFileSync(`/proc/${spawnerPid}/stat`, "utf8").replace(/\(.*\)/, "x")) && Date.now() < until; ) await sleep(5);
      const second = await create(); // the socket is still there, nothing listens: spawn directly
      assert.equal(ppidOf(second.monitorPid!), process.pid);
      assert.doesNotThrow(() => process.kill(first.monitorPid!, 0), "the first monitor outlived the spawner");
      await rt2.start(made[0]!);
      assert.equal(rt2.stateOf(made[0]!).status, "running");
    } finally {
      rt2.stopSpawner();
      for (const id of made) await rt2.delete(id, true).catch(() => {});
    }
  });

  // Every byte the program writes before it exits reaches each client that connected
  // before start: the engine connects two (its watch and the client's relay, for exec).
  test("every client connected before start gets the output, even when the monitor first runs after the exit", async () => {
    const b = makeBundle(["sh", "-c", "echo hello"]);
    bundles.push(b);
    const id = uniqueId("twoatt");
    ids.push(id);
    const paths = { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) };
    const created = await rt.create(id, { bundle: b.dir, monitor: paths });
    await waitFor(paths.attachSocket);
    // A loaded host, made certain: the monitor gets no CPU from before the clients connect
    // until the program has written and exited, so it sees them, the output and the exit at once.
    process.kill(created.monitorPid!, "SIGSTOP");
    let outputs: Promise<string>[];
    try {
      const socks = await Promise.all([1, 2, 3].map(() => connected(paths.attachSocket)));
      outputs = socks.map(collectStdout);
      await rt.start(id);
      for (const until = Date.now() + 10_000; procState(created.pid) !== "Z" && Date.now() < until; ) await sleep(5);
      assert.equal(procState(created.pid), "Z", "the program has exited (unreaped)");
    } finally {
      process.kill(created.monitorPid!, "SIGCONT");
    }
    assert.deepEqual(await Promise.all(outputs), ["hello\n", "hello\n", "hello\n"]);
    await waitFor(paths.exitFile);
    assert.equal(JSON.parse(readFileSync(paths.exitFile, "utf8")).exitCode, 0);
  });

  test("a client that reads slowly gets all of a large output: the program waits for it, the log goes on after", async () => {
    const line = "0123456789abcdefghijklmnopqrstuvwxyz";
    const lines = 80_000; // ~3 MB: far more than a socket buffer
    const b = makeBundle(["sh", "-c", `yes ${line} | head -n ${lines}`]);
    bundles.push(b);
    const id = uniqueId("slow");
    ids.push(id);
    const paths = { logPath: join(work, `${id}.log`), attachSocket: join(work, `${id}.sock`), exitFile: join(work, `${id}.exit`) };
    await rt.create(id, { bundle: b.dir, monitor: paths });
    await waitFor(paths.attachSocket);
    const sock = await connected(paths.attachSocket);
    const output = collectStdout(sock);
    sock.pause(); // reads nothing for now: the monitor's writes to it fill the socket buffer
    await rt.start(id);
    // Let the monitor read well past what the socket holds (~200 KB) before the client reads.
    const logSize = () => (existsSync(paths.logPath) ? statSync(paths.logPath).size : 0);
    for (const until = Date.now() + 20_000; logSize() < 2_000_000 && !existsSync(paths.exitFile) && Date.now() < until; ) await sleep(10);
    assert.equal(existsSync(paths.exitFile), false, "the program waits while the client's backlog is full");
    sock.resume();
    const out = await output;
    assert.equal(out.length, (line.length + 1) * lines, "the client got every byte");
    assert.equal(out, `${line}\n`.repeat(lines));
    await waitFor(paths.exitFile);
    assert.equal(JSON.parse(readFileSync(paths.exitFile, "utf8")).exitCode, 0);
    const logged = readFileSync(paths.logPath, "utf8").trim().split("\n");
    assert.equal(logged.map((l) => JSON.parse(l).log).join(""), out, "the log has it all too");
  });
});
