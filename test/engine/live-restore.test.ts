// Live restore: SIGKILL the daemon while containers run. The monitors (not the daemon) are
// the containers' parents, so they keep running; the restarted daemon re-adopts them from
// disk, their logs continue, and an exit that happened while it was down is reported with
// the right code.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { processAlive as alive } from "../helpers/busybox-bundle.ts";
import { DOCKER, docker, killDaemon, skipReason, spawnTestDaemon, startTestDaemon, useTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip =
  skipReason() ??
  (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`) ??
  (existsSync("/usr/lib/cni/bridge") ? undefined : "needs the CNI plugins (apt-get install containernetworking-plugins iptables)");
// On a bridge, as users run it: an exit's clean-up then includes the network's, which is what
// made a restarted daemon answer with stale state while it ran.
const BRIDGE = { bridge: "gtlr70", subnet: "10.247.70.0/24" };

const ZERO_TIME = "0001-01-01T00:00:00Z";

function get(socket: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: "GET" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The restarted daemon's first answer: waits for its socket without sending anything else. */
async function firstAnswer(d: TestDaemon, path: string): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (d.child?.exitCode !== null) throw new Error(`the daemon exited: ${d.log.join("")}`);
    if (existsSync(d.socket)) {
      try {
        return await get(d.socket, path);
      } catch (err) {
        // Between bind and listen the socket file exists but refuses: that request was not answered.
        if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED" && (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the daemon did not answer: ${d.log.join("")}`);
}

