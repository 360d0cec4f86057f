// Terminals through the real docker CLI and the raw API: `run -t`/`exec -t` get the client's
// size, POST /exec/{id}/resize and /containers/{id}/resize really resize the pty (busybox
// stty shows it), and an attached TTY session carries exactly the program's bytes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { api, DOCKER, docker, hijack, repo, skipReason, useTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip =
  skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`) ?? (existsSync("/usr/bin/script") ? undefined : "needs script(1) (util-linux) for a client terminal");

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The docker CLI in a terminal of `rows`x`cols` (script(1) gives it a pty). */
function dockerInTerminal(d: TestDaemon, rows: number, cols: number, args: string, typed = ""): string {
  // The typed input waits until the program runs (a terminal's input typed early is echoed
  // by the client's terminal, not the container's).
  const cmd = `stty rows ${rows} cols ${cols}; ${DOCKER} -H unix://${d.socket} ${args}`;
  const input = typed ? `sleep 2; printf '${typed.replace(/\r/g, "\\r")}'; sleep 3` : "true";
  const r = spawnSync("sh", ["-c", `(${input}) | script -qfec "$0" /dev/null`, cmd], {
    encoding: "latin1",
    timeout: 30_000,
    killSignal: "SIGKILL",
    env: { ...process.env, DOCKER_CONFIG: `${d.dir}/docker-config` },
  });
  return r.stdout;
}

// A loop that prints the terminal's size each time it changes.
const WATCH_SIZE = 'last=""; for i in $(seq 200); do s=$(stty size 2>/dev/null); if [ "$s" != "$last" ]; then echo "size=$s"; last=$s; fi; case "$s" in "50 160") exit 0;; esac; sleep 0.05; done';

