// Kernel tests of the network library: real CNI plugins, real bridges, namespaces standing in
// for containers. Traffic stays on loopback and inside namespaces these tests create.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { buildResponse, parseQuery } from "../../src/network/dns-packet.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryError } from "../../src/common/errors.ts";
import { openNetworks, parsePublish } from "../../src/network/index.ts";
import type { Networks, NetworkLibraryOptions, NetworkRecord } from "../../src/network/index.ts";
import {
  cleanupAll,
  curlEventually,
  curlIn,
  execIn,
  freeSubnets,
  installContainerFiles,
  makeNetns,
  makeOutsideNetns,
  must,
  newContainerId,
  nsName,
  nsPath,
  onCleanup,
  ruleDump,
  runTag,
  sh,
  skipReason,
  startHttpd,
} from "./_netns.ts";

const skip = skipReason();
let lib: Networks;
let libOptions: NetworkLibraryOptions;
let root: string;
let work: string;
let subnets: string[] = [];
// The outside namespace's /30 differs per run, so two runs at once do not share an address.
const outsideBase = (process.pid % 60) * 4;
const outsideHost = `10.231.252.${outsideBase + 1}`;
const outsidePeer = `10.231.252.${outsideBase + 2}`;

const isCode = (code: string) => (e: unknown) => e instanceof GantryError && e.code === code;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "gantry-net-"));
  root = join(work, "state");
  subnets = freeSubnets(11);
  const hostResolv = join(work, "host-resolv.conf");
  writeFileSync(hostResolv, "nameserver 127.0.0.1\n");
  libOptions = {
    root,
    defaultNetwork: { name: "bridge", bridge: `${runTag}d`, subnet: subnets[0] },
    dnsUpstreams: [],
    hostResolvConf: hostResolv,
  };
  lib = await openNetworks(libOptions);
  makeOutsideNetns("out", outsideHost, outsidePeer);
});

after(async () => {
  if (skip) return;
  try {
    await lib.reconcile([]);
    for (const n of lib.list()) if (!n.isDefault) await lib.remove(n.id).catch(() => undefined);
    await lib.close();
  } finally {
    cleanupAll();
    // Whatever a failed test left: our bridges and isolation tables by name.
    for (const line of sh("ip", ["-o", "link", "show"]).out.split("\n")) {
      const m = /^\d+: ([^:@]+)/.exec(line);
      if (m && m[1]!.startsWith(runTag)) sh("ip", ["link", "del", m[1]!]);
    }
    rmSync(work, { recursive: true, force: true });
  }
});

function containerFiles(id: string, name: string, hostname: string, extra: string[] = []) {
  const files = lib.containerFiles({
    containerId: id,
    hostname,
    extraHosts: extra,
    dir: join(work, "ctr", id),
  });
  installContainerFiles(name, files);
  return files;
}

async function userNetwork(
  suffix: string,
  subnet: string,
  extra: { internal?: boolean } = {},
): Promise<NetworkRecord> {
  const n = await lib.create({ name: `${runTag}-${suffix}`, subnet, labels: { test: runTag }, ...extra });
  onCleanup(() => void lib.remove(n.id).catch(() => undefined));
  return n;
}

test(
  "two containers on a user network reach each other by IP, name, alias and id prefix",
  { skip },
  async () => {
    const net = await userNetwork("app", subnets[1]!);
    const web = newContainerId();
    const client = newContainerId();
    const webEp = await lib.attach({
      containerId: web,
      containerName: "web",
      aliases: ["www"],
      netns: makeNetns("web"),
      network: net.name,
    });
    const clientEp = await lib.attach({
      containerId: client,
      containerName: "client",
      netns: makeNetns("client"),
      network: net.id.slice(0, 10),
    });
    assert.equal(webEp.ifName, "eth0");
    assert.ok(webEp.address.startsWith(subnets[1]!.slice(0, -4)));
    containerFiles(web, "web", "web");
    const files = containerFiles(client, "client", "client", ["db:10.231.9.9"]);
    assert.match(
      readFileSync(files.resolvConf, "utf8"),
      new RegExp(`nameserver ${net.gateway.replace(/\./g, "\\.")}`),
    );
    assert.match(readFileSync(files.hosts, "utf8"), new RegExp(`${clientEp.address}\\tclient`));
    assert.match(readFileSync(files.hosts, "utf8"), /10\.231\.9\.9\tdb/);
    startHttpd("web", join(work, "www-web"), "hello from web\n");

    assert.equal((await curlEventually("client", `http://${webEp.address}/`)).out, "hello from web\n");
    for (const host of ["web", "www", `web.${net.name}`, web.slice(0, 12)]) {
      const r = await curlIn("client", `http://${host}/`);
      assert.equal(r.out, "hello from web\n", `by ${host}: ${r.err}`);
    }
    // lo came up through the loopback plugin
    assert.match(
      must("ip", ["netns", "exec", nsName("web"), "ip", "-br", "addr", "show", "lo"]),
      /UNKNOWN|UP/,
    );
    await lib.check(web, net.name);
    const { endpoints } = lib.inspect(net.name);
    assert.deepEqual(endpoints.map((e) => e.containerName).sort(), ["client", "web"]);
    await lib.detachAll(web);
    await lib.detachAll(client);
  },
);

