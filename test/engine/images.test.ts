// Image verbs are clients of the daemon they are pointed at (-H), as with the docker CLI:
// `gantry -H … pull` lands in that daemon's store, `images` lists it, `run` runs it without a
// second pull, and nothing is written to a local store. Pull and push send the client's own
// registry credentials (X-Registry-Auth): the daemon has none. The daemon answers pulls with
// Docker's JSON progress stream, and with an HTTP error status when the image is unknown.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pushImage } from "../../src/image/push.ts";
import { ImageStore } from "../../src/image/store.ts";
import { startRegistry, type TestRegistry } from "../image/_registry.ts";
import { docker, makeBusyboxImage, repo, skipReason, useTestDaemon, type RunResult } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync("/usr/bin/docker-registry") ? undefined : "needs Debian's docker-registry");

describe("image verbs go to the daemon at -H", { skip, concurrency: false }, () => {
  const d = useTestDaemon();
  let reg: TestRegistry;
  let authReg: TestRegistry;
  let work: string;

  /** The gantry CLI with a client environment of its own: a local store path and credential
   * files the daemon never sees. */
  const gantry = (args: string[], env: Record<string, string> = {}): RunResult => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(repo, "src/cli/gantry/main.ts"), "-H", `unix://${d.socket}`, ...args], {
      encoding: "utf8",
      cwd: repo,
      timeout: 120_000,
      env: { ...process.env, GANTRY_ROOT: join(work, "client-root"), GANTRY_AUTH_FILE: join(work, "no-auth.json"), DOCKER_CONFIG: join(work, "no-docker-config"), ...env },
    });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "gantry-images-"));
    [reg, authReg] = await Promise.all([startRegistry(), startRegistry({ basic: { alice: "s3cret" } })]);
    // The registry gets an image from a store of its own (not the daemon's).
    const seed = join(work, "seed");
    await makeBusyboxImage(seed, "seed/bb:1");
    await pushImage(new ImageStore(seed), "seed/bb:1", `${reg.host}/test/bb:1`);
  });
  after(async () => {
    await Promise.all([reg?.stop(), authReg?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it("pull lands in the daemon's store, images lists it, run runs it with no second pull", () => {
    const image = `${reg.host}/test/bb:1`;
    const pull = gantry(["pull", image]);
    assert.equal(pull.status, 0, pull.stderr);
    const refs = JSON.parse(readFileSync(join(d.root, "refs.json"), "utf8")) as { refs: Record<string, unknown> };
    assert.ok(refs.refs[image], `the daemon's store names ${image}`);
    assert.equal(existsSync(join(work, "client-root", "refs.json")), false, "nothing was written to a local store");

    const images = gantry(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert.equal(images.status, 0, images.stderr);
    assert.ok(images.stdout.split("\n").includes(image), images.stdout);

    // The exit code can only come from a container of that image.
    const run = gantry(["run", "--rm", image, "sh", "-c", "test -x /bin/busybox && exit 7"]);
    assert.equal(run.status, 7, run.stderr);
    assert.doesNotMatch(run.stderr, /Unable to find image/);

    // Not a terminal: plain lines, one per layer and status, then the name.
    assert.match(pull.stdout, /^[0-9a-f]{12}: Pull complete$/m);
    assert.match(pull.stdout, /^Status: Downloaded newer image for /m);
    assert.equal(pull.stdout.trim().split("\n").at(-1), image);
  });

  it("on a terminal, pull draws a progress bar per layer", () => {
    const image = `${reg.host}/test/bb:1`;
    assert.equal(gantry(["rmi", image]).status, 0);
    gantry(["image", "prune"]);
    // script(1) gives the CLI a pseudo-terminal as stdout.
    const cli = [process.execPath, "--import", "tsx", join(repo, "src/cli/gantry/main.ts"), "-H", `unix://${d.socket}`, "pull", image].map((a) => `'${a}'`).join(" ");
    const r = spawnSync("script", ["-qec", cli, "/dev/null"], { encoding: "utf8", cwd: repo, timeout: 120_000, env: { ...process.env, GANTRY_AUTH_FILE: join(work, "no-auth.json") } });
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /1: Pulling from test\/bb\r?\n/);
    assert.match(r.stdout, /[0-9a-f]{12}: (Download complete|Pull complete) \[█+\] [\d.]+[kM]B\/[\d.]+[kM]B/);
    assert.match(r.stdout, /Status: Downloaded newer image for /);
  });

  it("the pull stream is Docker's JSON progress; an unknown image is a 404 before any stream", async () => {
    const post = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ socketPath: d.socket, method: "POST", path, headers, agent: false }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
    // rmi first, so the layers are fetched again and their progress is reported.
    assert.equal(gantry(["rmi", `${reg.host}/test/bb:1`]).status, 0);
    gantry(["image", "prune"]);
    const r = await post(`/v1.50/images/create?fromImage=${encodeURIComponent(`${reg.host}/test/bb`)}&tag=1`);
    assert.equal(r.status, 200);
    const lines = r.body.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines[0], { status: "Pulling from test/bb", id: "1" });
    const layer = lines.find((l) => l.status === "Pull complete");
    assert.match(String(layer?.id), /^[0-9a-f]{12}$/);
    assert.ok(lines.some((l) => l.status === "Downloading" || l.status === "Download complete"));
    for (const l of lines.filter((x) => x.status === "Downloading")) {
      const detail = l.progressDetail as { current: number; total: number };
      assert.ok(detail.current > 0 && detail.current <= detail.total);
      assert.match(String(l.progress), /^\[=*>? *\] /);
    }
    assert.match(String(lines.at(-1)?.status), /^Status: Downloaded newer image for /);

    const missing = await post(`/v1.50/images/create?fromImage=${encodeURIComponent(`${reg.host}/test/nothing`)}&tag=here`);
    assert.equal(missing.status, 404, missing.body);
    assert.match(JSON.parse(missing.body).message, /MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/i);
    const cli = gantry(["pull", `${reg.host}/test/nothing:here`]);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /gantry: Error response from daemon: /);
  });

  it("push and pull carry the client's credentials; the daemon has none of its own", () => {
    const target = `${authReg.host}/private/bb:2`;
    assert.equal(gantry(["tag", "busybox", target]).status, 0);
    const anonymous = gantry(["push", target]);
    assert.equal(anonymous.status, 1, "a push without credentials fails");
    assert.match(anonymous.stderr, /needs credentials|refused|unauthorized/i);

    // `gantry login` stores them on the client's side only.
    const auth = { GANTRY_AUTH_FILE: join(work, "auth.json") };
    const login = gantry(["login", "-u", "alice", "-p", "s3cret", authReg.host], auth);
    assert.equal(login.status, 0, login.stderr);
    const push = gantry(["push", target], auth);
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stdout, /^The push refers to repository \[/m);
    assert.match(push.stdout, /^[0-9a-f]{12}: Pushed$/m);
    assert.match(push.stdout, /^2: digest: sha256:[0-9a-f]{64} size: \d+$/m);

    // The real docker CLI: `docker login` has the daemon check the credentials (POST /auth)
    // and keeps them in its own config.json, which it then sends with the pull.
    assert.equal(gantry(["rmi", target]).status, 0);
    const wrong = docker(d, ["login", "-u", "alice", "--password-stdin", authReg.host], { input: "wrong\n" });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /Error response from daemon: .*(401|refused)/);
    const dockerLogin = docker(d, ["login", "-u", "alice", "--password-stdin", authReg.host], { input: "s3cret\n" });
    assert.equal(dockerLogin.status, 0, dockerLogin.stderr);
    assert.match(dockerLogin.stdout, /Login Succeeded/);
    assert.ok(readFileSync(join(d.dir, "docker-config", "config.json"), "utf8").includes(authReg.host));
    const pulled = docker(d, ["pull", target], { timeoutMs: 120_000 });
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Pull complete|Already exists/);
    assert.match(gantry(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout, new RegExp(`^${target.replace(/[.]/g, "\\.")}$`, "m"));
  });
});
