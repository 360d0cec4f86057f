// Issue 15, compose end to end: Debian's docker-compose (1.29, docker-py) drives `gantry
// daemon` through DOCKER_HOST as a user would — `up -d` of a three-service app (a user
// network with aliases and its own subnet, a named volume, a port published on 127.0.0.1,
// environment, deploy.resources.limits, depends_on a service being healthy), ps, logs,
// `logs -f` that ends when its container stops, `exec -T`, `run --rm`, port, top, pause,
// kill, `up --scale`, restart, stop, a second `up -d` that recreates nothing, `down -v` that
// leaves no container, network or volume; a CI-style `up --abort-on-container-exit
// --exit-code-from` with a legacy link on the default bridge; and a `build:` section
// through POST /build. Traffic stays on loopback and inside the test's own containers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { bridgeSkipReason, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon, type RunResult } from "../engine/_daemon.ts";

// Subnets, devices and the port unique to this file (10.247.8[0-2].0/24 is used by no other test).
const DEFAULT_BRIDGE = { bridge: "gtcp80", subnet: "10.247.80.0/24" };
const FRONT = { subnet: "10.247.81.0/24", bridge: "gtcp81" };
const BUILT = { subnet: "10.247.82.0/24", bridge: "gtcp82" };
const WEB_PORT = 18781;
const COMPOSE = "/usr/bin/docker-compose";

const skip = bridgeSkipReason(/^10\.247\.8[0-2]\./m, "10.247.80-82.0/24") ?? (existsSync(COMPOSE) ? undefined : `${COMPOSE} is not installed (apt-get install docker-compose)`);

// A shell loop that ends at once on SIGTERM (a `sleep` as pid 1 would wait for the SIGKILL).
const idle = (first: string) => ["sh", "-c", `${first}; trap 'exit 0' TERM; while true; do sleep 1; done`];

