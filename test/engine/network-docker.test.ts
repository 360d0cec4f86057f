// Issue 5 driven by the real docker CLI against `gantry daemon`: user networks with name and
// alias resolution over TCP, published ports from the host and from another container,
// --internal networks without a default route, nothing left behind after rm (veths, iptables
// rules, IPAM leases), named volumes and read-only bind mounts, and clear errors on bad input
// with no half-made network. Traffic stays on loopback and inside the test's own containers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { bridgeSkipReason, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "./_daemon.ts";

// Subnets and devices unique to this file (10.247.60-65.0/24 is used by no other test; network-connect has 66-69).
const DEFAULT_BRIDGE = { bridge: "gtnd60", subnet: "10.247.60.0/24" };
const NET = { name: "gnd-app", subnet: "10.247.61.0/24", bridge: "gtnd61" };
const INT = { name: "gnd-int", subnet: "10.247.62.0/24", bridge: "gtnd62" };
const OVL = { name: "gnd-ovl", subnet: "10.247.63.0/24", bridge: "gtnd63" };
const HOST_PORT = 18662;
const BUSY_PORT = 18663;

const skip = bridgeSkipReason(/^10\.247\.6[0-5]\./m, "10.247.60-65.0/24");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((res, rej) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 3000 }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => (body += c));
      r.on("end", () => res(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", rej);
  });
}

function sh(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "";
}

function rules(): string {
  return sh("iptables-save", []) + sh("nft", ["list", "ruleset"]);
}

function vethsOn(bridge: string): string[] {
  return sh("ip", ["-o", "link", "show", "type", "veth", "master", bridge])
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(":")[1]!.trim().split("@")[0]!);
}

function allVeths(): string[] {
  return sh("ip", ["-o", "link", "show", "type", "veth"])
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(":")[1]!.trim().split("@")[0]!);
}

/** Every file under the network library's host-local IPAM dataDir. */
function leaseFiles(root: string): { path: string; content: string }[] {
  const out: { path: string; content: string }[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        let content = "";
        try {
          content = readFileSync(p, "utf8");
        } catch {
          /* gone */
        }
        out.push({ path: p, content });
      }
    }
  };
  walk(join(root, "network", "ipam"));
  return out;
}

