// Issue 15's create-time gaps through the real docker CLI against `gantry daemon`, each as
// dockerd 20.10 does it (compared on this machine): --group-add by name and number,
// --device-cgroup-rule, --mac-address, HostConfig.Runtime, `-e NAME` without a value,
// legacy links (hosts line, environment, `docker rm --link`), and anonymous volumes from
// `-v /path` and a Dockerfile VOLUME that `docker rm -v` removes. Traffic stays inside the
// test's own containers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { api, bridgeSkipReason, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "./_daemon.ts";

// Subnet and device unique to this file (10.247.83.0/24 is used by no other test).
const DEFAULT_BRIDGE = { bridge: "gtcc83", subnet: "10.247.83.0/24" };
const skip = bridgeSkipReason(/^10\.247\.83\./m, "10.247.83.0/24");

describe("issue 15: create honours what dockerd does", { skip }, () => {
  const d = newDaemonDirs();
  const ok = (args: string[], opts: { env?: Record<string, string> } = {}) => {
    const r = docker(d, args, opts);
    assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const inspect = (format: string, name: string) => ok(["inspect", "-f", format, name]).trim();

  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, DEFAULT_BRIDGE);
  });

  after(async () => {
    await cleanup(d);
  });

  it("--group-add takes numbers and the image's group names; the user's own group stays first", () => {
    assert.equal(ok(["run", "--rm", "--group-add", "nogroup", "--group-add", "1234", "busybox", "id"]).trim(), "uid=0(root) gid=0(root) groups=0(root),1234,65534(nogroup)");
    assert.equal(ok(["run", "--rm", "--user", "nobody", "busybox", "id", "-G"]).trim(), "65534");
    const bad = docker(d, ["run", "--rm", "--group-add", "nosuch", "busybox", "id"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Unable to find group nosuch: no matching entries in group file/);
  });

  it("--device-cgroup-rule lets the container make the device; without it mknod is refused", () => {
    const without = docker(d, ["run", "--rm", "busybox", "mknod", "/tmp/dev42", "c", "42", "7"]);
    assert.notEqual(without.status, 0, "no rule: the devices cgroup refuses the node");
    ok(["run", "-d", "--name", "devrule", "--device-cgroup-rule", "c 42:* rmw", "busybox", "sleep", "300"]);
    ok(["exec", "devrule", "mknod", "/tmp/dev42", "c", "42", "7"]);
    assert.deepEqual(JSON.parse(inspect("{{json .HostConfig.DeviceCgroupRules}}", "devrule")), ["c 42:* rmw"]);
    const id = inspect("{{.Id}}", "devrule");
    const list = `/sys/fs/cgroup/devices/gantry/${id}/devices.list`;
    if (existsSync(list)) assert.match(readFileSync(list, "utf8"), /^c 42:\* rwm$/m);
    ok(["rm", "-f", "devrule"]);
    const malformed = docker(d, ["create", "--device-cgroup-rule", "x 1:2 rwm", "busybox"]);
    assert.notEqual(malformed.status, 0);
  });

  it("--mac-address is the interface's address and shows in NetworkSettings; Runtime is runc", async () => {
    ok(["run", "-d", "--name", "withmac", "--mac-address", "02:42:0a:f7:53:99", "busybox", "sleep", "300"]);
    assert.equal(ok(["exec", "withmac", "cat", "/sys/class/net/eth0/address"]).trim(), "02:42:0a:f7:53:99");
    assert.equal(inspect("{{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.MacAddress}}", "withmac"), "02:42:0a:f7:53:99 02:42:0a:f7:53:99");
    assert.equal(inspect("{{.HostConfig.Runtime}}", "withmac"), "runc");
    ok(["rm", "-f", "withmac"]);
    // API 1.41 (docker-py, compose) sends it as Config.MacAddress.
    const r = await api(d, "POST", "/v1.41/containers/create?name=oldmac", { Image: "busybox", Cmd: ["sleep", "300"], MacAddress: "02:42:0a:f7:53:98" });
    assert.equal(r.status, 201, r.body);
    ok(["start", "oldmac"]);
    assert.equal(ok(["exec", "oldmac", "cat", "/sys/class/net/eth0/address"]).trim(), "02:42:0a:f7:53:98");
    assert.equal(inspect("{{.Config.MacAddress}}", "oldmac"), "02:42:0a:f7:53:98");
    ok(["rm", "-f", "oldmac"]);
    const bad = await api(d, "POST", "/v1.41/containers/create", { Image: "busybox", MacAddress: "not-a-mac" });
    assert.equal(bad.status, 400, bad.body);
    const runtime = await api(d, "POST", "/v1.41/containers/create", { Image: "busybox", HostConfig: { Runtime: "kata" } });
    assert.equal(runtime.status, 400, runtime.body);
    assert.match(runtime.body, /Unknown runtime specified kata/);
  });

  it("an env entry without '=' is kept in Config.Env and leaves that name unset in the process", async () => {
    // The CLI takes `-e NAME` from its own environment, or drops it when unset.
    assert.match(ok(["run", "--rm", "-e", "FROMCLIENT", "busybox", "env"], { env: { FROMCLIENT: "yes" } }), /^FROMCLIENT=yes$/m);
    const r = await api(d, "POST", "/v1.41/containers/create?name=envless", { Image: "busybox", Cmd: ["env"], Env: ["NOPE", "A=1", "PATH"] });
    assert.equal(r.status, 201, r.body);
    assert.deepEqual(JSON.parse(inspect("{{json .Config.Env}}", "envless")), ["NOPE", "A=1", "PATH"]);
    ok(["start", "-a", "envless"]);
    const env = ok(["logs", "envless"]).split("\n").filter(Boolean).sort();
    assert.ok(env.includes("A=1"), env.join(" "));
    assert.ok(!env.some((e) => e === "NOPE" || e.startsWith("NOPE=") || e.startsWith("PATH")), env.join(" "));
    ok(["rm", "envless"]);
  });

  it("--link gives a hosts line and the link's variables; rm --link removes the link only", () => {
    ok(["run", "-d", "--name", "linked", "--expose", "80", "-e", "SECRET=s1", "busybox", "sleep", "300"]);
    const ip = inspect("{{.NetworkSettings.IPAddress}}", "linked");
    const short = inspect("{{.Id}}", "linked").slice(0, 12);
    const out = ok(["run", "--name", "parent", "--link", "linked:db", "busybox", "sh", "-c", "cat /etc/hosts; env"]);
    assert.match(out, new RegExp(`^${ip.replace(/\./g, "\\.")}\\tdb ${short} linked$`, "m"));
    for (const line of ["DB_NAME=/parent/db", `DB_PORT=tcp://${ip}:80`, `DB_PORT_80_TCP=tcp://${ip}:80`, `DB_PORT_80_TCP_ADDR=${ip}`, "DB_PORT_80_TCP_PORT=80", "DB_PORT_80_TCP_PROTO=tcp", "DB_ENV_SECRET=s1"]) {
      assert.match(out, new RegExp(`^${line.replace(/[./]/g, "\\$&")}$`, "m"), line);
    }
    assert.deepEqual(JSON.parse(inspect("{{json .HostConfig.Links}}", "parent")), ["/linked:/parent/db"]);
    ok(["rm", "--link", "/parent/db"]);
    assert.equal(inspect("{{json .HostConfig.Links}}", "parent"), "null");
    assert.equal(inspect("{{.State.Status}}", "linked"), "running", "the linked container stays");
    const unknown = docker(d, ["run", "--rm", "--link", "nosuch:x", "busybox", "true"]);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /could not get container for nosuch/);
    ok(["create", "--name", "later", "--link", "linked:db", "busybox", "true"]);
    ok(["stop", "-t", "0", "linked"]);
    const stopped = docker(d, ["start", "later"]);
    assert.notEqual(stopped.status, 0);
    assert.match(stopped.stderr, /Cannot link to a non running container: \/linked AS \/later\/db/);
    ok(["rm", "-f", "parent", "later", "linked"]);
  });

  it("-v /path and a Dockerfile VOLUME make anonymous volumes in Mounts; rm -v removes them", () => {
    const ctx = join(d.dir, "volctx");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), "FROM busybox:latest\nRUN mkdir /cache && echo seeded > /cache/seed\nVOLUME /cache\n");
    ok(["build", "-q", "-t", "withvol", ctx]);
    ok(["run", "-d", "--name", "anon", "-v", "/scratch", "withvol", "sleep", "300"]);
    const mounts = JSON.parse(inspect("{{json .Mounts}}", "anon")) as Array<{ Type: string; Name: string; Destination: string; Driver: string }>;
    const byDest = new Map(mounts.map((m) => [m.Destination, m]));
    for (const dest of ["/scratch", "/cache"]) {
      const m = byDest.get(dest);
      assert.ok(m, `${dest} in ${JSON.stringify(mounts)}`);
      assert.equal(m.Type, "volume");
      assert.match(m.Name, /^[0-9a-f]{64}$/);
      assert.equal(m.Driver, "local");
    }
    assert.equal(ok(["exec", "anon", "cat", "/cache/seed"]).trim(), "seeded", "the image's content is copied up");
    const names = mounts.map((m) => m.Name);
    const listed = ok(["volume", "ls", "-q"]);
    for (const n of names) assert.match(listed, new RegExp(n));
    ok(["rm", "-f", "-v", "anon"]);
    const after = ok(["volume", "ls", "-q"]);
    for (const n of names) assert.doesNotMatch(after, new RegExp(n), "rm -v removed the anonymous volume");
    ok(["rmi", "withvol"]);
  });
});