test(
  "a published port answers on 127.0.0.1, from another namespace, hairpin, and random ports work",
  { skip },
  async () => {
    const net = await userNetwork("pub", subnets[2]!);
    const id = newContainerId();
    const fixed = 20000 + (process.pid % 20000);
    const ep = await lib.attach({
      containerId: id,
      containerName: "pub",
      netns: makeNetns("pub"),
      network: net.name,
      ports: [...parsePublish(`${fixed}:80`), ...parsePublish("127.0.0.1::80")],
    });
    const random = ep.ports[1]!;
    assert.ok(random.hostPort > 0 && random.hostIp === "127.0.0.1", JSON.stringify(ep.ports));
    startHttpd("pub", join(work, "www-pub"), "published\n");
    assert.equal((await curlEventually(undefined, `http://127.0.0.1:${fixed}/`)).out, "published\n");
    assert.equal((await curlIn(undefined, `http://127.0.0.1:${random.hostPort}/`)).out, "published\n");
    const fromOutside = await curlIn("out", `http://${outsideHost}:${fixed}/`);
    assert.equal(fromOutside.out, "published\n", fromOutside.err);
    const hairpin = await curlIn("pub", `http://${net.gateway}:${fixed}/`);
    assert.equal(hairpin.out, "published\n", hairpin.err);

    // another container on another network reaches it through the host port too
    const other = newContainerId();
    await lib.attach({
      containerId: other,
      containerName: "other",
      netns: makeNetns("other"),
      network: "bridge",
    });
    const viaDefault = await curlIn("other", `http://${lib.get("bridge").gateway}:${fixed}/`);
    assert.equal(viaDefault.out, "published\n", viaDefault.err);
    // ...but not straight to its address: user networks are isolated from each other
    const direct = await curlIn("other", `http://${ep.address}/`, 2);
    assert.notEqual(direct.code, 0, "a container on another network reached the container's address");

    // the same host port again is refused, and the refused container is left with nothing
    const dup = newContainerId();
    const dupNs = makeNetns("dup");
    await assert.rejects(
      lib.attach({ containerId: dup, netns: dupNs, network: net.name, ports: parsePublish(`${fixed}:81`) }),
      (e: unknown) => isCode("CONFLICT")(e) && /port is already allocated/.test((e as Error).message),
    );
    assert.doesNotMatch(must("ip", ["netns", "exec", nsName("dup"), "ip", "-br", "link"]), /eth0/);
    await lib.detachAll(id);
    await lib.detachAll(other);
    assert.notEqual((await curlIn(undefined, `http://127.0.0.1:${fixed}/`, 1)).code, 0);
  },
);

test(
  "outbound traffic is masqueraded; an internal network has no default route and no masquerade",
  { skip },
  async () => {
    const net = await userNetwork("nat", subnets[3]!);
    const internal = await userNetwork("int", subnets[4]!, { internal: true });
    startHttpd("out", join(work, "www-out"), "outside\n");
    const a = newContainerId();
    await lib.attach({ containerId: a, containerName: "a", netns: makeNetns("a"), network: net.name });
    // The outside namespace has no route back to the container subnet: only a masqueraded
    // connection (source rewritten to the host's veth address) can be answered.
    const r = await curlEventually("a", `http://${outsidePeer}/`);
    assert.equal(r.out, "outside\n", r.err);
    assert.doesNotMatch(
      must("ip", ["netns", "exec", nsName("out"), "ip", "route"]),
      /10\.231\.1[6-9]\d|10\.231\.2[0-4]\d/,
    );

    const b = newContainerId();
    const c = newContainerId();
    await lib.attach({ containerId: b, containerName: "b", netns: makeNetns("b"), network: internal.name });
    await lib.attach({ containerId: c, containerName: "c", netns: makeNetns("c"), network: internal.name });
    const routes = must("ip", ["netns", "exec", nsName("b"), "ip", "route"]);
    assert.doesNotMatch(routes, /default/);
    assert.match(routes, new RegExp(internal.subnet.replace(/\./g, "\\.")));
    assert.doesNotMatch(ruleDump(), new RegExp(`name: \\\\"${internal.name}\\\\"`));
    // names still resolve inside the internal network (DNS is on the bridge)
    containerFiles(b, "b", "b");
    startHttpd("c", join(work, "www-c"), "internal peer\n");
    assert.equal((await curlEventually("b", "http://c/")).out, "internal peer\n");
    // no route: the kernel refuses at once, nothing is sent
    const blocked = await curlIn("b", `http://${outsidePeer}/`, 2);
    assert.notEqual(blocked.code, 0);
    assert.match(
      must("nft", ["list", "table", "inet", lib.isolationTable]),
      new RegExp(`iifname "${internal.bridge}" oifname != "${internal.bridge}" drop`),
    );
    await assert.rejects(
      lib.attach({
        containerId: newContainerId(),
        netns: makeNetns("d"),
        network: internal.name,
        ports: parsePublish("80"),
      }),
      isCode("INVALID_ARGUMENT"),
    );
    for (const id of [a, b, c]) await lib.detachAll(id);
  },
);

