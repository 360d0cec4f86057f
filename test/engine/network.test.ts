// Bridge networking through src/network: the walkthrough's `-p 8081:80` (here 18481), port
// and inspect output, and the namespace the container's network lives in.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { DOCKER, cleanup, docker, makeBusyboxImage, newDaemonDirs, skipReason, startTestDaemon } from "./_daemon.ts";

const skip =
  skipReason() ??
  (existsSync(DOCKER) ? undefined : `${DOCKER} is not installed`) ??
  (existsSync("/usr/lib/cni/bridge") ? undefined : "needs the CNI plugins (apt-get install containernetworking-plugins iptables)");

describe("docker run -p through the bridge network", { skip }, () => {
  const d = newDaemonDirs();
  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, { bridge: "gtest481", subnet: "10.250.81.0/24" });
  });
  after(async () => {
    await cleanup(d);
  });

  it("publishes a port to a server in the container", async () => {
    const r = docker(d, ["run", "-d", "--name", "web", "-p", "18481:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(docker(d, ["ps"]).stdout, /0\.0\.0\.0:18481->80\/tcp/);
    assert.equal(docker(d, ["port", "web"]).stdout.trim(), "80/tcp -> 0.0.0.0:18481");
    assert.match(docker(d, ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trim(), /^10\.250\.81\.\d+$/);
    const hostname = docker(d, ["inspect", "-f", "{{.Config.Hostname}}", "web"]).stdout.trim();
    let body = "";
    for (let i = 0; i < 30 && !body; i++) {
      body = spawnSync("curl", ["-s", "-m", "3", "--noproxy", "*", "http://127.0.0.1:18481/hostname"], { encoding: "utf8" }).stdout;
      if (!body) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(body.trim(), hostname);
    assert.match(docker(d, ["network", "ls"]).stdout, /bridge\s+bridge/);
    assert.equal(docker(d, ["rm", "-f", "web"]).status, 0);
  });
});
