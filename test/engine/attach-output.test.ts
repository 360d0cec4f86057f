// Output reaches the attached client, whole: `docker run` (with and without --rm) and
// `docker exec` through the real docker CLI and through the raw API (hijacked attach and exec
// start), many at once, and a large output while the daemon is stalled (SIGSTOP), which the
// container's monitor must keep for the daemon (the program waits) instead of dropping it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { api, DOCKER, docker, hijack, skipReason, useTestDaemon, type RunResult, type TestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The docker CLI without blocking this process (several run at once, the daemon may be stopped). */
function dockerAsync(d: TestDaemon, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(DOCKER, ["-H", `unix://${d.socket}`, ...args], { env: { ...process.env, DOCKER_CONFIG: join(d.dir, "docker-config") } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("latin1")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** The hijacked stream (no TTY) split into stdout and stderr, once the daemon has closed it. */
async function demuxed(stream: { received: () => Buffer; closed: Promise<void> }): Promise<{ stdout: string; stderr: string }> {
  await stream.closed;
  let rest = stream.received();
  const out = { stdout: "", stderr: "" };
  while (rest.length >= 8 && rest.length >= 8 + rest.readUInt32BE(4)) {
    const len = rest.readUInt32BE(4);
    if (rest[0] === 1) out.stdout += rest.subarray(8, 8 + len).toString("latin1");
    if (rest[0] === 2) out.stderr += rest.subarray(8, 8 + len).toString("latin1");
    rest = rest.subarray(8 + len);
  }
  return out;
}

/** `rounds` times, `width` at once. */
async function rounds<T>(rounds: number, width: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let r = 0; r < rounds; r++) out.push(...(await Promise.all(Array.from({ length: width }, (_, k) => one(r * width + k)))));
  return out;
}

const line = "0123456789abcdefghijklmnopqrstuvwxyz";
const lines = 80_000; // ~3 MB: more than the monitor keeps for a client that does not read
const big = `${line}\n`.repeat(lines);
// Signals that it runs, waits for /tmp/go, writes ~3 MB at once, and says it is done.
const bigScript = `touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; yes ${line} | head -n ${lines}; touch /tmp/done`;

/**
 * Runs `start` (a docker CLI call running bigScript in the container whose pid `pidOf` finds),
 * holds the daemon with SIGSTOP from when the program writes until `whileStopped` returns, and
 * returns what the CLI printed.
 */
async function bigOutputWithDaemonStopped(d: TestDaemon, start: () => Promise<RunResult>, pidOf: () => number, whileStopped: (root: string) => Promise<void>): Promise<RunResult> {
  const result = start();
  let root = "";
  for (const until = Date.now() + 20_000; Date.now() < until; await sleep(20)) {
    const pid = pidOf();
    if (pid > 0 && existsSync(`/proc/${pid}/root/tmp/ready`)) {
      root = `/proc/${pid}/root`;
      break;
    }
  }
  assert.ok(root, "the program started");
  const daemon = d.child!.pid!;
  process.kill(daemon, "SIGSTOP");
  try {
    writeFileSync(`${root}/tmp/go`, "");
    await whileStopped(root);
  } finally {
    process.kill(daemon, "SIGCONT");
  }
  return result;
}

/** Gantry's monitor keeps up to 1 MiB for a client, then the program waits for it. */
async function programWaits(root: string): Promise<void> {
  // Nothing reads the output now. Dropping it would let the program finish at once.
  for (const until = Date.now() + 3000; !existsSync(`${root}/tmp/done`) && Date.now() < until; ) await sleep(20);
  assert.equal(existsSync(`${root}/tmp/done`), false, "the program waits for the stalled daemon to read");
}

describe("output reaches the attached client", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("docker run --rm, docker run + logs, and docker exec: every run prints its output, many at once", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "side", "busybox", "sleep", "300"]).status, 0);
    const results = await rounds(4, 4, async (i) => {
      const [rm, kept, ex] = await Promise.all([
        dockerAsync(d, ["run", "--rm", "busybox", "sh", "-c", `echo rm-${i}; exit 3`]),
        dockerAsync(d, ["run", "--name", `kept-${i}`, "busybox", "sh", "-c", `echo kept-${i}; echo err-${i} >&2`]),
        dockerAsync(d, ["exec", "side", "sh", "-c", `echo exec-${i}; exit 5`]),
      ]);
      const logs = await dockerAsync(d, ["logs", `kept-${i}`]);
      await dockerAsync(d, ["rm", `kept-${i}`]);
      return { i, rm, kept, ex, logs };
    });
    for (const { i, rm, kept, ex, logs } of results) {
      assert.deepEqual([rm.stdout, rm.status], [`rm-${i}\n`, 3], `run --rm ${i}: ${rm.stderr}`);
      assert.deepEqual([kept.stdout, kept.stderr, kept.status], [`kept-${i}\n`, `err-${i}\n`, 0], `run ${i}`);
      assert.deepEqual([ex.stdout, ex.status], [`exec-${i}\n`, 5], `exec ${i}: ${ex.stderr}`);
      assert.deepEqual([logs.stdout, logs.stderr], [`kept-${i}\n`, `err-${i}\n`], `logs right after run ${i}`);
    }
  });

  it("through the raw API: attach before start, and exec start, get every byte, many at once", async () => {
    const results = await rounds(4, 4, async (i) => {
      const created = await api(d, "POST", "/v1.50/containers/create", { Image: "busybox", Cmd: ["sh", "-c", `echo out-${i}; echo err-${i} >&2; exit 4`], AttachStdout: true, AttachStderr: true });
      assert.equal(created.status, 201, created.body);
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      const attached = await hijack(d, `/v1.50/containers/${id}/attach?stderr=1&stdout=1&stream=1`);
      attached.sock.end(); // the docker CLI half-closes its side when it sends no input
      const waited = api(d, "POST", `/v1.50/containers/${id}/wait?condition=next-exit`);
      assert.equal((await api(d, "POST", `/v1.50/containers/${id}/start`)).status, 204);
      const run = { ...(await demuxed(attached)), code: (JSON.parse((await waited).body) as { StatusCode: number }).StatusCode };
      await api(d, "DELETE", `/v1.50/containers/${id}`);

      const made = await api(d, "POST", "/v1.50/containers/side/exec", { AttachStdout: true, AttachStderr: true, Cmd: ["sh", "-c", `echo xo-${i}; echo xe-${i} >&2; exit 6`] });
      const execId = (JSON.parse(made.body) as { Id: string }).Id;
      const started = await hijack(d, `/v1.50/exec/${execId}/start`, JSON.stringify({ Detach: false, Tty: false }));
      started.sock.end();
      const exec = { ...(await demuxed(started)), code: (JSON.parse((await api(d, "GET", `/v1.50/exec/${execId}/json`)).body) as { ExitCode: number }).ExitCode };
      return { i, run, exec };
    });
    for (const { i, run, exec } of results) {
      assert.deepEqual(run, { stdout: `out-${i}\n`, stderr: `err-${i}\n`, code: 4 }, `attach ${i}`);
      assert.deepEqual(exec, { stdout: `xo-${i}\n`, stderr: `xe-${i}\n`, code: 6 }, `exec ${i}`);
    }
  });

  it("docker exec: a large output reaches the client whole though the daemon stalls while it is written", async () => {
    const pid = Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", "side"]).stdout.trim());
    const r = await bigOutputWithDaemonStopped(d, () => dockerAsync(d, ["exec", "side", "sh", "-c", bigScript]), () => pid, programWaits);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, big.length, "every byte");
    assert.equal(r.stdout, big);
  });

  it("docker run: a large output reaches the client and the log whole though the daemon stalls", async () => {
    const r = await bigOutputWithDaemonStopped(
      d,
      () => dockerAsync(d, ["run", "--name", "bigrun", "busybox", "sh", "-c", bigScript]),
      () => Number(docker(d, ["inspect", "-f", "{{.State.Pid}}", "bigrun"]).stdout.trim() || 0),
      programWaits,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, big.length, "every byte");
    assert.equal(r.stdout, big);
    const logs = await dockerAsync(d, ["logs", "bigrun"]);
    assert.equal(logs.stdout.length, big.length, "the log has every byte");
    assert.equal(docker(d, ["rm", "-f", "bigrun", "side"]).status, 0);
  });
});