describe("TTY size and bytes through the docker CLI and the API", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("run -t and exec -t start with the client's terminal size", () => {
    assert.match(dockerInTerminal(d, 29, 87, "run --rm -t busybox stty size"), /^29 87\r?$/m);
    const r = docker(d, ["run", "-d", "--name", "sized", "busybox", "sleep", "100000"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(dockerInTerminal(d, 31, 91, "exec -t sized stty size"), /^31 91\r?$/m);
    // Gantry's own client does the same
    const gantryCmd = `stty rows 33 cols 97; ${process.execPath} --import tsx ${repo}/src/cli/gantry/main.ts -H unix://${d.socket} exec -t sized stty size`;
    const g = spawnSync("script", ["-qfec", gantryCmd, "/dev/null"], { encoding: "latin1", input: "", timeout: 30_000, cwd: repo });
    assert.match(g.stdout, /^33 97\r?\r?$/m, g.stdout + g.stderr);
  });

  it("POST /exec/{id}/resize resizes the exec's pty", async () => {
    const created = await api(d, "POST", "/v1.50/containers/sized/exec", { Cmd: ["sh", "-c", WATCH_SIZE], Tty: true, AttachStdout: true, AttachStderr: true });
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const s = await hijack(d, `/v1.50/exec/${id}/start`, JSON.stringify({ Detach: false, Tty: true }));
    assert.equal((await api(d, "POST", `/v1.50/exec/${id}/resize?h=37&w=123`)).status, 200);
    await until("size 37 123", () => s.received().toString().includes("size=37 123"));
    assert.equal((await api(d, "POST", `/v1.50/exec/${id}/resize?h=50&w=160`)).status, 200);
    await s.closed;
    assert.match(s.received().toString(), /size=37 123\r\nsize=50 160\r\n$/);
    const inspect = JSON.parse((await api(d, "GET", `/v1.50/exec/${id}/json`)).body) as { ExitCode: number; Running: boolean; Pid: number };
    assert.equal(inspect.ExitCode, 0);
    assert.equal(inspect.Running, false);
    assert.ok(inspect.Pid > 0);
  });

  it("POST /containers/{id}/resize resizes a run -t container's pty", async () => {
    assert.equal(docker(d, ["run", "-d", "-t", "--name", "ttyc", "busybox", "sh", "-c", WATCH_SIZE]).status, 0);
    assert.equal((await api(d, "POST", "/v1.50/containers/ttyc/resize?h=37&w=123")).status, 200);
    await until("size 37 123 in the logs", () => docker(d, ["logs", "ttyc"]).stdout.includes("size=37 123"));
    assert.equal((await api(d, "POST", "/v1.50/containers/ttyc/resize?h=50&w=160")).status, 200);
    await until("size 50 160 in the logs", () => docker(d, ["logs", "ttyc"]).stdout.includes("size=50 160"));
    docker(d, ["rm", "-f", "ttyc"]);
  });

  it("an attached TTY session carries exactly the program's bytes (no NUL or stray frame)", async () => {
    const program = 'printf "ready\\n"; read line; printf "got:%s\\n" "$line"';
    const created = await api(d, "POST", "/v1.50/containers/create", {
      Image: "busybox", Cmd: ["sh", "-c", program], Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
      HostConfig: { ConsoleSize: [40, 100] },
    });
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    // docker run -it's order: attach, start, resize; then the user types a line
    const s = await hijack(d, `/v1.50/containers/${id}/attach?stderr=1&stdin=1&stdout=1&stream=1`);
    assert.equal((await api(d, "POST", `/v1.50/containers/${id}/start`)).status, 204);
    assert.equal((await api(d, "POST", `/v1.50/containers/${id}/resize?h=40&w=100`)).status, 200);
    await until("the program's first line", () => s.received().includes("ready"));
    s.sock.write("abc\r");
    await s.closed;
    const bytes = s.received();
    assert.equal(bytes.indexOf(0), -1, `a NUL byte in ${JSON.stringify(bytes.toString("latin1"))}`);
    assert.equal(bytes.toString("latin1"), "ready\r\nabc\r\ngot:abc\r\n");
    docker(d, ["rm", "-f", id]);

    // a client that ends its input (StdinOnce) ends the program's input: cat sees EOF, and
    // nothing but the echoed line and cat's copy comes back
    const cat = await api(d, "POST", "/v1.50/containers/create", {
      Image: "busybox", Cmd: ["cat"], Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
    });
    const catId = (JSON.parse(cat.body) as { Id: string }).Id;
    const c = await hijack(d, `/v1.50/containers/${catId}/attach?stderr=1&stdin=1&stdout=1&stream=1`);
    assert.equal((await api(d, "POST", `/v1.50/containers/${catId}/start`)).status, 204);
    c.sock.write("abc\r");
    await until("cat's copy", () => c.received().toString().includes("abc\r\nabc\r\n"));
    c.sock.end();
    await c.closed;
    assert.equal(c.received().toString("latin1"), "abc\r\nabc\r\n");
    docker(d, ["rm", "-f", catId]);

    // the same through the docker CLI in a terminal: run -it and exec -it
    const run = dockerInTerminal(d, 24, 80, `run --rm -it busybox sh -c '${program.replace(/'/g, "'\\''")}'`, "xyz\r");
    assert.equal(run.indexOf("\0"), -1, `a NUL byte in ${JSON.stringify(run)}`);
    assert.match(run, /ready\r\nxyz\r\ngot:xyz\r\n/);
  });

  it("exec keeps Docker's exit codes and stdin end through its monitor", () => {
    assert.equal(docker(d, ["exec", "sized", "sh", "-c", "exit 7"]).status, 7);
    assert.equal(docker(d, ["exec", "-i", "sized", "cat"], { input: "in\n" }).stdout, "in\n");
    const missing = docker(d, ["exec", "sized", "/nonexistent"]);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr + missing.stdout, /no such file or directory/i);
    assert.equal(docker(d, ["exec", "-d", "sized", "sh", "-c", "exit 3"]).status, 0);
    docker(d, ["rm", "-f", "sized"]);
  });
});
