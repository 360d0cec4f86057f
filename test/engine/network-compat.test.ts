// Issue 15's network and volume gaps through the real docker CLI against `gantry daemon`, as
// dockerd 20.10 behaves (compared on this machine): a network name with spaces works for
// create, run, name resolution and rm (volume names keep dockerd's stricter rule and
// message); IPAM AuxiliaryAddresses are never given to a container and show in inspect;
// an --ipv6 network with an IPv6 subnet gives containers IPv6 addresses they talk over;
// `network ls` and `volume ls` filter by id, name (regular expressions, as dockerd), type,
// driver, label and dangling, and refuse an unknown filter. Traffic stays inside the test's
// own containers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bridgeSkipReason, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "./_daemon.ts";

// Subnets and devices unique to this file (10.247.84-85.0/24 is used by no other test).
const DEFAULT_BRIDGE = { bridge: "gtnx84", subnet: "10.247.84.0/24" };
const AUX = { name: "gnx-aux", subnet: "10.247.85.0/29", bridge: "gtnx85" };
const SPACED = { name: "my app net", subnet: "10.247.85.64/26", bridge: "gtnx85s" };
const V6 = { name: "gnx-six", subnet: "10.247.85.192/26", subnet6: "fd00:247:85::/64", bridge: "gtnx85v" };
const skip = bridgeSkipReason(/^10\.247\.8[45]\./m, "10.247.84-85.0/24");