test(
  "a container on two networks resolves names on both, forwards unknown names to its --dns, and DNS resumes after a restart",
  { skip },
  async () => {
    const front = await userNetwork("front", subnets[8]!);
    const back = await userNetwork("back", subnets[9]!);
    // a fake upstream resolver on the host's loopback: every name is 10.231.9.99
    const upstream = createSocket("udp4");
    await new Promise<void>((res) => upstream.bind(0, "127.0.0.1", res));
    onCleanup(() => upstream.close());
    upstream.on("message", (msg, r) => {
      const q = parseQuery(msg);
      upstream.send(
        buildResponse(q, 0, [{ type: "A", name: q.name, address: "10.231.9.99", ttl: 1 }]),
        r.port,
        r.address,
      );
    });
    const x = newContainerId();
    const y = newContainerId();
    await lib.attach({
      containerId: x,
      containerName: "x",
      netns: makeNetns("x"),
      network: front.name,
      dns: [`127.0.0.1:${upstream.address().port}`],
    });
    const xBack = await lib.attach({
      containerId: x,
      containerName: "x",
      netns: nsPath("x"),
      network: back.name,
    });
    assert.equal(xBack.ifName, "eth1");
    const yEp = await lib.attach({
      containerId: y,
      containerName: "y",
      netns: makeNetns("y"),
      network: back.name,
    });
    const files = containerFiles(x, "x", "x");
    assert.match(readFileSync(files.hosts, "utf8"), new RegExp(xBack.address.replace(/\./g, "\\.")));
    startHttpd("y", join(work, "www-y"), "y on back\n");
    assert.equal(
      (await curlEventually("x", "http://y/")).out,
      "y on back\n",
      "x asks front's server about y, which is on back",
    );
    const ext = await execIn("x", ["busybox", "nslookup", "external.test"]);
    assert.match(ext.out, /10\.231\.9\.99/, ext.out + ext.err);

    // engine restart: the library is reopened and reconciled with both containers alive
    await lib.close();
    lib = await openNetworks(libOptions);
    const report = await lib.reconcile([x, y]);
    assert.deepEqual(
      report.removedAttachments.filter((a) => a.endsWith(x) || a.endsWith(y)),
      [],
      "live containers keep their attachments",
    );
    assert.equal((await curlIn("x", "http://y/")).out, "y on back\n");
    assert.deepEqual(lib.resolve(back.id, "y"), [yEp.address]);
    await lib.detachAll(x);
    await lib.detachAll(y);
  },
);

test("after detach and rm no veth, rule, lease, bridge or cache entry is left", { skip }, async () => {
  const net = await userNetwork("gone", subnets[5]!);
  const ids = [newContainerId(), newContainerId()];
  await lib.attach({
    containerId: ids[0]!,
    containerName: "g1",
    netns: makeNetns("g1"),
    network: net.name,
    ports: parsePublish("127.0.0.1::80"),
  });
  await lib.attach({ containerId: ids[1]!, containerName: "g2", netns: makeNetns("g2"), network: net.name });
  const during = ruleDump();
  assert.match(during, new RegExp(ids[0]!));
  assert.match(must("ip", ["-o", "link", "show", "master", net.bridge]), /veth/);
  assert.equal(readdirSync(join(root, "ipam", net.name)).filter((f) => /^\d/.test(f)).length, 2);

  await lib.detach(ids[0]!, net.name);
  // One container left: its veth stays, the other's rules are gone.
  assert.doesNotMatch(ruleDump(), new RegExp(ids[0]!));
  assert.equal(must("ip", ["-o", "link", "show", "master", net.bridge]).trim().split("\n").length, 1);
  await lib.detach(ids[1]!, net.name);
  await lib.remove(net.name);

  const afterAll = ruleDump();
  for (const id of ids) assert.doesNotMatch(afterAll, new RegExp(id));
  assert.doesNotMatch(afterAll, new RegExp(net.name));
  assert.equal(sh("ip", ["link", "show", net.bridge]).code, 1, "bridge removed");
  assert.equal(existsSync(join(root, "ipam", net.name)), false, "leases removed");
  assert.deepEqual(
    readdirSync(join(root, "cni-cache")).filter((f) => f.includes(ids[0]!) || f.includes(ids[1]!)),
    [],
  );
  assert.throws(() => lib.get(net.name), isCode("NOT_FOUND"));
});