// The Compose Specification (no `version`): depends_on with conditions and deploy limits.
const APP = {
  services: {
    web: {
      image: "busybox:latest",
      // Serving only after a second: the worker, started once web is healthy, reaches it at once.
      command: ["sh", "-c", "sleep 1; mkdir -p /www && echo hello-$$GREETING > /www/index.html && exec httpd -f -p 8080 -h /www"],
      healthcheck: { test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], interval: "500ms", timeout: "5s", retries: 60 },
      environment: { GREETING: "compose" },
      ports: [`127.0.0.1:${WEB_PORT}:8080`],
      networks: { front: { aliases: ["frontdoor"] } },
      deploy: { resources: { limits: { memory: "64M", cpus: "0.5" } } },
    },
    store: {
      image: "busybox:latest",
      command: idle("echo stored-$$HOSTNAME >> /data/log; echo store-started"),
      volumes: ["data:/data"],
      networks: ["front"],
    },
    worker: {
      image: "busybox:latest",
      // One try, no retry: it only succeeds if web already serves when the worker starts.
      command: idle("wget -q -O - http://frontdoor:8080/ && echo worker-reached-web"),
      depends_on: { web: { condition: "service_healthy" }, store: { condition: "service_started" } },
      networks: ["front"],
    },
  },
  networks: { front: { ipam: { config: [{ subnet: FRONT.subnet }] }, driver_opts: { "com.docker.network.bridge.name": FRONT.bridge } } },
  volumes: { data: {} },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function httpGet(port: number): Promise<string> {
  return new Promise((res, rej) => {
    const req = get({ host: "127.0.0.1", port, path: "/", timeout: 5000 }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => (body += c));
      r.on("end", () => res(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", rej);
  });
}

describe("issue 15: docker-compose against gantry daemon", { skip }, () => {
  const d = newDaemonDirs();
  const appDir = join(d.dir, "app");
  const buildDir = join(d.dir, "built");
  const env = () => ({ ...process.env, DOCKER_HOST: `unix://${d.socket}`, DOCKER_CONFIG: join(d.dir, "docker-config") });

  /** docker-compose in `dir` with project `project`. */
  const compose = (dir: string, project: string, args: string[], timeoutMs = 120_000): RunResult => {
    const r = spawnSync(COMPOSE, ["--ansi", "never", "-p", project, ...args], { cwd: dir, encoding: "utf8", timeout: timeoutMs, killSignal: "SIGKILL", env: env() });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const app = (args: string[], timeoutMs?: number) => compose(appDir, "gtapp", args, timeoutMs);
  const ok = (r: RunResult, what: string) => assert.equal(r.status, 0, `${what}: ${r.stdout}${r.stderr}`);
  const ids = (project: string) => docker(d, ["ps", "-aq", "--no-trunc", "--filter", `label=com.docker.compose.project=${project}`]).stdout.split("\n").filter(Boolean).sort();
  const state = (name: string) => docker(d, ["inspect", "-f", "{{.State.Status}}", name]).stdout.trim();

  before(async () => {
    mkdirSync(appDir, { recursive: true });
    // YAML is a superset of JSON: the compose file is written as JSON.
    writeFileSync(join(appDir, "docker-compose.yml"), JSON.stringify(APP, null, 2));
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, DEFAULT_BRIDGE);
  });

  after(async () => {
    if (d.child && d.child.exitCode === null) {
      compose(appDir, "gtapp", ["down", "-v", "-t", "1"], 60_000);
      if (existsSync(buildDir)) compose(buildDir, "gtbuilt", ["down", "-v", "-t", "1", "--rmi", "all"], 60_000);
      if (existsSync(join(d.dir, "ci"))) compose(join(d.dir, "ci"), "gtci", ["down", "-t", "1"], 60_000);
    }
    await cleanup(d);
    for (const b of [FRONT.bridge, BUILT.bridge]) spawnSync("ip", ["link", "del", b], { stdio: "ignore" });
  });

  it("up -d starts the app: network with aliases, named volume, published port, environment, limits", async () => {
    ok(app(["up", "-d"]), "up -d");
    for (const s of ["web", "store", "worker"]) assert.equal(state(`gtapp_${s}_1`), "running", s);
    const net = JSON.parse(docker(d, ["network", "inspect", "gtapp_front"]).stdout) as Array<{ IPAM: { Config: Array<{ Subnet: string }> }; Labels: Record<string, string> }>;
    assert.equal(net[0]!.IPAM.Config[0]!.Subnet, FRONT.subnet);
    assert.equal(net[0]!.Labels["com.docker.compose.network"], "front");
    assert.match(docker(d, ["volume", "ls", "-q"]).stdout, /^gtapp_data$/m);
    // The port on loopback, the environment in the served page.
    const page = await until("the published port", () => httpGet(WEB_PORT).catch(() => undefined));
    assert.equal(page.trim(), "hello-compose");
    // up waited for web's health check; the worker then found web by its network alias.
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Health.Status}}", "gtapp_web_1"]).stdout.trim(), "healthy");
    await until("the worker to reach web", () => /worker-reached-web/.test(app(["logs", "worker"]).stdout) || undefined);
    // deploy.resources.limits, as dockerd records them.
    assert.equal(docker(d, ["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "gtapp_web_1"]).stdout.trim(), "67108864 500000000");
    const aliases = docker(d, ["inspect", "-f", "{{json .NetworkSettings.Networks.gtapp_front.Aliases}}", "gtapp_web_1"]).stdout;
    assert.ok((JSON.parse(aliases) as string[]).includes("frontdoor"), aliases);
  });

  it("ps lists the services, logs shows their output, exec -T runs in a service", () => {
    const ps = app(["ps"]);
    ok(ps, "ps");
    for (const s of ["web", "store", "worker"]) assert.match(ps.stdout, new RegExp(`gtapp_${s}_1 .* Up`), ps.stdout);
    assert.match(ps.stdout, new RegExp(`127\\.0\\.0\\.1:${WEB_PORT}->8080/tcp`));
    const logs = app(["logs", "store"]);
    ok(logs, "logs");
    assert.match(logs.stdout, /store_1 +\| store-started/);
    const ex = app(["exec", "-T", "store", "cat", "/data/log"]);
    ok(ex, "exec -T");
    assert.match(ex.stdout, /^stored-/m);
    const failed = app(["exec", "-T", "store", "sh", "-c", "exit 3"]);
    assert.equal(failed.status, 3, "exec passes the exit code on");
  });

  it("run --rm runs a one-off container on the project's network and volume, then removes it", () => {
    const before = ids("gtapp");
    const r = app(["run", "--rm", "-T", "store", "sh", "-c", "wget -q -O - http://frontdoor:8080/ && cat /data/log"]);
    ok(r, "run --rm");
    assert.match(r.stdout, /hello-compose/);
    assert.match(r.stdout, /^stored-/m);
    assert.deepEqual(ids("gtapp"), before, "the one-off container is gone");
  });

  it("port, top, pause, unpause and kill act on a service", () => {
    assert.equal(app(["port", "web", "8080"]).stdout.trim(), `127.0.0.1:${WEB_PORT}`);
    assert.match(app(["top", "web"]).stdout, /httpd -f -p 8080/);
    ok(app(["pause", "web"]), "pause");
    assert.equal(state("gtapp_web_1"), "paused");
    ok(app(["unpause", "web"]), "unpause");
    assert.equal(state("gtapp_web_1"), "running");
    ok(app(["kill", "-s", "SIGKILL", "worker"]), "kill");
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "gtapp_worker_1"]).stdout.trim(), "exited 137");
    ok(app(["up", "-d", "worker"]), "up -d worker");
    assert.equal(state("gtapp_worker_1"), "running");
  });

  it("a second up -d recreates nothing", () => {
    const before = ids("gtapp");
    const r = app(["up", "-d"]);
    ok(r, "second up -d");
    assert.doesNotMatch(r.stdout + r.stderr, /Recreating|Creating/, r.stdout + r.stderr);
    assert.deepEqual(ids("gtapp"), before);
  });

  it("up --scale adds a replica; restart and stop act on every service", async () => {
    ok(app(["up", "-d", "--scale", "store=2"]), "up --scale");
    assert.equal(state("gtapp_store_2"), "running");
    assert.equal(ids("gtapp").length, 4);
    // Both replicas share the named volume.
    await until("the second replica's line in the volume", () => (app(["exec", "-T", "--index=2", "store", "cat", "/data/log"]).stdout.match(/^stored-/gm)?.length ?? 0) >= 2 || undefined);
    const started = docker(d, ["inspect", "-f", "{{.State.StartedAt}}", "gtapp_store_2"]).stdout.trim();
    ok(app(["restart", "-t", "5"]), "restart");
    for (const s of ["web_1", "store_1", "store_2", "worker_1"]) assert.equal(state(`gtapp_${s}`), "running", s);
    assert.notEqual(docker(d, ["inspect", "-f", "{{.State.StartedAt}}", "gtapp_store_2"]).stdout.trim(), started, "store_2 was restarted");
    ok(app(["stop", "-t", "5"]), "stop");
    for (const s of ["web_1", "store_1", "store_2", "worker_1"]) assert.equal(state(`gtapp_${s}`), "exited", s);
    const ps = app(["ps"]);
    assert.match(ps.stdout, /gtapp_store_1 .* Exit 0/, ps.stdout);
  });

  it("logs -f follows a service and ends when its container stops", async () => {
    ok(app(["start", "store"]), "start store");
    const follower = spawn(COMPOSE, ["--ansi", "never", "-p", "gtapp", "logs", "-f", "--tail=5", "store"], { cwd: appDir, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    follower.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const ended = new Promise<number | null>((r) => follower.on("exit", (code) => r(code)));
    try {
      await until("logs -f to print the service's output", () => /store-started/.test(out) || undefined);
      ok(app(["stop", "-t", "5", "store"]), "stop store");
      const code = await Promise.race([ended, sleep(60_000).then(() => "still running")]);
      assert.equal(code, 0, `logs -f did not end by itself: ${out}`);
    } finally {
      follower.kill("SIGKILL");
    }
  });

  it("down -v removes the containers, the network and the volume", () => {
    ok(app(["down", "-v", "-t", "1"]), "down -v");
    assert.deepEqual(ids("gtapp"), []);
    assert.doesNotMatch(docker(d, ["network", "ls"]).stdout, /gtapp_/);
    assert.doesNotMatch(docker(d, ["volume", "ls"]).stdout, /gtapp_/);
    assert.equal(spawnSync("ip", ["link", "show", FRONT.bridge], { stdio: "ignore" }).status, 1, "the network's bridge is gone");
  });

  it("up --abort-on-container-exit --exit-code-from: a CI run on the default bridge with a legacy link", () => {
    const dir = join(d.dir, "ci");
    mkdirSync(dir, { recursive: true });
    const file = {
      services: {
        web: { image: "busybox:latest", command: ["httpd", "-f", "-p", "80", "-h", "/etc"], network_mode: "bridge" },
        tester: {
          image: "busybox:latest",
          command: ["sh", "-c", "wget -q -O - http://site/hostname && echo tester-passed; exit 3"],
          network_mode: "bridge",
          links: ["web:site"],
        },
      },
    };
    writeFileSync(join(dir, "docker-compose.yml"), JSON.stringify(file, null, 2));
    const r = compose(dir, "gtci", ["up", "--abort-on-container-exit", "--exit-code-from", "tester"]);
    assert.equal(r.status, 3, `the tester's exit code: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /tester-passed/);
    assert.equal(state("gtci_web_1"), "exited", "the other services are stopped");
    ok(compose(dir, "gtci", ["down", "-t", "1"]), "down");
    assert.deepEqual(ids("gtci"), []);
  });

  it("a build: section builds the image through POST /build and runs it", () => {
    mkdirSync(join(buildDir, "img"), { recursive: true });
    writeFileSync(
      join(buildDir, "img", "Dockerfile"),
      ["FROM busybox:latest", "RUN echo built-by-compose > /built.txt", 'CMD ["sh", "-c", "cat /built.txt; trap \'exit 0\' TERM; while true; do sleep 1; done"]', ""].join("\n"),
    );
    const file = {
      services: { app: { build: "./img", image: "gtbuilt-app:latest" } },
      networks: { default: { ipam: { config: [{ subnet: BUILT.subnet }] }, driver_opts: { "com.docker.network.bridge.name": BUILT.bridge } } },
    };
    writeFileSync(join(buildDir, "docker-compose.yml"), JSON.stringify(file, null, 2));
    const up = compose(buildDir, "gtbuilt", ["up", "-d", "--build"]);
    ok(up, "up --build");
    assert.match(up.stdout + up.stderr, /Successfully tagged gtbuilt-app:latest/);
    assert.equal(state("gtbuilt_app_1"), "running");
    assert.match(docker(d, ["exec", "gtbuilt_app_1", "cat", "/built.txt"]).stdout, /built-by-compose/);
    ok(compose(buildDir, "gtbuilt", ["down", "-v", "-t", "1", "--rmi", "all"]), "down --rmi all");
    assert.equal(docker(d, ["image", "inspect", "gtbuilt-app:latest"]).status, 1, "the built image is removed");
    assert.deepEqual(ids("gtbuilt"), []);
  });
});