// runc's monitor is the Node shim: it keeps what the daemon has not read in its sockets' write
// queues, so it must not leave before they are sent.
const noRunc = skip ?? (spawnSync("runc", ["--version"]).status === 0 ? undefined : "runc is not installed (apt-get install runc)");

describe("output reaches the attached client through runc's shim", { skip: noRunc, concurrency: false }, () => {
  const d = useTestDaemon(undefined, "runc");

  it("docker run: a large output reaches the client whole though the daemon stalls until the container has exited", async () => {
    let id = "";
    const pidOf = () => {
      const r = docker(d, ["inspect", "-f", "{{.Id}} {{.State.Pid}}", "bigrunc"]).stdout.trim().split(" ");
      id = r[0] ?? "";
      return Number(r[1] ?? 0);
    };
    const exitedWhileStopped = async () => {
      const exitFile = join(d.root, "engine", "containers", id, "exit.json");
      for (const until = Date.now() + 20_000; !existsSync(exitFile) && Date.now() < until; ) await sleep(20);
      assert.ok(existsSync(exitFile), "the container exited while the daemon was stopped");
    };
    const r = await bigOutputWithDaemonStopped(d, () => dockerAsync(d, ["run", "--name", "bigrunc", "busybox", "sh", "-c", bigScript]), pidOf, exitedWhileStopped);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, big.length, "every byte");
    assert.equal(r.stdout, big);
    assert.equal(docker(d, ["rm", "-f", "bigrunc"]).status, 0);
  });
});
