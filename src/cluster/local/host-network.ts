// The cluster's network on the host, kind's docker network made by hand: one bridge with an
// address per node, each node (and each server of an HA cluster) a named network namespace joined to it by a veth (eth0 inside,
// default route via the bridge), and one nft table that masquerades the nodes' traffic when
// it leaves the bridge (pulls from the internet). Pods live behind each node (their own
// bridge inside the node's namespace, made by the node's engine through CNI) and reach other
// nodes' pods by the routes the agents add (host-gw); nothing here knows about pods.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { conflict } from "../../common/errors.ts";
import { run, tryRun } from "./_run.ts";
import { namespacesOf, type ClusterRecord } from "./cluster-record.ts";

/** Where cluster bridges get their /24 from (clear of Gantry's 172.30/16, 10.231/16, 10.42/16, 10.43/16). */
const SUBNET_BASE = [172, 28];

const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
function overlaps(a: string, b: string): boolean {
  const [ia, ba] = a.split("/");
  const [ib, bb] = b.split("/");
  const bits = Math.min(Number(ba ?? 32), Number(bb ?? 32));
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((toInt(ia!) & mask) >>> 0) === ((toInt(ib!) & mask) >>> 0);
}

/** The first 172.28.N.0/24 that no host route and no other cluster (taken) uses. */
export async function chooseBridgeSubnet(taken: string[]): Promise<string> {
  const routes = (JSON.parse(await run("ip", ["-j", "-4", "route", "show", "table", "all"])) as { dst: string }[])
    .map((r) => r.dst)
    .filter((d) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(d) && !d.endsWith("/0"));
  for (let n = 0; n < 256; n++) {
    const subnet = `${SUBNET_BASE[0]}.${SUBNET_BASE[1]}.${n}.0/24`;
    if (taken.includes(subnet) || routes.some((r) => overlaps(r, subnet))) continue;
    return subnet;
  }
  throw conflict(`no free /24 left in ${SUBNET_BASE.join(".")}.0.0/16 for a cluster bridge`, { hint: "delete a cluster (gantry cluster delete NAME)" });
}

export async function setUpHostNetwork(rec: ClusterRecord): Promise<void> {
  await run("ip", ["link", "add", rec.bridge, "type", "bridge"]);
  await run("ip", ["addr", "add", `${rec.gateway}/24`, "dev", rec.bridge]);
  await run("ip", ["link", "set", rec.bridge, "up"]);
  for (const n of namespacesOf(rec)) {
    await run("ip", ["netns", "add", n.netns]);
    await run("ip", ["link", "add", n.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", n.netns]);
    await run("ip", ["link", "set", n.hostVeth, "master", rec.bridge, "up"]);
    await run("ip", ["-n", n.netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", n.netns, "addr", "add", `${n.address}/24`, "dev", "eth0"]);
    await run("ip", ["-n", n.netns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", n.netns, "route", "add", "default", "via", rec.gateway]);
    // A node forwards between its pods' bridge and eth0 (a fresh namespace starts with 0).
    await run("ip", ["netns", "exec", n.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  }
  const script = [
    `table ip ${rec.nftTable}`,
    `delete table ip ${rec.nftTable}`,
    `table ip ${rec.nftTable} {`,
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    ip saddr ${rec.subnet} oifname != "${rec.bridge}" masquerade`,
    "  }",
    "}",
  ].join("\n");
  await runNft(script);
  // The nodes reach beyond the host (registries) through it, as through docker0.
  if (existsSync("/proc/sys/net/ipv4/ip_forward") && readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim() !== "1") writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
}

async function runNft(script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("nft", ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`nft -f -: ${err.trim()}`))));
    child.stdin.end(script + "\n");
  });
}

/**
 * Removes the namespaces (the kernel then destroys their veths, the pods' bridges, routes and
 * nft tables inside), the bridge and the table. What is already gone is skipped.
 */
export async function tearDownHostNetwork(rec: ClusterRecord): Promise<void> {
  for (const n of namespacesOf(rec)) {
    if (existsSync(`/run/netns/${n.netns}`)) await tryRun("ip", ["netns", "del", n.netns]);
    await tryRun("ip", ["link", "del", n.hostVeth]);
  }
  await tryRun("ip", ["link", "del", rec.bridge]);
  await tryRun("nft", ["delete", "table", "ip", rec.nftTable]);
}