describe("issue 5 through the docker CLI: networks, ports, DNS, volumes", { skip }, () => {
  const d = newDaemonDirs();
  let hostDir = "";
  let busy: Server | undefined;

  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, DEFAULT_BRIDGE);
    hostDir = join(d.dir, "hostdir");
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, "greeting"), "hello from the host\n");
  });

  after(async () => {
    busy?.close();
    if (d.child && d.child.exitCode === null) {
      for (const c of ["srv", "web", "pub", "w1", "pw"]) docker(d, ["rm", "-f", c], { timeoutMs: 15_000 });
      for (const n of [NET.name, INT.name, OVL.name, "gnd-ovl2", "gnd-bad"]) docker(d, ["network", "rm", n], { timeoutMs: 15_000 });
      for (const v of ["gnd-vol"]) docker(d, ["volume", "rm", "-f", v], { timeoutMs: 15_000 });
    }
    await cleanup(d);
    for (const n of [NET, INT, OVL]) spawnSync("ip", ["link", "del", n.bridge], { stdio: "ignore" });
  });

  it("--network none on a daemon with networks: only lo, and it is up", () => {
    const r = docker(d, ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "lo\n0x9\n");
  });

  it("containers on a user network reach each other by name and by alias over TCP", () => {
    let r = docker(d, ["network", "create", "--subnet", NET.subnet, "-o", `com.docker.network.bridge.name=${NET.bridge}`, NET.name]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["run", "-d", "--network", NET.name, "--network-alias", "webalias", "--name", "srv", "--hostname", "ahost", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(docker(d, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${NET.name}").IPAddress}}`, "srv"]).stdout.trim(), /^10\.247\.61\.\d+$/);
    for (const host of ["srv", "webalias"]) {
      let out: ReturnType<typeof docker> | undefined;
      for (let i = 0; i < 20; i++) {
        out = docker(d, ["run", "--rm", "--network", NET.name, "busybox", "wget", "-q", "-O", "-", `http://${host}/hostname`]);
        if (out.status === 0) break;
        spawnSync("sleep", ["0.2"]);
      }
      assert.equal(out!.status, 0, `wget http://${host}/: ${out!.stderr}`);
      assert.equal(out!.stdout.trim(), "ahost", host);
    }
  });

  it("inspect shows an endpoint's Aliases and DNSNames as dockerd does for each API version", () => {
    const shortId = docker(d, ["inspect", "-f", "{{.Id}}", "srv"]).stdout.trim().slice(0, 12);
    const endpoint = (version?: string) => {
      const r = docker(d, ["inspect", "-f", `{{json (index .NetworkSettings.Networks "${NET.name}")}}`, "srv"], version ? { env: { DOCKER_API_VERSION: version } } : {});
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { Aliases: string[] | null; DNSNames?: string[] | null };
    };
    // 1.45+: Aliases are what was asked for; DNSNames every name the network's DNS answers
    assert.deepEqual(endpoint().Aliases, ["webalias"]);
    assert.deepEqual(endpoint().DNSNames, ["srv", "webalias", shortId, "ahost"]);
    // 1.44: the short id is among the Aliases too; below 1.44 there are no DNSNames
    assert.deepEqual(endpoint("1.44").Aliases, ["webalias", shortId]);
    assert.deepEqual(endpoint("1.44").DNSNames, ["srv", "webalias", shortId, "ahost"]);
    assert.equal(endpoint("1.43").DNSNames ?? null, null);
    // the default bridge has no DNS: neither aliases nor names
    const r = docker(d, ["run", "-d", "--name", "plainbridge", "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    const bridge = JSON.parse(docker(d, ["inspect", "-f", "{{json .NetworkSettings.Networks.bridge}}", "plainbridge"]).stdout) as Record<string, unknown>;
    assert.equal(bridge.Aliases, null);
    assert.equal(bridge.DNSNames, null);
    docker(d, ["rm", "-f", "plainbridge"]);
  });

  it("a published port answers on 127.0.0.1 and from another container", async () => {
    let r = docker(d, ["run", "-d", "--network", NET.name, "--name", "pub", "--hostname", "pubhost", "-p", `${HOST_PORT}:80`, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    let body = "";
    for (let i = 0; i < 30 && !body; i++) {
      body = await httpGet(HOST_PORT, "/hostname").catch(() => "");
      if (!body) await sleep(100);
    }
    assert.equal(body.trim(), "pubhost");
    // From a container on the default bridge, through the host's gateway address (hairpin).
    const gw = DEFAULT_BRIDGE.subnet.replace(/0\/24$/, "1");
    r = docker(d, ["run", "--rm", "busybox", "wget", "-q", "-O", "-", `http://${gw}:${HOST_PORT}/hostname`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "pubhost");
    // And from a container on the same user network, through the published port.
    const netGw = NET.subnet.replace(/0\/24$/, "1");
    r = docker(d, ["run", "--rm", "--network", NET.name, "busybox", "wget", "-q", "-O", "-", `http://${netGw}:${HOST_PORT}/hostname`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "pubhost");
  });

  it("an --internal network gives its containers no default route", () => {
    let r = docker(d, ["network", "create", "--internal", "--subnet", INT.subnet, "-o", `com.docker.network.bridge.name=${INT.bridge}`, INT.name]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["run", "--rm", "--network", INT.name, "busybox", "ip", "route"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /10\.247\.62\.0\/24/);
    assert.doesNotMatch(r.stdout, /default/);
    // A user network that is not internal does have one (the check above is not vacuous).
    r = docker(d, ["run", "--rm", "--network", NET.name, "busybox", "ip", "route"]);
    assert.match(r.stdout, /default via 10\.247\.61\.1/);
  });

  it("after rm -f and network rm no veth, rule or lease of the containers is left", () => {
    const ids = ["srv", "pub"].map((n) => docker(d, ["inspect", "-f", "{{.Id}}", n]).stdout.trim());
    for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/);
    const netId = docker(d, ["network", "inspect", "-f", "{{.Id}}", NET.name]).stdout.trim();
    const intId = docker(d, ["network", "inspect", "-f", "{{.Id}}", INT.name]).stdout.trim();
    assert.ok(netId && intId);
    const veths = vethsOn(NET.bridge);
    assert.equal(veths.length, 2, `two veths on ${NET.bridge}: ${veths.join(",")}`);
    const before = rules();
    assert.ok(ids.some((id) => before.includes(id)) || before.includes(String(HOST_PORT)), "the published port has a rule while it runs");
    assert.ok(leaseFiles(d.root).some((f) => ids.includes(f.content.split(/\s/)[0]!)), "leases exist while running");

    for (const n of ["srv", "pub"]) assert.equal(docker(d, ["rm", "-f", n]).status, 0);
    for (const n of [NET.name, INT.name]) {
      const r = docker(d, ["network", "rm", n]);
      assert.equal(r.status, 0, r.stderr);
    }
    const left = allVeths();
    for (const v of veths) assert.ok(!left.includes(v), `veth ${v} is gone`);
    const after = rules();
    for (const id of ids) assert.ok(!after.includes(id), `no rule mentions ${id.slice(0, 12)}`);
    for (const s of [netId, intId, NET.name, INT.name, NET.bridge, INT.bridge, NET.subnet, INT.subnet, `dpt:${HOST_PORT}`, `--dport ${HOST_PORT}`]) {
      assert.ok(!after.includes(s), `no rule mentions ${s}`);
    }
    for (const f of leaseFiles(d.root)) {
      for (const id of ids) assert.ok(!f.content.includes(id), `lease ${f.path} of ${id.slice(0, 12)} is gone`);
      assert.ok(!f.path.includes(NET.name) && !f.path.includes(netId) && !f.path.includes(INT.name) && !f.path.includes(intId), `no lease dir ${f.path}`);
    }
    assert.ok(!sh("ip", ["-o", "link"]).includes(`${NET.bridge}:`), `bridge ${NET.bridge} is gone`);
  });

  it("a named volume keeps data between containers; a :ro bind mount refuses writes", () => {
    let r = docker(d, ["volume", "create", "gnd-vol"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["run", "--rm", "-v", "gnd-vol:/data", "busybox", "sh", "-c", "echo persisted > /data/f"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["run", "--rm", "-v", "gnd-vol:/data", "busybox", "cat", "/data/f"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "persisted");

    r = docker(d, ["run", "--rm", "-v", `${hostDir}:/data:ro`, "busybox", "cat", "/data/greeting"]);
    assert.equal(r.stdout.trim(), "hello from the host");
    r = docker(d, ["run", "--rm", "-v", `${hostDir}:/data:ro`, "busybox", "sh", "-c", "echo x > /data/new"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /read-only/i);
    assert.ok(!existsSync(join(hostDir, "new")));
    r = docker(d, ["run", "--rm", "-v", `${hostDir}:/data`, "busybox", "sh", "-c", "echo rw > /data/new"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(hostDir, "new"), "utf8"), "rw\n");
    assert.equal(docker(d, ["volume", "rm", "gnd-vol"]).status, 0);
  });

  it("bad input fails with a clear message and leaves no half-made network", async () => {
    const netsBefore = () => docker(d, ["network", "ls", "-q"]).stdout.split("\n").filter(Boolean).sort();
    let r = docker(d, ["network", "create", "--subnet", OVL.subnet, "-o", `com.docker.network.bridge.name=${OVL.bridge}`, OVL.name]);
    assert.equal(r.status, 0, r.stderr);
    const nets = netsBefore();

    // Overlapping subnets.
    r = docker(d, ["network", "create", "--subnet", "10.247.63.128/25", "gnd-ovl2"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /overlap/i);
    r = docker(d, ["network", "create", "--subnet", DEFAULT_BRIDGE.subnet, "gnd-ovl2"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /overlap/i);
    assert.deepEqual(netsBefore(), nets);

    // A host port already in use: by another container, then by a host process.
    r = docker(d, ["run", "-d", "--name", "pw", "-p", `${HOST_PORT}:80`, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["run", "--rm", "-p", `${HOST_PORT}:80`, "busybox", "true"]);
    assert.notEqual(r.status, 0, "a second container on the same host port");
    assert.match(r.stderr, /already|in use|allocated/i);
    busy = createServer();
    await new Promise<void>((res) => busy!.listen(BUSY_PORT, "0.0.0.0", res));
    r = docker(d, ["run", "--rm", "-p", `${BUSY_PORT}:80`, "busybox", "true"]);
    assert.notEqual(r.status, 0, "a host port a host process listens on");
    assert.match(r.stderr, /already|in use|allocated/i);
    busy.close();
    busy = undefined;

    // Unknown network.
    r = docker(d, ["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nosuch/);
    assert.match(r.stderr, /not found|no such/i);

    // Malformed -p and -v.
    for (const p of ["99999:80", "abc:80", "80:80/sctpx", "1.2.3:80:80"]) {
      r = docker(d, ["run", "--rm", "-p", p, "busybox", "true"]);
      assert.notEqual(r.status, 0, `-p ${p}`);
      assert.match(r.stderr, /port|invalid|protocol|address/i, `-p ${p}: ${r.stderr}`);
    }
    for (const v of ["relative/dir:/data", `${hostDir}:/data:bogus`, `${hostDir}:`, `${hostDir}:data`]) {
      r = docker(d, ["run", "--rm", "-v", v, "busybox", "true"]);
      assert.notEqual(r.status, 0, `-v ${v}`);
      assert.match(r.stderr, /invalid|volume|mount|spec|path/i, `-v ${v}: ${r.stderr}`);
    }
    // A bad subnet and a bad gateway leave nothing behind.
    r = docker(d, ["network", "create", "--subnet", "10.247.64.0/33", "gnd-bad"]);
    assert.notEqual(r.status, 0);
    r = docker(d, ["network", "create", "--subnet", "10.247.64.0/24", "--gateway", "10.247.65.1", "gnd-bad"]);
    assert.notEqual(r.status, 0);
    assert.deepEqual(netsBefore(), nets);
    assert.doesNotMatch(docker(d, ["ps", "-a"]).stdout, /busybox\s+"true"/);

    assert.equal(docker(d, ["rm", "-f", "pw"]).status, 0);
    assert.equal(docker(d, ["network", "rm", OVL.name]).status, 0);
  });
});
