// The default network's prepared namespaces (the warm pool) and the per-network rules, with
// real plugins: a claimed namespace is attached and reachable, a container without published
// ports costs no per-container rule, and no slot outlives detach, close() or a crash.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNetworks } from "../../src/network/index.ts";
import type { EndpointRecord, NetworkLibraryOptions, Networks } from "../../src/network/index.ts";
import { cleanupAll, must, newContainerId, ruleDump, runTag, sh, skipReason } from "./_netns.ts";

const subnet = "10.246.71.0/24";
const routed = !skipReason() && must("ip", ["-4", "route", "show", "table", "all"]).includes("10.246.71.");
const skip = skipReason() ?? (routed ? "10.246.71.0/24 is already routed on this host" : undefined);
const bridge = `${runTag}p`;
let work: string;
let opts: NetworkLibraryOptions;
const opened: Networks[] = [];

async function open(): Promise<Networks> {
  const lib = await openNetworks(opts);
  opened.push(lib);
  return lib;
}

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "gantry-prep-"));
  const hostResolv = join(work, "host-resolv.conf");
  writeFileSync(hostResolv, "nameserver 127.0.0.1\n");
  opts = {
    root: join(work, "state"),
    runDir: join(work, "netns"),
    preparedNamespaces: 2,
    defaultNetwork: { name: "bridge", bridge, subnet },
    dnsUpstreams: [],
    hostResolvConf: hostResolv,
  };
});

after(async () => {
  if (skip) return;
  for (const lib of opened) await lib.close().catch(() => undefined);
  cleanupAll();
  for (const line of must("cat", ["/proc/self/mountinfo"]).split("\n")) {
    const target = line.split(" ")[4];
    if (target?.startsWith(`${work}/`)) sh("umount", [target]);
  }
  sh("ip", ["link", "del", bridge]);
  rmSync(work, { recursive: true, force: true });
});

/** Claims until the pool (filling in the background) has a namespace ready. */
async function claim(lib: Networks, containerId: string): Promise<EndpointRecord> {
  for (let i = 0; i < 200; i++) {
    const ep = lib.claimPrepared({ containerId, containerName: containerId.slice(0, 8), network: "bridge" });
    if (ep) return ep;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no prepared namespace became ready");
}

const slotFiles = () => (existsSync(opts.runDir!) ? readdirSync(opts.runDir!) : []);
const leases = () => {
  const dir = join(opts.root, "ipam", "bridge");
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f)) : [];
};
const vethsOnBridge = () => sh("ip", ["-o", "link", "show", "master", bridge]).out.split("\n").filter(Boolean);

test("a claimed namespace is attached, reaches its gateway, and goes at detach", { skip }, async () => {
  const lib = await open();
  // user networks are never prepared ahead: a claim there falls back to attach
  assert.equal(lib.claimPrepared({ containerId: newContainerId(), network: "no-such" }), undefined);
  const id = newContainerId();
  const ep = await claim(lib, id);
  assert.equal(ep.containerId, id);
  assert.ok(ep.netns.startsWith(opts.runDir!), ep.netns);
  assert.match(ep.address, /^10\.246\.71\.\d+$/);
  assert.deepEqual(lib.endpointsOf(id).map((e) => e.address), [ep.address]);
  const inside = must("nsenter", [`--net=${ep.netns}`, "ip", "-4", "-o", "addr", "show"]);
  assert.match(inside, new RegExp(`eth0\\s+inet ${ep.address.replace(/\./g, "\\.")}/24`));
  assert.match(inside, /lo\s+inet 127\.0\.0\.1/);
  assert.match(must("nsenter", [`--net=${ep.netns}`, "ip", "route"]), /default via 10\.246\.71\.1 dev eth0/);
  assert.equal(sh("nsenter", [`--net=${ep.netns}`, "busybox", "ping", "-c", "1", "-W", "2", "10.246.71.1"]).code, 0, "gateway answers");
  // no port published: no per-container rule anywhere, only the network's masquerade
  assert.doesNotMatch(ruleDump(), new RegExp(id));
  assert.match(
    must("nft", ["list", "table", "inet", lib.isolationTable]),
    /ip saddr 10\.246\.71\.0\/24 ip daddr != 10\.246\.71\.0\/24 ip daddr != 224\.0\.0\.0\/4 masquerade/,
  );
  assert.match(must("iptables", ["-S", lib.ruleNames.chain]), new RegExp(`-i ${bridge} -j ACCEPT`));

  await lib.detachAll(id);
  assert.equal(existsSync(ep.netns), false, "the namespace file is gone");
  assert.deepEqual(lib.endpointsOf(id), []);
  assert.ok(!leases().includes(ep.address), `lease ${ep.address} released`);
  assert.deepEqual(
    readdirSync(join(opts.root, "cni-cache")).filter((f) => f.includes(ep.cniContainerId!)),
    [],
  );
  await lib.close();
  assert.deepEqual(slotFiles(), [], "close() discards the ready namespaces");
  assert.deepEqual(leases(), []);
  assert.equal(sh("ip", ["link", "show", bridge]).code, 1, "the unused bridge goes at close");
  assert.equal(sh("nft", ["list", "table", "inet", lib.isolationTable]).code, 1, "the rules go at close");
  assert.notEqual(sh("iptables", ["-S", lib.ruleNames.chain]).code, 0);
});

test("a running container keeps its claimed namespace across a restart; a crash's ready slots are reconciled", { skip }, async () => {
  const lib = await open();
  const id = newContainerId();
  const ep = await claim(lib, id);
  // let the pool fill up again behind the claim, then "crash" (no close)
  // (the cache entry is written when ADD has finished; the lease earlier, by host-local)
  const added = () => readdirSync(join(opts.root, "cni-cache")).filter((f) => f.startsWith("bridge-gantry-ns-")).length;
  for (let i = 0; i < 200 && added() < 3; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(slotFiles().length, 3, "the claimed one and two ready ones");
  assert.equal(leases().length, 3);

  const again = await open();
  const report = await again.reconcile([id]);
  assert.equal(report.removedAttachments.filter((a) => a.endsWith(id)).length, 0, JSON.stringify(report));
  assert.deepEqual(slotFiles(), [ep.netns.split("/").pop()], "only the running container's namespace stays");
  assert.deepEqual(leases(), [ep.address]);
  assert.equal(vethsOnBridge().length, 1);
  assert.deepEqual(again.endpointsOf(id).map((e) => e.address), [ep.address]);

  // the container is gone too when the engine comes back: nothing is left
  const third = await open();
  await third.reconcile([]);
  assert.deepEqual(slotFiles(), []);
  assert.deepEqual(leases(), []);
  assert.equal(sh("ip", ["link", "show", bridge]).code, 1);
  await third.close();
});
