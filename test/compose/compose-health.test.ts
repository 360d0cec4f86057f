// Issue 15, health checks under compose: Debian's docker-compose (1.29) against `gantry
// daemon`. A service's `healthcheck:` becomes Config.Healthcheck, and `depends_on:` with
// `condition: service_healthy` starts the dependent service only once Gantry reports the
// dependency healthy; a dependency that turns unhealthy fails `up` with compose's message.
// No networking: every service runs with `network_mode: none`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, docker, skipReason, useTestDaemon, type RunResult } from "../engine/_daemon.ts";

const COMPOSE = "/usr/bin/docker-compose";
const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`) ?? (existsSync(COMPOSE) ? undefined : `${COMPOSE} is not installed (apt-get install docker-compose)`);

// A shell loop that ends at once on SIGTERM; `first` runs before it.
const idle = (first: string) => ["sh", "-c", `${first}; trap 'exit 0' TERM; while true; do sleep 1; done`];

const APP = {
  version: "2.4",
  services: {
    // Ready a moment after it starts: the check fails until /ready exists.
    db: {
      image: "busybox:latest",
      command: idle("sleep 2; touch /ready"),
      network_mode: "none",
      healthcheck: { test: ["CMD", "test", "-e", "/ready"], interval: "300ms", timeout: "5s", retries: 30 },
    },
    app: { image: "busybox:latest", command: idle("true"), network_mode: "none", depends_on: { db: { condition: "service_healthy" } } },
    broken: { image: "busybox:latest", command: idle("true"), network_mode: "none", healthcheck: { test: "exit 1", interval: "300ms", retries: 2 } },
    needsbroken: { image: "busybox:latest", command: idle("true"), network_mode: "none", depends_on: { broken: { condition: "service_healthy" } } },
  },
};

describe("issue 15: docker-compose depends_on service_healthy against gantry daemon", { skip, concurrency: false }, () => {
  const d = useTestDaemon();
  const compose = (args: string[]): RunResult => {
    const dir = join(d.dir, "health-app");
    mkdirSync(dir, { recursive: true });
    // YAML is a superset of JSON: the compose file is written as JSON.
    writeFileSync(join(dir, "docker-compose.yml"), JSON.stringify(APP, null, 2));
    const r = spawnSync(COMPOSE, ["--ansi", "never", "-p", "gthealth", ...args], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
      killSignal: "SIGKILL",
      env: { ...process.env, DOCKER_HOST: `unix://${d.socket}`, DOCKER_CONFIG: join(d.dir, "docker-config") },
    });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const inspect = (name: string) => JSON.parse(docker(d, ["inspect", name]).stdout)[0] as { Config: { Healthcheck?: unknown }; State: { Status: string; StartedAt: string; Health?: { Status: string; Log: { End: string; ExitCode: number }[] } } };

  it("up starts a service only once the one it depends on is healthy", () => {
    const up = compose(["up", "-d", "app"]);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    const db = inspect("gthealth_db_1");
    assert.deepEqual(db.Config.Healthcheck, { Test: ["CMD", "test", "-e", "/ready"], Interval: 300_000_000, Timeout: 5_000_000_000, Retries: 30 });
    assert.equal(db.State.Health?.Status, "healthy");
    const app = inspect("gthealth_app_1");
    assert.equal(app.State.Status, "running");
    // The db failed its check until /ready existed; the app started after its first success.
    const log = db.State.Health!.Log;
    const firstHealthy = log.find((e) => e.ExitCode === 0)!;
    assert.ok(Date.parse(app.State.StartedAt) >= Date.parse(firstHealthy.End), `app started ${app.State.StartedAt}, db healthy at ${firstHealthy.End}`);
    const ps = compose(["ps"]);
    assert.match(ps.stdout, /gthealth_db_1 .*Up \(healthy\)/, ps.stdout);
  });

  it("a dependency that turns unhealthy fails up with compose's message", () => {
    const up = compose(["up", "-d", "needsbroken"]);
    assert.notEqual(up.status, 0, up.stdout + up.stderr);
    assert.match(up.stderr, /is unhealthy/);
    assert.equal(inspect("gthealth_broken_1").State.Health?.Status, "unhealthy");
    // compose waits for the dependency before it creates the dependent service's container.
    assert.equal(docker(d, ["ps", "-aq", "--filter", "name=gthealth_needsbroken"]).stdout.trim(), "");
  });

  it("down removes everything", () => {
    const down = compose(["down", "-t", "1"]);
    assert.equal(down.status, 0, down.stdout + down.stderr);
    assert.equal(docker(d, ["ps", "-aq", "--filter", "label=com.docker.compose.project=gthealth"]).stdout.trim(), "");
  });
});
