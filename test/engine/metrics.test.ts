// The daemon's /metrics on its API socket: Prometheus text (parsed by a Prometheus parser)
// with dockerd's names — containers by state and the time container actions take — that
// follow what the docker CLI did.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { Scrape } from "../helpers/prometheus.ts";
import { DOCKER, api, docker, skipReason, useTestDaemon } from "./_daemon.ts";

const skip = skipReason() ?? (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`);

describe("gantry daemon /metrics", { skip }, () => {
  const d = useTestDaemon();

  it("counts containers by state and times create, start and delete", async () => {
    const before = new Scrape((await api(d, "GET", "/metrics")).body);
    const running0 = before.value("engine_daemon_container_states_containers", { state: "running" }) ?? 0;
    assert.equal(docker(d, ["run", "-d", "--name", "m1", "busybox", "sleep", "300"]).status, 0);
    assert.equal(docker(d, ["create", "--name", "m2", "busybox", "true"]).status, 0);
    const r = await api(d, "GET", "/metrics");
    assert.equal(r.status, 200);
    const s = new Scrape(r.body);
    s.family("engine_daemon_container_states_containers", "GAUGE");
    assert.equal(s.value("engine_daemon_container_states_containers", { state: "running" }), running0 + 1);
    assert.ok(s.value("engine_daemon_container_states_containers", { state: "stopped" })! >= 1, "the created container");
    s.family("engine_daemon_container_actions_seconds", "HISTOGRAM");
    assert.ok(s.value("engine_daemon_container_actions_seconds_count", { action: "create" })! >= 2);
    assert.ok(s.value("engine_daemon_container_actions_seconds_count", { action: "start" })! >= 1);
    assert.ok(s.value("engine_daemon_container_actions_seconds_sum", { action: "start" })! > 0, "a start takes time");
    assert.equal(s.value("engine_daemon_engine_info", { os: "linux" }), 1);

    assert.equal(docker(d, ["rm", "-f", "m1", "m2"]).status, 0);
    const after = new Scrape((await api(d, "GET", "/metrics")).body);
    assert.equal(after.value("engine_daemon_container_states_containers", { state: "running" }), running0);
    assert.ok(after.value("engine_daemon_container_actions_seconds_count", { action: "delete" })! >= 2);
    // Only GET is served.
    assert.ok((await api(d, "POST", "/metrics")).status >= 400);
  });
});