test(
  "reconcile removes what a crash left: a container whose namespace vanished and an engine that never detached",
  { skip },
  async () => {
    const net = await userNetwork("crash", subnets[6]!);
    const id = newContainerId();
    const ns = makeNetns("crash");
    await lib.attach({
      containerId: id,
      containerName: "crash",
      netns: ns,
      network: net.name,
      ports: parsePublish("127.0.0.1::80"),
    });
    assert.match(ruleDump(), new RegExp(id));
    // The container dies without a detach: its namespace goes, the bridge plugin can no longer
    // see its address, so its masquerade chain would stay without reconcile.
    must("ip", ["netns", "del", nsName("crash")]);
    await lib.close();
    lib = await openNetworks(libOptions);
    const report = await lib.reconcile([]);
    assert.ok(report.removedAttachments.includes(`${net.name}/${id}`), JSON.stringify(report));
    assert.doesNotMatch(ruleDump(), new RegExp(id));
    assert.equal(sh("ip", ["link", "show", net.bridge]).code, 1);
    assert.deepEqual(
      readdirSync(join(root, "ipam", net.name)).filter((f) => /^\d/.test(f)),
      [],
    );
    assert.equal(lib.inspect(net.name).endpoints.length, 0);

    // A live container the engine knows, whose endpoint record was lost (a crash between the
    // plugins' ADD and the record): its half-attachment goes, veth included, so the engine can
    // attach it afresh.
    const known = newContainerId();
    const knownNs = makeNetns("known");
    const ep = await lib.attach({
      containerId: known,
      containerName: "known",
      netns: knownNs,
      network: net.name,
      ports: parsePublish("127.0.0.1::80"),
    });
    rmSync(join(root, "endpoints", net.id, `${known}.json`));
    await lib.close();
    lib = await openNetworks(libOptions);
    const again = await lib.reconcile([known]);
    assert.ok(again.removedAttachments.includes(`${net.name}/${known}`), JSON.stringify(again));
    assert.doesNotMatch(ruleDump(), new RegExp(known));
    assert.doesNotMatch(must("ip", ["netns", "exec", nsName("known"), "ip", "-br", "link"]), /eth0/);
    const fresh = await lib.attach({
      containerId: known,
      containerName: "known",
      netns: knownNs,
      network: net.name,
    });
    assert.equal(fresh.ifName, "eth0");
    assert.ok(fresh.address !== "" && ep.address !== "");
    await lib.detachAll(known);
    await lib.remove(net.name);
  },
);

