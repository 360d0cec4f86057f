// The real docker CLI's image verbs against gantry daemon, with Debian's docker-registry on
// loopback: push, pull, history, commit, save/load, and the legacy builder
// (DOCKER_BUILDKIT=0 docker build, POST /build with a tar context) including a failing RUN's
// exit code; and `gantry build`/`gantry commit`, which use the same routes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "../image/_registry.ts";
import { makeTar } from "../image/_tar.ts";
import { docker, gantry, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync("/usr/bin/docker-registry") ? undefined : "needs Debian's docker-registry");
const legacy = { env: { DOCKER_BUILDKIT: "0" }, timeoutMs: 120_000 };

describe("docker image verbs against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();
  let reg: TestRegistry;

  const context = (name: string, dockerfile: string): string => {
    const dir = join(d.dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    writeFileSync(join(dir, "greeting.txt"), "hello from the context\n");
    return dir;
  };

  before(async () => {
    reg = await startRegistry();
  });
  after(async () => {
    await reg?.stop();
  });

  it("docker push, rmi, pull and history", () => {
    const image = `${reg.host}/dock/bb:1`;
    assert.equal(docker(d, ["tag", "busybox", image]).status, 0);
    const push = docker(d, ["push", image], { timeoutMs: 120_000 });
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.host}/dock/bb\\]`));
    assert.match(push.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    assert.match(docker(d, ["rmi", image]).stdout, new RegExp(`Untagged: ${image}`));

    const pull = docker(d, ["pull", image], { timeoutMs: 120_000 });
    assert.equal(pull.status, 0, pull.stderr);
    assert.match(pull.stdout, /1: Pulling from dock\/bb/);
    assert.match(pull.stdout, /Digest: sha256:[0-9a-f]{64}/);
    assert.equal(pull.stdout.trim().split("\n").at(-1), image);
    assert.match(docker(d, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout, new RegExp(`^${image}$`, "m"));

    const unknown = docker(d, ["pull", `${reg.host}/dock/nothing:here`], { timeoutMs: 60_000 });
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /Error response from daemon: .*(MANIFEST_UNKNOWN|NAME_UNKNOWN|unknown)/i);

    const history = docker(d, ["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "busybox"]);
    assert.equal(history.status, 0, history.stderr);
    assert.match(history.stdout, /^gantry import\|\d/m);
  });

  it("docker commit keeps the container's changes and run config; save and load carry it", () => {
    assert.equal(docker(d, ["run", "-d", "--name", "tocommit", "-e", "FROM_RUN=1", "busybox", "sh", "-c", "echo changed > /marker; rm /etc/group; sleep 300"]).status, 0);
    for (let i = 0; i < 100 && docker(d, ["exec", "tocommit", "test", "-f", "/marker"]).status !== 0; i++) spawnSleep(100);
    const commit = docker(d, ["commit", "-c", "ENV COMMITTED=yes", "-m", "a message", "tocommit", "committed:1"]);
    assert.equal(commit.status, 0, commit.stderr);
    assert.match(commit.stdout, /^sha256:[0-9a-f]{64}$/m);
    // Paused while committing, running again after.
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}}", "tocommit"]).stdout.trim(), "running");
    const cfg = JSON.parse(docker(d, ["image", "inspect", "-f", "{{json .Config}}", "committed:1"]).stdout) as { Env: string[]; Cmd: string[] };
    assert.ok(cfg.Env.includes("FROM_RUN=1") && cfg.Env.includes("COMMITTED=yes"), JSON.stringify(cfg.Env));
    assert.deepEqual(cfg.Cmd, ["sh", "-c", "echo changed > /marker; rm /etc/group; sleep 300"]);
    assert.match(docker(d, ["history", "--format", "{{.Comment}}", "committed:1"]).stdout, /^a message$/m);
    // The new file is there and the deleted one is gone.
    const check = docker(d, ["run", "--rm", "committed:1", "sh", "-c", 'test "$(cat /marker)" = changed && test ! -e /etc/group && test "$COMMITTED" = yes']);
    assert.equal(check.status, 0, check.stderr);
    assert.equal(docker(d, ["rm", "-f", "tocommit"]).status, 0);

    const tar = join(d.dir, "committed.tar");
    assert.equal(docker(d, ["save", "-o", tar, "committed:1"]).status, 0);
    assert.equal(docker(d, ["rmi", "committed:1"]).status, 0);
    assert.equal(docker(d, ["image", "inspect", "committed:1"]).status, 1);
    const load = docker(d, ["load", "-i", tar]);
    assert.equal(load.status, 0, load.stderr);
    assert.match(load.stdout, /Loaded image: committed:1/);
    assert.equal(docker(d, ["run", "--rm", "committed:1", "test", "-f", "/marker"]).status, 0);
  });

  it("DOCKER_BUILDKIT=0 docker build: steps and RUN output stream back, the image runs", () => {
    const dir = context("ctx-ok", 'FROM busybox\nCOPY greeting.txt /greeting\nRUN echo "output of the run step" && echo built > /built\nCMD ["cat", "/built"]\n');
    const build = docker(d, ["build", "-t", "built:1", "-t", "built:also", dir], legacy);
    assert.equal(build.status, 0, build.stderr);
    assert.match(build.stdout, /Step 1\/4 : FROM busybox/);
    assert.match(build.stdout, /^output of the run step$/m);
    assert.match(build.stdout, /Successfully built [0-9a-f]{12}/);
    assert.match(build.stdout, /Successfully tagged built:1/);
    assert.match(build.stdout, /Successfully tagged built:also/);
    const run = docker(d, ["run", "--rm", "built:also", "sh", "-c", 'test "$(cat /built)" = built && test "$(cat /greeting)" = "hello from the context"']);
    assert.equal(run.status, 0, run.stderr);
    // -q prints only the ID, the one the cache gives back.
    const quiet = docker(d, ["build", "-q", "-t", "built:1", dir], legacy);
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stdout.trim(), docker(d, ["image", "inspect", "-f", "{{.Id}}", "built:1"]).stdout.trim());
  });

  it("a failing RUN fails docker build and gantry build with its exit code and tags nothing", () => {
    const dir = context("ctx-fail", "FROM busybox\nRUN echo about to fail && exit 3\n");
    const build = docker(d, ["build", "-t", "broken:1", dir], legacy);
    assert.equal(build.status, 3, build.stderr);
    assert.match(build.stdout, /about to fail/);
    assert.match(build.stderr, /failed with exit code 3/);
    assert.equal(docker(d, ["image", "inspect", "broken:1"]).status, 1);

    const g = gantry(d, ["build", "-t", "broken:2", dir], { timeoutMs: 120_000 });
    assert.equal(g.status, 3, g.stderr);
    assert.match(g.stdout, /about to fail/);
    assert.match(g.stderr, /gantry: .*failed with exit code 3/);
    assert.equal(docker(d, ["image", "inspect", "broken:2"]).status, 1);
  });

  it("a hostile or incomplete build context is a 400 and leaves nothing behind", async () => {
    const postBuild = (query: string, body: Buffer) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ socketPath: d.socket, method: "POST", path: `/v1.50/build?${query}`, headers: { "Content-Type": "application/x-tar", "Content-Length": body.length }, agent: false }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("error", reject);
        req.end(body);
      });
    const escape = await postBuild("t=evil:1", await makeTar([{ name: "Dockerfile", content: "FROM busybox\n" }, { name: "../../escaped", content: "x" }]));
    assert.equal(escape.status, 400, escape.body);
    assert.match(JSON.parse(escape.body).message, /"\.\.\/\.\.\/escaped" has a "\.\." component/);
    const missing = await postBuild("dockerfile=Nope", await makeTar([{ name: "a", content: "x" }]));
    assert.equal(missing.status, 400);
    assert.match(JSON.parse(missing.body).message, /Cannot locate specified Dockerfile: Nope/);
    const target = await postBuild("target=stage", await makeTar([{ name: "Dockerfile", content: "FROM busybox\n" }]));
    assert.equal(target.status, 400);
    assert.match(JSON.parse(target.body).message, /build option target is not supported/);
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [e.name]));
    assert.ok(!walk(d.root).includes("escaped"));
    assert.deepEqual(readdirSync(join(d.root, "tmp")).filter((n) => n.startsWith("build-")), []);
    assert.equal(docker(d, ["image", "inspect", "evil:1"]).status, 1);
  });

  it("gantry build (Dockerfile outside the context, build args) and gantry commit", () => {
    const dir = context("ctx-gantry", "");
    const dockerfile = join(d.dir, "Elsewhere.dockerfile");
    writeFileSync(dockerfile, 'FROM busybox\nARG WHO=nobody\nRUN echo "hello $WHO" > /who\nCOPY greeting.txt /greeting\n');
    const build = gantry(d, ["build", "-t", "gbuilt:1", "-f", dockerfile, "--build-arg", "WHO=gantry", dir], { timeoutMs: 120_000 });
    assert.equal(build.status, 0, build.stderr);
    assert.match(build.stdout, /Successfully tagged gbuilt:1/);
    const run = gantry(d, ["run", "--rm", "gbuilt:1", "sh", "-c", 'test "$(cat /who)" = "hello gantry" && test -f /greeting']);
    assert.equal(run.status, 0, run.stderr);

    assert.equal(gantry(d, ["run", "-d", "--name", "gcommit", "gbuilt:1", "sh", "-c", "touch /made-here; sleep 300"]).status, 0);
    for (let i = 0; i < 100 && gantry(d, ["exec", "gcommit", "test", "-f", "/made-here"]).status !== 0; i++) spawnSleep(100);
    const commit = gantry(d, ["commit", "--no-pause", "-c", "CMD [\"true\"]", "gcommit", "gcommitted:1"]);
    assert.equal(commit.status, 0, commit.stderr);
    assert.match(commit.stdout, /^sha256:[0-9a-f]{64}$/m);
    assert.equal(gantry(d, ["run", "--rm", "gcommitted:1", "test", "-f", "/made-here"]).status, 0);
    assert.equal(gantry(d, ["rm", "-f", "gcommit"]).status, 0);
  });
});

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
