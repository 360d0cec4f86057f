// Issue 15's first piece through the real docker CLI against `gantry daemon`: `docker network
// connect --alias` gives a running container an interface and its names on the network at
// once (another container resolves the alias and reaches it), `disconnect` takes both away;
// a created container connected before start joins the network when it starts; Docker's
// errors for unknown containers and networks, double connects and bad aliases, with nothing
// changed. Traffic stays inside the test's own containers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { api, bridgeSkipReason, cleanup, docker, makeBusyboxImage, newDaemonDirs, startTestDaemon } from "./_daemon.ts";

// Subnets and devices unique to this file (10.247.66-69.0/24 is used by no other test).
const DEFAULT_BRIDGE = { bridge: "gtnc66", subnet: "10.247.66.0/24" };
const NET = { name: "gnc-app", subnet: "10.247.67.0/24", bridge: "gtnc67" };
const TWO = { name: "gnc-two", subnet: "10.247.69.0/24", bridge: "gtnc69" };

const skip = bridgeSkipReason(/^10\.247\.6[6-9]\./m, "10.247.66-69.0/24");

describe("issue 15: docker network connect / disconnect", { skip }, () => {
  const d = newDaemonDirs();

  /** wget from a fresh container on NET; the exit status says whether `host` answered. */
  const fetchFrom = (host: string) => docker(d, ["run", "--rm", "--network", NET.name, "busybox", "wget", "-q", "-O", "-", `http://${host}/hostname`]);
  const networksOf = (c: string) => Object.keys(JSON.parse(docker(d, ["inspect", "-f", "{{json .NetworkSettings.Networks}}", c]).stdout) as object).sort();
  const interfaces = (c: string) => docker(d, ["exec", c, "ls", "/sys/class/net"]).stdout.split("\n").filter(Boolean).sort();

  before(async () => {
    await makeBusyboxImage(d.root);
    await startTestDaemon(d, DEFAULT_BRIDGE);
    const r = docker(d, ["network", "create", "--subnet", NET.subnet, "-o", `com.docker.network.bridge.name=${NET.bridge}`, NET.name]);
    assert.equal(r.status, 0, r.stderr);
  });

  after(async () => {
    if (d.child && d.child.exitCode === null) {
      for (const c of ["live", "later", "composed", "multi"]) docker(d, ["rm", "-f", c], { timeoutMs: 15_000 });
      for (const n of [NET.name, TWO.name, "gnc-plain"]) docker(d, ["network", "rm", n], { timeoutMs: 15_000 });
    }
    await cleanup(d);
    for (const n of [NET, TWO]) spawnSync("ip", ["link", "del", n.bridge], { stdio: "ignore" });
  });

  it("a running container gains an interface and its alias, and loses both on disconnect", () => {
    let r = docker(d, ["run", "-d", "--name", "live", "--hostname", "livehost", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("live"), ["eth0", "lo"]);
    r = docker(d, ["network", "connect", "--alias", "webby", NET.name, "live"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("live"), ["eth0", "eth1", "lo"]);
    assert.deepEqual(networksOf("live"), ["bridge", NET.name]);
    const addr = docker(d, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${NET.name}").IPAddress}}`, "live"]).stdout.trim();
    assert.match(addr, /^10\.247\.67\.\d+$/);
    assert.match(docker(d, ["exec", "live", "ip", "-4", "addr", "show", "eth1"]).stdout, new RegExp(`inet ${addr.replace(/\./g, "\\.")}/24`));
    const aliases = docker(d, ["inspect", "-f", `{{json (index .NetworkSettings.Networks "${NET.name}").Aliases}}`, "live"]).stdout.trim();
    assert.deepEqual(JSON.parse(aliases), ["webby"]);
    for (const host of ["webby", "live"]) {
      r = fetchFrom(host);
      assert.equal(r.status, 0, `wget http://${host}/: ${r.stderr}`);
      assert.equal(r.stdout.trim(), "livehost");
    }
    // connected twice: 403, the container keeps its one endpoint
    r = docker(d, ["network", "connect", NET.name, "live"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /already exists in network gnc-app|already connected/);
    assert.deepEqual(interfaces("live"), ["eth0", "eth1", "lo"]);

    r = docker(d, ["network", "disconnect", NET.name, "live"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("live"), ["eth0", "lo"]);
    assert.deepEqual(networksOf("live"), ["bridge"]);
    const lookup = docker(d, ["run", "--rm", "--network", NET.name, "busybox", "nslookup", "webby"]);
    assert.notEqual(lookup.status, 0, lookup.stdout);
    assert.notEqual(fetchFrom("webby").status, 0);
    // not connected any more: 403
    r = docker(d, ["network", "disconnect", NET.name, "live"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is not connected to the network gnc-app/);
    // the container still runs, on the default bridge
    assert.equal(docker(d, ["inspect", "-f", "{{.State.Running}}", "live"]).stdout.trim(), "true");
  });

  it("a created container connected before start joins the network when it starts, and again after a restart", () => {
    let r = docker(d, ["create", "--name", "later", "--hostname", "laterhost", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "connect", "--alias", "lateralias", NET.name, "later"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "connect", NET.name, "later"]);
    assert.notEqual(r.status, 0, "a second connect of a created container is refused");
    // inspect of the created container shows both networks it will join, unattached
    assert.deepEqual(networksOf("later"), ["bridge", NET.name]);
    assert.deepEqual(JSON.parse(docker(d, ["inspect", "-f", `{{json (index .NetworkSettings.Networks "${NET.name}").Aliases}}`, "later"]).stdout), ["lateralias"]);
    r = docker(d, ["start", "later"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("later"), ["eth0", "eth1", "lo"]);
    r = fetchFrom("lateralias");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "laterhost");
    r = docker(d, ["restart", "-t", "1", "later"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("later"), ["eth0", "eth1", "lo"]);
    // disconnecting the default bridge leaves only the connected network
    r = docker(d, ["network", "disconnect", "bridge", "later"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("later"), ["eth1", "lo"]);
    assert.deepEqual(networksOf("later"), [NET.name]);
    r = fetchFrom("later");
    assert.equal(r.status, 0, r.stderr);
  });

  it("bad input: unknown container or network, a bad alias, an alias on the default bridge", async () => {
    let r = docker(d, ["network", "connect", NET.name, "no-such-container"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No such container: no-such-container/);
    r = docker(d, ["network", "connect", "no-such-network", "live"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /network no-such-network not found/);
    r = docker(d, ["network", "disconnect", "no-such-network", "live"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not found/);
    const statuses = {
      noContainer: (await api(d, "POST", `/v1.43/networks/${NET.name}/connect`, { Container: "no-such-container" })).status,
      noNetwork: (await api(d, "POST", "/v1.43/networks/no-such-network/connect", { Container: "live" })).status,
      badAlias: (await api(d, "POST", `/v1.43/networks/${NET.name}/connect`, { Container: "live", EndpointConfig: { Aliases: ["bad alias!"] } })).status,
      bridgeAlias: (await api(d, "POST", "/v1.43/networks/bridge/connect", { Container: "later", EndpointConfig: { Aliases: ["x"] } })).status,
      notConnected: (await api(d, "POST", `/v1.43/networks/${NET.name}/disconnect`, { Container: "live" })).status,
      empty: (await api(d, "POST", `/v1.43/networks/${NET.name}/connect`)).status,
    };
    assert.deepEqual(statuses, { noContainer: 404, noNetwork: 404, badAlias: 400, bridgeAlias: 400, notConnected: 403, empty: 400 });
    // nothing of the refused connects stuck
    assert.deepEqual(interfaces("live"), ["eth0", "lo"]);
    assert.deepEqual(networksOf("live"), ["bridge"]);
  });

  it("network inspect reports only the options the user set, as dockerd does (compose compares them)", () => {
    let r = docker(d, ["network", "create", "--subnet", "10.247.68.0/24", "gnc-plain"]);
    assert.equal(r.status, 0, r.stderr);
    const options = (n: string) => JSON.parse(docker(d, ["network", "inspect", "-f", "{{json .Options}}", n]).stdout) as Record<string, string>;
    assert.deepEqual(options("gnc-plain"), {});
    assert.deepEqual(options(NET.name), { "com.docker.network.bridge.name": NET.bridge });
    // the default bridge names its device, as docker0 does
    assert.equal(options("bridge")["com.docker.network.bridge.name"], DEFAULT_BRIDGE.bridge);
    assert.equal(options("bridge")["com.docker.network.bridge.default_bridge"], "true");
    r = docker(d, ["network", "rm", "gnc-plain"]);
    assert.equal(r.status, 0, r.stderr);
  });

  it("compose's way: a created container on a user network is disconnected and connected again with its aliases", () => {
    let r = docker(d, ["create", "--name", "composed", "--network", NET.name, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "disconnect", NET.name, "composed"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(networksOf("composed"), []);
    r = docker(d, ["network", "connect", "--alias", "svc", NET.name, "composed"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(networksOf("composed"), [NET.name]);
    r = docker(d, ["start", "composed"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("composed"), ["eth0", "lo"]);
    r = fetchFrom("svc");
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["rm", "-f", "composed"]);
    assert.equal(r.status, 0, r.stderr);
  });

  it("fixed addresses and more than one network at create: --ip, a second --network, connect --ip", () => {
    let r = docker(d, ["network", "create", "--subnet", TWO.subnet, "-o", `com.docker.network.bridge.name=${TWO.bridge}`, TWO.name]);
    assert.equal(r.status, 0, r.stderr);
    // the CLI sends the first --network as NetworkMode, both in EndpointsConfig
    r = docker(d, ["run", "-d", "--name", "multi", "--network", `name=${NET.name},ip=10.247.67.50`, "--network", TWO.name, "busybox", "sleep", "60"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(interfaces("multi"), ["eth0", "eth1", "lo"]);
    assert.deepEqual(networksOf("multi"), [NET.name, TWO.name]);
    assert.match(docker(d, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${TWO.name}").IPAddress}}`, "multi"]).stdout.trim(), /^10\.247\.69\.\d+$/);
    assert.equal(docker(d, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${NET.name}").IPAddress}}`, "multi"]).stdout.trim(), "10.247.67.50");
    r = docker(d, ["network", "disconnect", NET.name, "multi"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "connect", "--ip", "10.247.67.51", NET.name, "multi"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(docker(d, ["inspect", "-f", `{{(index .NetworkSettings.Networks "${NET.name}").IPAddress}}`, "multi"]).stdout.trim(), "10.247.67.51");
    assert.match(docker(d, ["exec", "multi", "ip", "-4", "addr"]).stdout, /inet 10\.247\.67\.51\/24/);
    // an address outside the subnet, or a fixed one on the default bridge: refused, nothing joined
    r = docker(d, ["network", "disconnect", NET.name, "multi"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "connect", "--ip", "10.9.9.9", NET.name, "multi"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not a free host address/);
    r = docker(d, ["run", "--rm", "--ip", "10.247.66.77", "busybox", "true"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /user specified IP address is supported on user defined networks only/);
    r = docker(d, ["run", "--rm", "--network", NET.name, "--network", "no-such-net", "busybox", "true"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /network no-such-net not found/);
    assert.deepEqual(interfaces("multi"), ["eth1", "lo"]);
    r = docker(d, ["rm", "-f", "multi"]);
    assert.equal(r.status, 0, r.stderr);
    r = docker(d, ["network", "rm", TWO.name]);
    assert.equal(r.status, 0, r.stderr);
  });
});
