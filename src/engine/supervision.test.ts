// The engine's supervision of a container — start, exit noticed through the exit file,
// the restart policy's back-off, stop's timeout then SIGKILL — with the OCI backend and the
// clock passed in: a recording fake backend runs nothing, a FakeClock moves time, so the
// back-off and the stop timeout are checked without a kernel and without sleeping.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../common/clock.ts";
import { writeJsonAtomic } from "../common/atomic-file.ts";
import type { LocalImage } from "../image/mod.ts";
import { Engine } from "./engine.ts";
import { translateCreate } from "./create.ts";
import type { OciBackend } from "./oci-backend.ts";

/** Records every call; a container "exits" when the test (or a SIGKILL) writes its exit file. */
class RecordingBackend implements OciBackend {
  readonly name = "recording";
  readonly netnsBeforeStart = true;
  readonly hostMounts = false;
  readonly calls: string[] = [];
  private readonly exitFiles = new Map<string, string>();
  constructor(private readonly clock: FakeClock) {}
  exists = () => false;
  status = () => "running";
  async create(id: string, _bundle: string, monitor: { exitFile: string }): Promise<{ pid: number; monitorPid: number }> {
    this.calls.push("create");
    this.exitFiles.set(id, monitor.exitFile);
    return { pid: 4242, monitorPid: 0 };
  }
  async start(): Promise<number> {
    this.calls.push("start");
    return 4242;
  }
  kill(id: string, signal: string): void {
    this.calls.push(`kill ${signal}`);
    if (signal === "SIGKILL") this.exit(id, 137);
  }
  async delete(): Promise<void> {
    this.calls.push("delete");
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}
  pids = () => [];
  stats = () => ({}) as never;
  oomKillCount = () => 0;
  cgroupPaths = () => ({});
  update(_id: string, resources: unknown): void {
    this.calls.push(`update ${JSON.stringify(resources)}`);
  }
  execCommand = () => ({ cmd: "false", args: [] });
  /** What the container's monitor does when its process ends. */
  exit(id: string, code: number): void {
    writeJsonAtomic(this.exitFiles.get(id)!, { exitCode: code, signal: code > 128 ? code - 128 : 0, finishedAtMs: this.clock.now() });
  }
}

const image = { id: "sha256:" + "cd".repeat(32), config: { config: { Cmd: ["serve"] } } } as unknown as LocalImage;

describe("engine supervision on a fake clock and a recording backend", () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 4, 12));
  const backend = new RecordingBackend(clock);
  let dir: string;
  let engine: Engine;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-supervision-"));
    engine = new Engine({ root: dir, networking: false, ociBackend: backend, clock, log: () => {} });
    await engine.restore();
  });
  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A created container (the record create makes), its rootfs standing in as a mount point. */
  function created(name: string, restart: "no" | "on-failure"): string {
    const { rec } = translateCreate(name, { Image: "img", HostConfig: { RestartPolicy: { Name: restart, MaximumRetryCount: restart === "on-failure" ? 2 : 0 } } }, {
      host: engine.host,
      resolveImage: () => image,
      nameInUse: (n) => engine.containers.nameInUse(n),
      uniqueName: () => "/x",
      runtimeName: "gantry",
      linkTarget: (ref) => engine.containers.get(ref),
      networks: undefined,
      logPath: (id) => join(dir, `${id}.log`),
      newId: () => `${name}`.padEnd(64, "0").replace(/[^0-9a-f]/g, "0"),
      now: () => new Date(clock.now()),
    });
    rec.Rootfs = "/proc"; // a mount point: start asks for no overlay mount
    engine.containers.save(rec);
    return rec.Id;
  }

  /** Advances the fake clock in poll-sized steps until `cond` holds (at most `maxMs`); after
   * each step the record writes on the thread pool land (a start answers after its write). */
  async function until(cond: () => boolean, maxMs = 5_000): Promise<void> {
    for (let t = 0; t <= maxMs && !cond(); t += 100) {
      await clock.advance(100);
      await engine.containers.flush();
    }
    assert.ok(cond(), "condition not reached on the fake clock");
  }
  const status = (id: string) => engine.containers.get(id).State.Status;

  it("restarts a failed container after the policy's back-off, counted, at fake-clock times", async () => {
    const id = created("aa", "on-failure");
    await engine.start(id);
    assert.equal(status(id), "running");
    assert.equal(engine.containers.get(id).State.StartedAt, new Date(clock.now()).toISOString());
    backend.calls.length = 0;
    backend.exit(id, 3);
    await until(() => status(id) === "restarting");
    assert.equal(engine.containers.get(id).State.ExitCode, 3);
    // first back-off: 100 ms of fake time, then the start
    await until(() => status(id) === "running", 200);
    assert.equal(engine.containers.get(id).RestartCount, 1);
    assert.deepEqual(backend.calls.filter((c) => c === "create" || c === "start"), ["create", "start"]);
    // a second failure waits twice as long; stop during the back-off cancels the restart
    backend.exit(id, 3);
    await until(() => status(id) === "restarting");
    assert.equal(await engine.stop(id), true);
    assert.equal(status(id), "exited");
    await clock.advance(10_000);
    assert.equal(status(id), "exited", "no restart after stop");
    assert.equal(engine.containers.get(id).RestartCount, 1);
  });

  it("stop sends the stop signal, waits its timeout on the clock, then SIGKILLs", async () => {
    const id = created("bb", "no");
    await engine.start(id);
    backend.calls.length = 0;
    const stopped = engine.stop(id, 10);
    await clock.advance(9_000);
    assert.deepEqual(backend.calls, ["kill SIGTERM"], "only the stop signal before the timeout");
    await until(() => backend.calls.includes("kill SIGKILL"), 2_000);
    await until(() => status(id) === "exited");
    assert.equal(await stopped, true);
    assert.equal(engine.containers.get(id).State.ExitCode, 137);
  });
});