test("bad input gets clear errors and leaves nothing half-made", { skip }, async () => {
  const before = readdirSync(join(root, "networks")).sort();
  const net = await userNetwork("bad", subnets[7]!);
  await assert.rejects(
    lib.create({ name: `${runTag}-overlap`, subnet: subnets[7]!.replace(/0\/24$/, "128/25") }),
    (e: unknown) => isCode("CONFLICT")(e) && /overlaps with network/.test((e as Error).message),
  );
  await assert.rejects(
    lib.create({ name: `${runTag}-hostclash`, subnet: "192.0.2.0/24" }),
    /overlaps with the host route|overlaps/,
  );
  await assert.rejects(
    lib.create({ name: `${runTag}-x`, subnet: "10.231.300.0/24" }),
    isCode("INVALID_ARGUMENT"),
  );
  await assert.rejects(
    lib.create({ name: `${runTag}-x`, subnet: "10.231.251.0/24", gateway: "10.231.9.1" }),
    /not a usable address/,
  );
  // Any non-blank name is dockerd's rule ("my net" is fine); a blank one is refused.
  await assert.rejects(lib.create({ name: "  " }), isCode("INVALID_ARGUMENT"));
  await assert.rejects(lib.create({ name: net.name, subnet: "10.231.251.0/24" }), isCode("ALREADY_EXISTS"));
  await assert.rejects(
    lib.create({
      name: `${runTag}-y`,
      subnet: "10.231.251.0/24",
      options: { "com.docker.network.bridge.name": "much-too-long-bridge" },
    }),
    /invalid bridge name/,
  );
  await assert.rejects(lib.create({ name: `${runTag}-z`, driver: "overlay" }), isCode("UNSUPPORTED_OPTION"));
  assert.deepEqual(
    readdirSync(join(root, "networks")).sort().length,
    before.length + 2,
    "only the one good network's two files were added",
  );

  await assert.rejects(
    lib.attach({ containerId: newContainerId(), netns: makeNetns("u"), network: "no-such-network" }),
    isCode("NOT_FOUND"),
  );
  await assert.rejects(
    lib.attach({ containerId: newContainerId(), netns: "/var/run/netns/does-not-exist", network: net.name }),
    isCode("INVALID_ARGUMENT"),
  );
  await assert.rejects(
    lib.attach({ containerId: newContainerId(), netns: "/proc/self/ns/net", network: net.name }),
    /host's network namespace/,
  );
  await assert.rejects(
    lib.attach({ containerId: newContainerId(), netns: makeNetns("ip"), network: net.name, ip: "10.0.0.1" }),
    /not a free host address/,
  );

  // --ip-range: addresses come from the sub-range only
  const ranged = await lib.create({
    name: `${runTag}-range`,
    subnet: subnets[10]!,
    ipRange: subnets[10]!.replace(/0\/24$/, "128/25"),
  });
  const rid = newContainerId();
  const rep = await lib.attach({ containerId: rid, netns: makeNetns("range"), network: ranged.name });
  assert.ok(Number(rep.address.split(".")[3]) >= 128, rep.address);
  await lib.detachAll(rid);
  await lib.remove(ranged.name);
  await assert.rejects(
    lib.create({ name: `${runTag}-r2`, subnet: subnets[10]!, ipRange: "10.0.0.0/25" }),
    /is not inside subnet/,
  );

  // a fixed address; the same address again fails inside the IPAM plugin, and that failed
  // ADD leaves no veth, lease or endpoint behind
  const fixedIp = net.subnet.replace(/0\/24$/, "50");
  const first = newContainerId();
  assert.equal(
    (await lib.attach({ containerId: first, netns: makeNetns("ip1"), network: net.name, ip: fixedIp }))
      .address,
    fixedIp,
  );
  const second = newContainerId();
  await assert.rejects(
    lib.attach({ containerId: second, netns: makeNetns("ip2"), network: net.name, ip: fixedIp }),
    (e: unknown) =>
      isCode("NETWORK_PLUGIN_FAILED")(e) && /host-local|not available|allocated/.test((e as Error).message),
  );
  assert.doesNotMatch(must("ip", ["netns", "exec", nsName("ip2"), "ip", "-br", "link"]), /eth0/);
  assert.deepEqual(
    readdirSync(join(root, "ipam", net.name)).filter((f) => /^\d/.test(f)),
    [fixedIp],
  );
  assert.equal(must("ip", ["-o", "link", "show", "master", net.bridge]).trim().split("\n").length, 1);
  await lib.detachAll(first);

  // a host process holds the port: refused before the plugins run, nothing left in the namespace
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  onCleanup(() => server.close());
  const busy = (server.address() as { port: number }).port;
  const id = newContainerId();
  await assert.rejects(
    lib.attach({
      containerId: id,
      netns: makeNetns("busy"),
      network: net.name,
      ports: parsePublish(`127.0.0.1:${busy}:80`),
    }),
    (e: unknown) => isCode("CONFLICT")(e) && /already in use/.test((e as Error).message),
  );
  assert.doesNotMatch(must("ip", ["netns", "exec", nsName("busy"), "ip", "-br", "link"]), /eth0/);
  assert.doesNotMatch(ruleDump(), new RegExp(id));
  assert.equal(lib.inspect(net.name).endpoints.length, 0);

  // a network with a container cannot be removed
  const holder = newContainerId();
  await lib.attach({ containerId: holder, netns: makeNetns("holder"), network: net.name });
  await assert.rejects(
    lib.remove(net.name),
    (e: unknown) => isCode("CONFLICT")(e) && /active endpoints/.test((e as Error).message),
  );
  await assert.rejects(lib.remove("bridge"), /pre-defined network/);
  await lib.detachAll(holder);
  const pruned = await lib.prune({ label: { test: runTag } });
  assert.ok(pruned.includes(net.name), pruned.join(","));
  assert.ok(!pruned.includes("bridge"));
});
