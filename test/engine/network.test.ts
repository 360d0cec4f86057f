// Bridge networking through src/network: the walkthrough's `-p 8081:80` (here 18481), port
// and inspect output, and the namespace the container's network lives in.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, cleanup, docker, killDaemon, makeBusyboxImage, newDaemonDirs, skipReason, startTestDaemon } from "./_daemon.ts";

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

// The default bridge's prepared namespaces (the warm pool): `run --rm` joins one, the exit
// is answered before the plugins' DEL, and neither a stop nor a SIGKILL of the daemon leaves
// a namespace file, lease, veth, bridge or rule behind.
describe("docker run on the default bridge through prepared namespaces", { skip }, () => {
  const d = newDaemonDirs();
  const net = { bridge: "gtest482", subnet: "10.246.72.0/24" };
  const netnsDir = () => join(d.execRoot, "netns");
  const slots = () => (existsSync(netnsDir()) ? readdirSync(netnsDir()) : []);
  const leases = () => {
    const dir = join(d.root, "network", "ipam", "bridge");
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f)) : [];
  };
  const mountsUnder = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.split(" ")[4]?.startsWith(`${dir}/`));
  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, net);
  });
  after(async () => {
    await cleanup(d);
  });

  it("containers get an address, a default route and hosts entries; nothing is left after a stop or a crash", async () => {
    for (let i = 0; i < 4; i++) {
      // Read from the json-file log, not run's attach stream (a start under heavy load has
      // been seen to lose the attach stream's first line, with or without a network).
      const r = docker(d, ["run", "--name", `pool${i}`, "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route; cat /etc/hosts"]);
      assert.equal(r.status, 0, r.stderr);
      const out = docker(d, ["logs", `pool${i}`]).stdout;
      assert.equal(docker(d, ["rm", `pool${i}`]).status, 0);
      const addr = /inet (10\.246\.72\.\d+)\/24/.exec(out)?.[1];
      assert.ok(addr, out);
      assert.match(out, /default via 10\.246\.72\.1 dev eth0/);
      assert.match(out, new RegExp(`^${addr!.replace(/\./g, "\\.")}\\s`, "m"), "its address is in /etc/hosts");
      assert.equal(docker(d, ["run", "--rm", "busybox", "true"]).status, 0);
    }
    // the pool refilled behind the runs: prepared namespaces wait, bound under the exec root
    // (a file exists a moment before its mount while one is made, and after it while one goes)
    const settled = () => slots().length >= 2 && mountsUnder(netnsDir()).length === slots().length;
    for (let i = 0; i < 100 && !settled(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(slots().length >= 2, `prepared namespaces: ${slots().join(",")}`);
    assert.equal(mountsUnder(netnsDir()).length, slots().length, "every namespace file is a bound namespace");

    // a running container keeps its namespace across a daemon crash; the ready ones go
    const r = docker(d, ["run", "-d", "--name", "keeper", "busybox", "sleep", "120"]);
    assert.equal(r.status, 0, r.stderr);
    const keeperIp = docker(d, ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keeper"]).stdout.trim();
    assert.match(keeperIp, /^10\.246\.72\.\d+$/);
    for (let i = 0; i < 100 && slots().length < 3; i++) await new Promise((res) => setTimeout(res, 50));
    await killDaemon(d, "SIGKILL");
    await startTestDaemon(d);
    assert.equal(docker(d, ["exec", "keeper", "ip", "-4", "-o", "addr", "show", "eth0"]).stdout.includes(keeperIp), true);
    for (let i = 0; i < 50 && leases().length > 1; i++) await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(leases(), [keeperIp], "only the running container's lease is left after reconcile");
    assert.equal(slots().length, 1);

    assert.equal(docker(d, ["rm", "-f", "keeper"]).status, 0);
    assert.deepEqual(leases(), [], "rm answers after the lease is released");
    await killDaemon(d, "SIGTERM");
    assert.deepEqual(slots(), [], "a stopped daemon leaves no namespace file");
    assert.deepEqual(mountsUnder(netnsDir()), []);
    assert.deepEqual(leases(), []);
    assert.notEqual(spawnSync("ip", ["link", "show", net.bridge]).status, 0, "the unused bridge is gone");
    const rules = spawnSync("sh", ["-c", "iptables-save; nft list ruleset"], { encoding: "utf8" }).stdout;
    assert.ok(!rules.includes(net.subnet) && !rules.includes(net.bridge), "no rule of the network is left");
    await startTestDaemon(d);
  });
});