describe("issue 15: networks and volumes as dockerd names, reserves and filters them", { skip }, () => {
  const d = newDaemonDirs();
  const ok = (args: string[]) => {
    const r = docker(d, args);
    assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const lines = (s: string) => s.split("\n").filter(Boolean).sort();

  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, DEFAULT_BRIDGE);
  });

  after(async () => {
    await cleanup(d);
  });

  it("a network name with spaces: create, run, resolve, remove; volume names stay strict", () => {
    ok(["network", "create", "--subnet", SPACED.subnet, "-o", `com.docker.network.bridge.name=${SPACED.bridge}`, SPACED.name]);
    assert.deepEqual(lines(ok(["network", "ls", "--format", "{{.Name}}", "--filter", "name=my app"])), [SPACED.name]);
    ok(["run", "-d", "--name", "spaced", "--network", SPACED.name, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    const ip = ok(["inspect", "-f", `{{(index .NetworkSettings.Networks "${SPACED.name}").IPAddress}}`, "spaced"]).trim();
    assert.match(ip, /^10\.247\.85\.\d+$/);
    assert.match(ok(["run", "--rm", "--network", SPACED.name, "busybox", "wget", "-q", "-O", "-", "http://spaced/hostname"]), /\w/);
    ok(["rm", "-f", "spaced"]);
    ok(["network", "rm", SPACED.name]);
    assert.doesNotMatch(ok(["network", "ls", "--format", "{{.Name}}"]), /my app net/);
    const blank = docker(d, ["network", "create", " "]);
    assert.notEqual(blank.status, 0);
    assert.match(blank.stderr, /invalid name/);
    const vol = docker(d, ["volume", "create", "has space"]);
    assert.notEqual(vol.status, 0);
    assert.match(vol.stderr, /create has space: "has space" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed\. If you intended to pass a host directory, use absolute path/);
  });

  it("auxiliary addresses are shown and never given to a container", () => {
    // A /29: gateway .1, aux .2 and .3, so containers get .4, .5, .6 and then none is left.
    ok(["network", "create", "--subnet", AUX.subnet, "--aux-address", "router=10.247.85.2", "--aux-address", "printer=10.247.85.3", "-o", `com.docker.network.bridge.name=${AUX.bridge}`, AUX.name]);
    const cfg = JSON.parse(ok(["network", "inspect", "-f", "{{json .IPAM.Config}}", AUX.name])) as Array<{ AuxiliaryAddresses?: Record<string, string> }>;
    assert.deepEqual(cfg[0]!.AuxiliaryAddresses, { router: "10.247.85.2", printer: "10.247.85.3" });
    const got: string[] = [];
    for (const n of ["ax1", "ax2", "ax3"]) {
      ok(["run", "-d", "--name", n, "--network", AUX.name, "busybox", "sleep", "300"]);
      got.push(ok(["inspect", "-f", `{{(index .NetworkSettings.Networks "${AUX.name}").IPAddress}}`, n]).trim());
    }
    assert.deepEqual(got.sort(), ["10.247.85.4", "10.247.85.5", "10.247.85.6"]);
    const full = docker(d, ["run", "-d", "--name", "ax4", "--network", AUX.name, "busybox", "sleep", "300"]);
    assert.notEqual(full.status, 0, "the aux addresses stay reserved");
    docker(d, ["rm", "-f", "ax4"]);
    const outside = docker(d, ["network", "create", "--subnet", "10.247.85.128/29", "--aux-address", "x=10.247.84.200", "gnx-bad"]);
    assert.notEqual(outside.status, 0);
    assert.match(outside.stderr, /no matching subnet for aux-address 10\.247\.84\.200/);
  });

  it("an --ipv6 network gives containers an IPv6 address they reach each other on", () => {
    ok(["network", "create", "--ipv6", "--subnet", V6.subnet, "--subnet", V6.subnet6, "-o", `com.docker.network.bridge.name=${V6.bridge}`, V6.name]);
    assert.equal(ok(["network", "inspect", "-f", "{{.EnableIPv6}}", V6.name]).trim(), "true");
    const cfg = JSON.parse(ok(["network", "inspect", "-f", "{{json .IPAM.Config}}", V6.name])) as Array<{ Subnet: string; Gateway: string }>;
    assert.deepEqual(cfg[1], { Subnet: V6.subnet6, Gateway: "fd00:247:85::1" });
    ok(["run", "-d", "--name", "six", "--network", V6.name, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    const [addr, len, gw] = ok(["inspect", "-f", `{{.NetworkSettings.GlobalIPv6Address}} {{(index .NetworkSettings.Networks "${V6.name}").GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}`, "six"]).trim().split(" ");
    assert.match(addr!, /^fd00:247:85::[0-9a-f]+$/);
    assert.deepEqual([len, gw], ["64", "fd00:247:85::1"]);
    assert.match(ok(["exec", "six", "ip", "-6", "addr", "show", "eth0"]), new RegExp(`inet6 ${addr}/64`));
    assert.match(ok(["run", "--rm", "--network", V6.name, "busybox", "wget", "-q", "-O", "-", `http://[${addr}]/hostname`]), /\w/);
    // The network's DNS answers AAAA with the container's IPv6 address (and A with its IPv4 one).
    const aaaa = ok(["run", "--rm", "--network", V6.name, "busybox", "nslookup", "-type=AAAA", "six"]);
    assert.match(aaaa, new RegExp(`Address:\\s+${addr}\\b`), aaaa);
    assert.doesNotMatch(aaaa, /^Address: 10\./m, "no IPv4 address among the answers (the server line is the gateway)");
    assert.match(ok(["network", "inspect", "-f", "{{json .Containers}}", V6.name]), new RegExp(`"IPv6Address":"${addr}/64"`));
    ok(["rm", "-f", "six"]);
    ok(["network", "rm", V6.name]);
    const noFlag = docker(d, ["network", "create", "--subnet", "fd00:247:86::/64", "gnx-v6-noflag"]);
    assert.notEqual(noFlag.status, 0);
    assert.match(noFlag.stderr, /needs EnableIPv6/);
  });

  it("network ls filters by name and id (regular expressions), type, driver, label, dangling", () => {
    ok(["network", "create", "--label", "tier=front", "gnx-alpha"]);
    ok(["network", "create", "gnx-alphabet"]);
    const names = (...filters: string[]) => lines(ok(["network", "ls", "--format", "{{.Name}}", ...filters.flatMap((f) => ["--filter", f])]));
    assert.deepEqual(names("name=gnx-alpha"), ["gnx-alpha", "gnx-alphabet"]);
    assert.deepEqual(names("name=^gnx-alpha$"), ["gnx-alpha"]);
    assert.deepEqual(names("name=gnx-alpha", "name=gnx-aux"), ["gnx-alpha", "gnx-alphabet", "gnx-aux"]);
    const id = ok(["network", "inspect", "-f", "{{.Id}}", "gnx-alphabet"]).trim();
    assert.deepEqual(names(`id=${id.slice(0, 10)}`), ["gnx-alphabet"]);
    assert.deepEqual(names("type=builtin"), ["bridge", "host", "none"]);
    assert.ok(!names("type=custom").includes("bridge"));
    assert.deepEqual(names("label=tier=front"), ["gnx-alpha"]);
    assert.deepEqual(names("label=tier"), ["gnx-alpha"]);
    assert.deepEqual(names("driver=bridge", "name=gnx-alpha"), ["gnx-alpha", "gnx-alphabet"]);
    // gnx-aux has containers; the two new ones have none.
    assert.deepEqual(names("dangling=true"), ["gnx-alpha", "gnx-alphabet"]);
    assert.ok(names("dangling=false").includes("gnx-aux"));
    const bad = docker(d, ["network", "ls", "--filter", "color=red"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid filter 'color'/);
    for (const c of ["ax1", "ax2", "ax3"]) ok(["rm", "-f", c]);
    ok(["network", "rm", "gnx-alpha", "gnx-alphabet", AUX.name]);
  });

  it("volume ls filters by name (regular expressions), label and dangling", () => {
    ok(["volume", "create", "--label", "keep=yes", "gnx-vol"]);
    ok(["volume", "create", "gnx-volume"]);
    ok(["run", "-d", "--name", "user", "-v", "gnx-volume:/data", "busybox", "sleep", "300"]);
    const names = (...filters: string[]) => lines(ok(["volume", "ls", "-q", ...filters.flatMap((f) => ["--filter", f])]));
    assert.deepEqual(names("name=gnx-vol"), ["gnx-vol", "gnx-volume"]);
    assert.deepEqual(names("name=^gnx-vol$"), ["gnx-vol"]);
    assert.deepEqual(names("label=keep=yes"), ["gnx-vol"]);
    assert.deepEqual(names("name=gnx-", "dangling=true"), ["gnx-vol"]);
    assert.deepEqual(names("name=gnx-", "dangling=false"), ["gnx-volume"]);
    const bad = docker(d, ["volume", "ls", "--filter", "color=red"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid filter 'color'/);
    ok(["rm", "-f", "user"]);
    ok(["volume", "rm", "gnx-vol", "gnx-volume"]);
  });
});