/** Waits until each container's monitor has written its exit file (the containers exited while no daemon ran). */
async function waitForExitFiles(d: TestDaemon, ids: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ids.every((id) => existsSync(join(d.root, "engine", "containers", id, "exit.json")))) {
    if (Date.now() > deadline) {
      const missing = ids.filter((id) => !existsSync(join(d.root, "engine", "containers", id, "exit.json")));
      throw new Error(`containers ${missing.map((id) => id.slice(0, 12)).join(", ")} did not exit; daemon log: ${d.log.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const idOf = (d: TestDaemon, name: string) => docker(d, ["inspect", "-f", "{{.Id}}", name]).stdout.trim();

interface Inspect {
  Id: string;
  Name: string;
  RestartCount: number;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number; StartedAt: string; FinishedAt: string };
}

// Containers that must exit while no daemon runs wait for a file the test creates after the
// SIGKILL, in a directory bound at /trigger (a sleep would race a slow machine).
function triggerDir(d: TestDaemon, name: string): { mount: string[]; fire: () => void } {
  const dir = join(d.dir, `trigger-${name}`);
  mkdirSync(dir, { recursive: true });
  return { mount: ["-v", `${dir}:/trigger`], fire: () => writeFileSync(join(dir, "go"), "") };
}
const untilTriggered = "while [ ! -e /trigger/go ]; do sleep 0.05; done";

/** SIGKILLs the daemon, then lets the triggered containers exit while none runs (their monitors write the exit files). */
async function exitWhileDown(d: TestDaemon, trigger: { fire: () => void }, ids: string[]): Promise<void> {
  await killDaemon(d, "SIGKILL");
  trigger.fire();
  await waitForExitFiles(d, ids);
}

// Exits with `code` when triggered on its first run and stays up on later runs (the marker lives
// in the container's writable layer), so a restart is visible and never races the test.
const onceThenStay = (code: number) => `if [ -e /ran ]; then exec sleep 300; fi; touch /ran; ${untilTriggered}; exit ${code}`;

describe("live restore after SIGKILL of the daemon", { skip }, () => {
  const d = useTestDaemon(BRIDGE);

  it("keeps containers running, re-adopts them and reports exits that happened meanwhile", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "keep", "busybox", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"]).status, 0);
    const trigger = triggerDir(d, "first");
    const dies = docker(d, ["run", "-d", "--name", "dies", ...trigger.mount, "busybox", "sh", "-c", `${untilTriggered}; exit 7`]);
    assert.equal(dies.status, 0, dies.stderr);
    assert.equal(docker(d, ["run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300"]).status, 0);
    const pid = Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", "keep"]).stdout.trim());
    assert.ok(pid > 0);

    await exitWhileDown(d, trigger, [dies.stdout.trim()]); // "dies" exits while nobody watches
    assert.ok(alive(pid), "the container outlived its daemon");

    await startTestDaemon(d);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"]).stdout.trim(), `running ${pid}`);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "dies"]).stdout.trim(), "exited 7");
    assert.equal(docker(d, ["wait", "dies"]).stdout.trim(), "7");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "always"]).stdout.trim(), "running 0");

    const before = docker(d, ["logs", "keep"]).stdout.split("\n").filter(Boolean).length;
    await new Promise((r) => setTimeout(r, 600));
    const afterLines = docker(d, ["logs", "keep"]).stdout.split("\n").filter(Boolean);
    assert.ok(afterLines.length > before, "logs continue after the restart");
    assert.match(afterLines.at(-1) ?? "", /^tick \d+$/);

    // The re-adopted container is fully managed: exec, stop with its exit code, rm.
    assert.equal(docker(d, ["exec", "keep", "true"]).status, 0);
    assert.equal(docker(d, ["stop", "-t", "1", "keep"]).status, 0);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.ExitCode}}", "keep"]).stdout.trim(), "137");
    assert.ok(!alive(pid));
    assert.equal(docker(d, ["rm", "keep", "dies"]).status, 0);
  });

  it("answers its very first request with exits that happened while it was down, restart policies applied", async () => {
    const run = (args: string[]) => {
      const r = docker(d, ["run", "-d", ...args]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const trigger = triggerDir(d, "policies");
    const dies = run(["--name", "down-dies", ...trigger.mount, "busybox", "sh", "-c", `${untilTriggered}; exit 7`]);
    const onFailure = run(["--name", "down-onfail", "--restart", "on-failure:3", ...trigger.mount, "busybox", "sh", "-c", onceThenStay(7)]);
    const always = run(["--name", "down-always", "--restart", "always", ...trigger.mount, "busybox", "sh", "-c", onceThenStay(0)]);
    const unlessStopped = run(["--name", "down-unless", "--restart", "unless-stopped", ...trigger.mount, "busybox", "sh", "-c", onceThenStay(3)]);
    // on-failure:1 that already used its one retry while the daemon ran: the exit while it is down is not retried.
    const exhausted = run(["--name", "down-exhausted", "--restart", "on-failure:1", ...trigger.mount, "busybox", "sh", "-c", `if [ -e /ran ]; then ${untilTriggered}; exit 5; fi; touch /ran; exit 5`]);
    const deadline = Date.now() + 20_000;
    while (docker(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", exhausted]).stdout.trim() !== "running 1") {
      assert.ok(Date.now() < deadline, "the on-failure:1 container was not restarted once");
      await new Promise((r) => setTimeout(r, 50));
    }
    const oldPids = new Map([onFailure, always, unlessStopped].map((id) => [id, Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim())]));

    await exitWhileDown(d, trigger, [dies, onFailure, always, unlessStopped, exhausted]);
    const daemonStart = Date.now();
    await spawnTestDaemon(d);

    // The very first request the new daemon answers.
    const first = await firstAnswer(d, `/containers/${dies}/json`);
    assert.equal(first.status, 200, first.body);
    const diesState = (JSON.parse(first.body) as Inspect).State;
    assert.equal(diesState.Status, "exited");
    assert.equal(diesState.Running, false);
    assert.equal(diesState.ExitCode, 7);
    assert.equal(diesState.Pid, 0);
    assert.notEqual(diesState.FinishedAt, ZERO_TIME);
    assert.ok(Date.parse(diesState.FinishedAt) < daemonStart, `FinishedAt ${diesState.FinishedAt} is the exit's time, not the restore's`);

    for (const id of [onFailure, always, unlessStopped]) {
      const r = await get(d.socket, `/containers/${id}/json`);
      const c = JSON.parse(r.body) as Inspect;
      assert.equal(`${c.Name} ${c.State.Status} ${c.RestartCount}`, `${c.Name} running 1`, "restarted once by its policy");
      assert.notEqual(c.State.Pid, oldPids.get(id));
      assert.ok(c.State.Pid > 0 && alive(c.State.Pid), `${c.Name}'s new process runs`);
    }
    const ex = JSON.parse((await get(d.socket, `/containers/${exhausted}/json`)).body) as Inspect;
    assert.equal(`${ex.State.Status} ${ex.State.ExitCode} ${ex.RestartCount}`, "exited 5 1", "on-failure:1 has no retry left");

    const list = JSON.parse((await get(d.socket, "/containers/json?all=1")).body) as { Id: string; State: string; Status: string }[];
    const listed = (id: string) => list.find((c) => c.Id === id);
    assert.equal(listed(dies)?.State, "exited");
    assert.match(listed(dies)?.Status ?? "", /^Exited \(7\) /);
    assert.equal(listed(onFailure)?.State, "running");

    assert.equal(docker(d, ["rm", "-f", dies, onFailure, always, unlessStopped, exhausted]).status, 0);
  });

  it("removes at restore a --rm container that exited while it was down (the state on disk a crash between an exit and its removal leaves too)", async () => {
    const trigger = triggerDir(d, "autoremove");
    const r = docker(d, ["run", "-d", "--rm", ...trigger.mount, "busybox", "sh", "-c", `${untilTriggered}; exit 4`]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    await exitWhileDown(d, trigger, [id]);
    await spawnTestDaemon(d);
    const first = await firstAnswer(d, `/containers/${id}/json`);
    assert.equal(first.status, 404, `the first answer still knows it: ${first.body}`);
    assert.ok(!existsSync(join(d.root, "engine", "containers", id)), "its directory is gone");
  });

  it("a torn exit file (what a power loss can leave of one written without an fsync) reads as none: the restore goes on, the exit is the dead monitor's 255", async () => {
    const trigger = triggerDir(d, "torn");
    const r = docker(d, ["run", "-d", "--name", "torn", ...trigger.mount, "busybox", "sh", "-c", `${untilTriggered}; exit 6`]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    await exitWhileDown(d, trigger, [id]);
    writeFileSync(join(d.root, "engine", "containers", id, "exit.json"), '{"exitCode":6,"sig');
    await startTestDaemon(d);
    // the monitor may still be finishing (unmounting) at the restore: its death is seen by the poll
    const stateOf = () => JSON.parse(docker(d, ["inspect", "-f", "{{json .State}}", "torn"]).stdout) as Inspect["State"];
    const deadline = Date.now() + 20_000;
    let state = stateOf();
    while (state.Status === "running" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      state = stateOf();
    }
    assert.equal(state.Status, "exited");
    assert.equal(state.ExitCode, 255);
    assert.equal(docker(d, ["rm", "torn"]).status, 0);
  });

  it("shows the docker CLI's first inspect and ps after a restart the exit that happened meanwhile", async () => {
    const trigger = triggerDir(d, "cli");
    const r = docker(d, ["run", "-d", "--name", "cli-dies", ...trigger.mount, "busybox", "sh", "-c", `${untilTriggered}; exit 7`]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    await exitWhileDown(d, trigger, [id]);
    await spawnTestDaemon(d);

    // The first docker command that reaches the daemon (earlier tries found no socket to connect to).
    let inspect = docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}", "cli-dies"]);
    const deadline = Date.now() + 60_000;
    while (inspect.status !== 0 && /Cannot connect|connection refused|no such file/i.test(inspect.stderr) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      inspect = docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}", "cli-dies"]);
    }
    assert.equal(inspect.status, 0, inspect.stderr);
    const [status, code, finishedAt] = inspect.stdout.trim().split(" ");
    assert.equal(`${status} ${code}`, "exited 7");
    assert.notEqual(finishedAt, ZERO_TIME);
    assert.ok(!Number.isNaN(Date.parse(finishedAt!)));

    assert.match(docker(d, ["ps", "-a", "--filter", "name=cli-dies", "--format", "{{.Status}}"]).stdout.trim(), /^Exited \(7\) /);
    assert.equal(docker(d, ["ps", "-q", "--filter", "name=cli-dies"]).stdout.trim(), "", "docker ps does not list it as running");
    assert.equal(idOf(d, "cli-dies"), id);
    assert.equal(docker(d, ["rm", "cli-dies"]).status, 0);
  });
});
