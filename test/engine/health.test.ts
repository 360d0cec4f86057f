// Health checks through the real docker CLI against `gantry daemon`: --health-* flags and an
// image's HEALTHCHECK (built by `docker build`, Gantry's builder), probes run as execs in the
// container, State.Health in inspect, the ps Status suffix, --filter health=, health_status
// events, a timeout that kills the probe, --no-healthcheck, Docker's 400s for bad input, and
// the health a restarted daemon still reports.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { api, DOCKER, docker, gantry, killDaemon, skipReason, startTestDaemon, useTestDaemon, type TestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

function health(d: TestDaemon, name: string): Health | null {
  const r = docker(d, ["inspect", "-f", "{{json .State.Health}}", name]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Health | null;
}

/** Polls until `ok` holds for the container's health (probes run on their own schedule). */
async function waitForHealth(d: TestDaemon, name: string, ok: (h: Health) => boolean, what: string): Promise<Health> {
  const deadline = Date.now() + 60_000;
  let last: Health | null = null;
  while (Date.now() < deadline) {
    last = health(d, name);
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name}: ${what} did not happen; health is ${JSON.stringify(last)}; daemon log: ${d.log.join("").slice(-2000)}`);
}

const run = (d: TestDaemon, args: string[]) => {
  const r = docker(d, ["run", "-d", ...args]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

const psNames = (d: TestDaemon, ...filters: string[]) => {
  const r = docker(d, ["ps", "-a", ...filters.flatMap((f) => ["--filter", f]), "--format", "{{.Names}}"]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean).sort();
};

describe("health checks through the docker CLI", { skip, concurrency: false }, () => {
  const d = useTestDaemon();
  const since = String(Math.floor(Date.now() / 1000) - 1);

  it("a passing check turns healthy: State.Health, the ps suffix, the filter, the event", async () => {
    run(d, ["--name", "good", "--health-cmd", "echo ok from $HOSTNAME", "--health-interval", "300ms", "busybox", "sleep", "300"]);
    run(d, ["--name", "plain", "busybox", "sleep", "300"]);
    const h = await waitForHealth(d, "good", (x) => x.Status === "healthy", "healthy");
    assert.equal(h.FailingStreak, 0);
    const entry = h.Log.at(-1)!;
    assert.equal(entry.ExitCode, 0);
    const hostname = docker(d, ["inspect", "-f", "{{.Config.Hostname}}", "good"]).stdout.trim();
    assert.equal(entry.Output, `ok from ${hostname}\n`, "the probe runs in the container, with its environment");
    assert.ok(Date.parse(entry.End) >= Date.parse(entry.Start));
    assert.deepEqual(JSON.parse(docker(d, ["inspect", "-f", "{{json .Config.Healthcheck}}", "good"]).stdout), { Test: ["CMD-SHELL", "echo ok from $HOSTNAME"], Interval: 300_000_000 });
    assert.equal(health(d, "plain"), null, "no check, no State.Health");
    assert.match(docker(d, ["ps", "--filter", "name=good", "--format", "{{.Status}}"]).stdout, /^Up .* \(healthy\)\n$/);
    assert.doesNotMatch(docker(d, ["ps", "--filter", "name=plain", "--format", "{{.Status}}"]).stdout, /\(/);
    assert.deepEqual(psNames(d, "health=healthy"), ["good"]);
    assert.ok(psNames(d, "health=none").includes("plain"));
    assert.ok(!psNames(d, "health=none").includes("good"));
    const ev = docker(d, ["events", "--since", since, "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=good", "--filter", "event=health_status", "--format", "{{.Action}}"]);
    assert.equal(ev.status, 0, ev.stderr);
    assert.equal(ev.stdout, "health_status: healthy\n", "one event for the one change");
    // The probes leave no exec instances behind.
    assert.equal(docker(d, ["inspect", "-f", "{{json .ExecIDs}}", "good"]).stdout.trim(), "null");
  });

  it("a failing check turns unhealthy after its retries; the streak counts on; stop ends it", async () => {
    run(d, ["--name", "bad", "--health-cmd", "echo down >&2; exit 3", "--health-interval", "300ms", "--health-retries", "2", "busybox", "sleep", "300"]);
    const starting = health(d, "bad");
    assert.ok(starting && ["starting", "unhealthy"].includes(starting.Status));
    const h = await waitForHealth(d, "bad", (x) => x.Status === "unhealthy", "unhealthy");
    assert.ok(h.FailingStreak >= 2, `FailingStreak ${h.FailingStreak}`);
    assert.deepEqual(h.Log.at(-1)!.ExitCode, 3);
    assert.equal(h.Log.at(-1)!.Output, "down\n", "stderr is collected too");
    const later = await waitForHealth(d, "bad", (x) => x.FailingStreak > h.FailingStreak + 1 && x.Log.length === 5, "more failures");
    assert.equal(later.Status, "unhealthy");
    assert.match(docker(d, ["ps", "--filter", "name=bad", "--format", "{{.Status}}"]).stdout, /\(unhealthy\)/);
    assert.ok(psNames(d, "health=unhealthy").includes("bad"));
    assert.ok(!psNames(d, "health=healthy").includes("bad"));
    const ev = docker(d, ["events", "--since", since, "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=bad", "--filter", "event=health_status", "--format", "{{.Action}}"]);
    assert.equal(ev.stdout, "health_status: unhealthy\n");
    assert.equal(docker(d, ["stop", "-t", "1", "bad"]).status, 0);
    const stopped = health(d, "bad")!;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(health(d, "bad")!.FailingStreak, stopped.FailingStreak, "no probe runs once the container stopped");
    assert.equal(stopped.Status, "unhealthy", "dockerd reports a stopped check unhealthy");
  });

  it("a probe past its timeout is killed and counts as a failure", async () => {
    run(d, ["--name", "slow", "--health-cmd", "sleep 77", "--health-timeout", "500ms", "--health-interval", "300ms", "--health-retries", "1", "busybox", "sleep", "300"]);
    const h = await waitForHealth(d, "slow", (x) => x.Status === "unhealthy", "unhealthy by timeout");
    assert.deepEqual([h.Log[0]!.ExitCode, h.Log[0]!.Output], [-1, "Health check exceeded timeout (500ms)"]);
    // The timed-out probes were killed: none of them is still running in the container.
    const top = docker(d, ["top", "slow"]);
    assert.equal(top.status, 0, top.stderr);
    const sleeping = top.stdout.split("\n").filter((l) => /sleep 77/.test(l));
    assert.ok(sleeping.length <= 1, `timed-out probes left running:\n${top.stdout}`);
  });

  it("a long interval shows health: starting", () => {
    run(d, ["--name", "early", "--health-cmd", "true", "--health-interval", "1h", "busybox", "sleep", "300"]);
    assert.deepEqual(health(d, "early"), { Status: "starting", FailingStreak: 0, Log: [] });
    assert.match(docker(d, ["ps", "--filter", "name=early", "--format", "{{.Status}}"]).stdout, /\(health: starting\)/);
    assert.deepEqual(psNames(d, "health=starting"), ["early"]);
  });

  it("the image's HEALTHCHECK (from docker build) is used; --no-healthcheck turns it off", async () => {
    const ctx = join(d.dir, "hc-context");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), "FROM busybox\nHEALTHCHECK --interval=300ms --timeout=5s --retries=2 CMD test -e /ready || exit 1\n");
    const b = docker(d, ["build", "-q", "-t", "hc-image", ctx], { env: { DOCKER_BUILDKIT: "0" } });
    assert.equal(b.status, 0, b.stderr);
    const cfg = JSON.parse(docker(d, ["image", "inspect", "-f", "{{json .Config.Healthcheck}}", "hc-image"]).stdout);
    assert.deepEqual(cfg, { Test: ["CMD-SHELL", "test -e /ready || exit 1"], Interval: 300_000_000, Timeout: 5_000_000_000, Retries: 2 });
    run(d, ["--name", "fromimage", "hc-image", "sleep", "300"]);
    await waitForHealth(d, "fromimage", (x) => x.Status === "unhealthy" && x.FailingStreak >= 2, "unhealthy from the image's check");
    assert.equal(docker(d, ["exec", "fromimage", "touch", "/ready"]).status, 0);
    await waitForHealth(d, "fromimage", (x) => x.Status === "healthy", "healthy once /ready exists");
    // A flag overrides one field; the rest comes from the image.
    run(d, ["--name", "retuned", "--health-retries", "7", "hc-image", "sleep", "300"]);
    assert.deepEqual(JSON.parse(docker(d, ["inspect", "-f", "{{json .Config.Healthcheck}}", "retuned"]).stdout), { ...cfg, Retries: 7 });
    // docker commit --change sets one too, in the same forms.
    const committed = docker(d, ["commit", "--change", "HEALTHCHECK --interval=2s --retries=5 CMD [\"test\", \"-e\", \"/ready\"]", "fromimage", "hc-committed"]);
    assert.equal(committed.status, 0, committed.stderr);
    assert.deepEqual(JSON.parse(docker(d, ["image", "inspect", "-f", "{{json .Config.Healthcheck}}", "hc-committed"]).stdout), { Test: ["CMD", "test", "-e", "/ready"], Interval: 2e9, Retries: 5 });
    const badChange = docker(d, ["commit", "--change", "HEALTHCHECK BOGUS x", "fromimage", "hc-bad"]);
    assert.notEqual(badChange.status, 0);
    assert.match(badChange.stderr, /Unknown type "BOGUS" in HEALTHCHECK \(try CMD\)/);
    run(d, ["--name", "nocheck", "--no-healthcheck", "hc-image", "sleep", "300"]);
    assert.deepEqual(JSON.parse(docker(d, ["inspect", "-f", "{{json .Config.Healthcheck}}", "nocheck"]).stdout).Test, ["NONE"]);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(health(d, "nocheck"), null, "no check runs");
    assert.ok(psNames(d, "health=none").includes("nocheck"));
  });

  it("gantry's own run and ps speak the same flags and filter", async () => {
    const r = gantry(d, ["run", "-d", "--name", "own", "--health-cmd", "test -d /proc/1", "--health-interval", "300ms", "busybox", "sleep", "300"]);
    assert.equal(r.status, 0, r.stderr);
    await waitForHealth(d, "own", (x) => x.Status === "healthy", "healthy");
    const ps = gantry(d, ["ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"]);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^own Up .* \(healthy\)$/m);
    assert.doesNotMatch(ps.stdout, /^plain /m);
    const conflict = gantry(d, ["run", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox"]);
    assert.notEqual(conflict.status, 0);
    assert.match(conflict.stderr, /--no-healthcheck conflicts with --health-\* options/);
  });

  it("pause stops the check (unhealthy, as dockerd says); unpause resumes it", async () => {
    await waitForHealth(d, "own", (x) => x.Status === "healthy", "healthy");
    assert.equal(docker(d, ["pause", "own"]).status, 0);
    const paused = health(d, "own")!;
    assert.equal(paused.Status, "unhealthy");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(health(d, "own")!.Log.at(-1)!.Start, paused.Log.at(-1)!.Start, "no probe while paused");
    assert.equal(docker(d, ["unpause", "own"]).status, 0);
    await waitForHealth(d, "own", (x) => x.Status === "healthy" && x.Log.at(-1)!.Start !== paused.Log.at(-1)!.Start, "healthy again");
  });

  it("bad input gets Docker's 400s, and nothing is created", async () => {
    const create = (hc: unknown) => api(d, "POST", "/containers/create?name=refused", { Image: "busybox", Cmd: ["true"], Healthcheck: hc });
    for (const [hc, message] of [
      [{ Test: ["CMD-SHELL", "true"], Interval: -5 }, "Interval in Healthcheck cannot be less than 1ms"],
      [{ Test: ["CMD-SHELL", "true"], Timeout: 10 }, "Timeout in Healthcheck cannot be less than 1ms"],
      [{ Test: ["CMD-SHELL", "true"], Retries: -1 }, "Retries in Healthcheck cannot be negative"],
      [{ Test: ["BOGUS", "true"] }, 'unknown Healthcheck Test type "BOGUS": use ["CMD", ...], ["CMD-SHELL", command] or ["NONE"]'],
    ] as const) {
      const r = await create(hc);
      assert.equal(r.status, 400, r.body);
      assert.equal((JSON.parse(r.body) as { message: string }).message, message);
    }
    assert.notEqual(docker(d, ["inspect", "refused"]).status, 0);
    const cli = docker(d, ["run", "-d", "--health-interval", "-1s", "busybox", "true"]);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /--health-interval cannot be negative/);
    const ps = docker(d, ["ps", "--filter", "health=bogus"]);
    assert.notEqual(ps.status, 0);
    assert.match(ps.stderr, /invalid filter 'health=bogus': invalid value for health \(bogus\): must be one of none, starting, healthy, unhealthy/);
    const build = join(d.dir, "bad-hc");
    mkdirSync(build, { recursive: true });
    writeFileSync(join(build, "Dockerfile"), "FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n");
    const b = docker(d, ["build", "-q", build], { env: { DOCKER_BUILDKIT: "0" } });
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, /Dockerfile line 2: --retries cannot be negative \(-1\)/);
  });

  it("a restarted daemon keeps State.Health and goes on probing", async () => {
    const before = await waitForHealth(d, "good", (x) => x.Status === "healthy" && x.Log.length >= 2, "healthy");
    await killDaemon(d);
    await startTestDaemon(d);
    const kept = health(d, "good")!;
    assert.equal(kept.Status, "healthy");
    assert.ok(kept.Log.length >= before.Log.length);
    assert.ok(kept.Log.some((e) => e.Start === before.Log.at(-1)!.Start), "the Log from before the restart is there");
    const lastBefore = Date.parse(kept.Log.at(-1)!.Start);
    await waitForHealth(d, "good", (x) => Date.parse(x.Log.at(-1)!.Start) > lastBefore, "a probe after the restart");
  });
});

describe("health checks with --runtime runc (probes through `runc exec`)", { skip: skip ?? (spawnSync("runc", ["--version"]).status === 0 ? undefined : "runc is not installed"), concurrency: false }, () => {
  const d = useTestDaemon(undefined, "runc");

  it("a probe runs, and one past its timeout is killed in the container, not only its runc client", async () => {
    run(d, ["--name", "rgood", "--health-cmd", "echo via runc", "--health-interval", "300ms", "busybox", "sleep", "300"]);
    const h = await waitForHealth(d, "rgood", (x) => x.Status === "healthy", "healthy");
    assert.equal(h.Log.at(-1)!.Output, "via runc\n");
    run(d, ["--name", "rslow", "--health-cmd", "sleep 77", "--health-timeout", "500ms", "--health-interval", "300ms", "--health-retries", "2", "busybox", "sleep", "300"]);
    const slow = await waitForHealth(d, "rslow", (x) => x.Status === "unhealthy", "unhealthy by timeout");
    assert.equal(slow.Log[0]!.Output, "Health check exceeded timeout (500ms)");
    const top = docker(d, ["top", "rslow"]);
    assert.equal(top.status, 0, top.stderr);
    const sleeping = top.stdout.split("\n").filter((l) => /sleep 77/.test(l));
    assert.ok(sleeping.length <= 1, `timed-out probes left running:\n${top.stdout}`);
  });
});
