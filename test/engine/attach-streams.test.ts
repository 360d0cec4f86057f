// The attach and exec streams as dockerd serves them, over the raw API against `gantry daemon`
// (what client libraries such as docker-py send): exec start frames its stream by the start
// request's Tty, the detach keys end an attach or exec without ending the program (a partial
// sequence reaches it), and `GET /containers/{id}/attach/ws` relays over a WebSocket.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { DOCKER, api, docker, hijack, skipReason, useTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function execCreate(d: TestDaemon, container: string, body: object): Promise<string> {
  const r = await api(d, "POST", `/v1.50/containers/${container}/exec`, body);
  assert.equal(r.status, 201, r.body);
  return (JSON.parse(r.body) as { Id: string }).Id;
}

/** The exec's output as the client got it, once the daemon closed the stream. */
async function execOutput(d: TestDaemon, id: string, startTty: boolean): Promise<Buffer> {
  const h = await hijack(d, `/v1.50/exec/${id}/start`, JSON.stringify({ Detach: false, Tty: startTty }));
  await h.closed;
  return h.received();
}

function fileIn(d: TestDaemon, container: string, path: string): string {
  return docker(d, ["exec", container, "cat", path]).stdout;
}

describe("attach and exec streams against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();

  it("exec start frames the stream by the start request's Tty, not the exec's", async () => {
    assert.equal(docker(d, ["run", "-d", "--name", "ex", "busybox", "sleep", "300"]).status, 0);
    // Made without a TTY, started with Tty: the bytes come bare, stdout and stderr alike.
    const bare = await execOutput(d, await execCreate(d, "ex", { AttachStdout: true, AttachStderr: true, Tty: false, Cmd: ["sh", "-c", "echo out; echo err >&2"] }), true);
    assert.equal(bare.toString(), "out\nerr\n");
    // Made with a TTY, started without: the terminal's output in stdout frames.
    const framed = await execOutput(d, await execCreate(d, "ex", { AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ["echo", "hi"] }), false);
    assert.equal(framed[0], 1, "a stdout frame");
    assert.equal(framed.readUInt32BE(4), framed.length - 8);
    assert.equal(framed.subarray(8).toString(), "hi\r\n");
    // Both the same way: as before.
    const plain = await execOutput(d, await execCreate(d, "ex", { AttachStdout: true, Tty: false, Cmd: ["echo", "x"] }), false);
    assert.deepEqual([...plain.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 2]);
  });

  it("attach: the detach keys end the attach, the container runs on, a broken sequence reaches it", async () => {
    // Each line read is written, control characters made visible, to a file we read back.
    const visibleLines = (file: string) => `while read -r l; do echo "$l" | cat -v >> ${file}; done`;
    assert.equal(docker(d, ["run", "-dit", "--name", "tt", "busybox", "sh", "-c", visibleLines("/tmp/in")]).status, 0);
    const since = Math.floor(Date.now() / 1000) - 1;
    const path = "/v1.50/containers/tt/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a,b";
    const first = await hijack(d, path);
    first.sock.write("one\n");
    await until("the first line", () => fileIn(d, "tt", "/tmp/in") === "one\n");
    first.sock.write("\x01");
    await new Promise((r) => setTimeout(r, 100));
    first.sock.write("b");
    await first.closed;
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "tt"]).stdout.trim(), "running");

    const second = await hijack(d, path);
    second.sock.write("\x01");
    await new Promise((r) => setTimeout(r, 100));
    second.sock.write("x\n");
    await until("the second line", () => fileIn(d, "tt", "/tmp/in") === "one\n^Ax\n");
    second.sock.write("\x01b"); // keys arriving together detach too
    await second.closed;
    assert.equal(fileIn(d, "tt", "/tmp/in"), "one\n^Ax\n", "no detach key reached the program");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "tt"]).stdout.trim(), "running");
    const events = docker(d, ["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "event=detach", "--format", "{{.Actor.Attributes.name}}"]);
    assert.equal(events.stdout.trim().split("\n").filter((l) => l === "tt").length, 2, events.stdout + events.stderr);
    // Without a TTY the keys are data, as with dockerd.
    assert.equal(docker(d, ["run", "-di", "--name", "nt", "busybox", "sh", "-c", visibleLines("/tmp/in")]).status, 0);
    const raw = await hijack(d, "/v1.50/containers/nt/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b");
    raw.sock.write("\x01b\n");
    await until("the data", () => fileIn(d, "nt", "/tmp/in") === "^Ab\n");
    raw.sock.destroy();
  });

  it("exec: the exec's DetachKeys end the stream, the process runs on", async () => {
    const id = await execCreate(d, "ex", { AttachStdin: true, AttachStdout: true, Tty: true, DetachKeys: "ctrl-x,y", Cmd: ["sh", "-c", "while read -r l; do echo \"$l\" >> /tmp/exec-in; done"] });
    const h = await hijack(d, `/v1.50/exec/${id}/start`, JSON.stringify({ Detach: false, Tty: true }));
    h.sock.write("kept\n");
    await until("the exec's line", () => fileIn(d, "ex", "/tmp/exec-in") === "kept\n");
    h.sock.write("\x18y");
    await h.closed;
    const inspect = JSON.parse((await api(d, "GET", `/v1.50/exec/${id}/json`)).body) as { Running: boolean; Pid: number };
    assert.equal(inspect.Running, true);
    assert.ok(inspect.Pid > 0);
    process.kill(inspect.Pid, "SIGKILL");
    await until("the exec's end", async () => (JSON.parse((await api(d, "GET", `/v1.50/exec/${id}/json`)).body) as { Running: boolean }).Running === false);
  });

  it("docker attach/exec -it: the CLI's detach keys leave the program running, as with dockerd", { skip: existsSync("/usr/bin/script") ? undefined : "needs script(1)" }, async () => {
    assert.equal(docker(d, ["run", "-dit", "--name", "sh1", "busybox", "sh"]).status, 0);
    // The keys typed one at a time in a terminal (script(1) gives the CLI one).
    const typed = (cmd: string) =>
      spawnSync("sh", ["-c", `(sleep 1; printf 'echo hi\\n'; sleep 1; printf '\\001'; sleep 0.5; printf 'b'; sleep 2) | script -qec "$0" /dev/null`, `${DOCKER} -H unix://${d.socket} ${cmd}`], {
        encoding: "latin1",
        timeout: 30_000,
        env: { ...process.env, DOCKER_CONFIG: join(d.dir, "docker-config") },
      }).stdout;
    const shells = () => docker(d, ["exec", "sh1", "ps", "-o", "pid,args"]).stdout.split("\n").filter((l) => / sh$/.test(l)).length;
    assert.equal(shells(), 1);
    const exec = typed("exec -it --detach-keys ctrl-a,b sh1 sh");
    assert.match(exec, /hi\r\n/);
    assert.match(exec, /read escape sequence/);
    assert.equal(shells(), 2, "the exec's shell runs on");
    const attach = typed("attach --detach-keys ctrl-a,b sh1");
    assert.match(attach, /read escape sequence/);
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "sh1"]).stdout.trim(), "running");
  });

  it("attach/ws relays a container's streams over a WebSocket (binary from API 1.42, text before)", async () => {
    assert.equal(docker(d, ["run", "-di", "--name", "wsc", "busybox", "sh", "-c", "while read l; do echo \"got $l\"; echo \"err $l\" >&2; done"]).status, 0);
    for (const [version, binary] of [["1.50", true], ["1.41", false]] as const) {
      const ws = new WebSocket(`ws+unix://${d.socket}:/v${version}/containers/wsc/attach/ws?stream=1&stdin=1&stdout=1&stderr=1`);
      let text = "";
      const kinds = new Set<boolean>();
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        text += data.toString();
        kinds.add(isBinary);
      });
      await new Promise<void>((resolve, reject) => {
        ws.on("open", () => resolve());
        ws.on("error", (err: Error) => reject(err));
      });
      ws.send(Buffer.from(`hello ${version}\n`));
      await until("the echo", () => text.includes(`got hello ${version}\n`) && text.includes(`err hello ${version}\n`));
      assert.ok(!text.includes("\x01\x00\x00\x00"), "no frame headers");
      assert.deepEqual([...kinds], [binary]);
      ws.close();
    }
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws+unix://${d.socket}:/v1.50/containers/nosuch/attach/ws?stream=1&stdout=1`);
      ws.on("unexpected-response", (_req: unknown, res: unknown) => resolve((res as { statusCode: number }).statusCode));
      ws.on("error", () => {});
    });
    assert.equal(status, 404);
    // The container lives on after the clients left.
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "wsc"]).stdout.trim(), "running");
  });
});
