// Reconciliation: what a crash (or a container that went away while the engine was down)
// left behind, found on disk and in the kernel and removed — endpoints, CNI cache entries,
// host-local leases, rules found by their comments, namespace files of the warm pool,
// bridges of networks without containers and idle shared chains.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readJsonIfExists } from "../common/atomic-file.ts";
import { readCache } from "./cni.ts";
import type { CniCacheEntry } from "./cni.ts";
import { loopbackConf } from "./conflist.ts";
import { deleteLink, linkExists, ruleOwners } from "./host-rules.ts";
import { netnsFilesIn, removeNetnsFile } from "./netns-files.ts";
import { AUX_LEASE_OWNER, cniNetworkName, type NetworkRecord, type NetworkRegistry } from "./registry.ts";
import type { HostNetworking } from "./host-networking.ts";
import type { MutationLanes } from "./lanes.ts";
import type { NetworkNames } from "./dns.ts";
import type { Attachments } from "./attach.ts";

export interface ReconcileReport {
  /** "network/container" pairs whose leftovers were removed. */
  removedAttachments: string[];
  removedBridges: string[];
  removedChains: string[];
}

export interface ReconcileParts {
  registry: NetworkRegistry;
  host: HostNetworking;
  lanes: MutationLanes;
  names: NetworkNames;
  attachments: Attachments;
  /** Where prepared namespace files are bound (the warm pool's directory). */
  runDir?: string;
}

/**
 * Removes the leftovers of containers not in `known` and the half-made attachments of known
 * containers that have no endpoint record (a crash between ADD and the record: the engine
 * then sees no endpoint and attaches it afresh), deletes bridges of networks without
 * containers, removes idle shared chains, and starts the DNS servers of networks that still
 * have containers (an engine restart). Runs in the serial lane with the pool paused.
 */
export async function reconcileLeftovers(p: ReconcileParts, known: Set<string>): Promise<ReconcileReport> {
  const { registry, host, attachments } = p;
  const report: ReconcileReport = { removedAttachments: [], removedBridges: [], removedChains: [] };
  // Ready prepared namespaces belong to no container: they go, and the pool refills later.
  await p.lanes.quiesce();
  await attachments.prepared?.drain().catch(() => undefined);
  const byName = new Map(registry.all().map((n) => [cniNetworkName(n), n]));
  // A known container keeps what its endpoint record describes, by the id the plugins know it by.
  const kept = new Set<string>();
  for (const e of registry.allEndpoints())
    if (known.has(e.containerId)) kept.add(`${e.networkId}\0${e.cniContainerId ?? e.containerId}`);
  // (network name, plugin id, ifName) candidates, with the netns we know for them and the
  // container whose endpoint record describes them
  const cands = new Map<
    string,
    { net: NetworkRecord; cniId: string; owner?: string; ifName: string; netns: string; netnsInode?: string }
  >();
  const add = (
    net: NetworkRecord | undefined,
    cniId: string,
    ifName: string,
    netns = "",
    netnsInode?: string,
    owner?: string,
  ) => {
    if (!net || kept.has(`${net.id}\0${cniId}`)) return;
    const key = `${cniNetworkName(net)}\0${cniId}\0${ifName}`;
    const had = cands.get(key);
    if (!had || netnsInode) cands.set(key, { net, cniId, ifName, netns, netnsInode, owner: owner ?? had?.owner });
  };
  for (const n of registry.all())
    for (const e of registry.endpointsOn(n.id))
      add(n, e.cniContainerId ?? e.containerId, e.ifName, e.netns, e.netnsInode, e.containerId);
  // Namespace files no kept endpoint uses (prepared ones a crash left, or whose container
  // is gone) are unbound first: DEL then only releases their leases.
  const inUse = new Set(registry.allEndpoints().filter((e) => known.has(e.containerId)).map((e) => e.netns));
  if (p.runDir)
    for (const f of netnsFilesIn(p.runDir)) if (!inUse.has(f)) await removeNetnsFile(f).catch(() => undefined);
  for (const f of readdirSync(host.cni.cacheDir)) {
    const c = f.endsWith(".json") ? readJsonIfExists<CniCacheEntry>(join(host.cni.cacheDir, f)) : undefined;
    if (c && c.networkName !== loopbackConf().name)
      add(byName.get(c.networkName), c.containerId, c.ifName, c.netns, c.netnsInode);
    else if (c && !known.has(c.containerId)) rmSync(join(host.cni.cacheDir, f), { force: true });
  }
  for (const n of registry.all()) {
    for (const lease of leases(join(registry.ipamDir, cniNetworkName(n)))) add(n, lease.containerId, lease.ifName);
  }
  for (const owner of await ruleOwners()) add(byName.get(owner.network), owner.containerId, "eth0");
  for (const c of cands.values()) {
    const cached = readCache(host.cni, cniNetworkName(c.net), c.cniId, c.ifName);
    await attachments
      .delAttachment(cniNetworkName(c.net), c.cniId, c.ifName, c.netns, c.netnsInode, cached, registry.conflistOf(c.net, true))
      .catch(() => undefined);
    const owner = c.owner ?? c.cniId;
    registry.deleteEndpoint(c.net.id, owner);
    report.removedAttachments.push(`${c.net.name}/${owner}`);
  }
  // host-local dirs of networks that no longer exist
  for (const d of readdirSync(registry.ipamDir))
    if (!byName.has(d)) rmSync(join(registry.ipamDir, d), { recursive: true, force: true });
  for (const n of registry.all()) {
    if ((registry.endpoints.get(n.id)?.size ?? 0) === 0) {
      await p.names.stopServer(n.id);
      if (await linkExists(n.bridge)) {
        await host.locked(() => deleteLink(n.bridge));
        report.removedBridges.push(n.bridge);
      }
    } else if (n.dns) {
      await p.names.ensureServer(n).catch(() => undefined);
    }
  }
  await host.syncRules(registry.all()).catch(() => undefined);
  report.removedChains = await host.locked(() => host.removeIdleSharedChains());
  return report;
}

/** host-local's lease files: named by address, holding "containerId\r\nifName". */
function leases(dir: string): Array<{ address: string; containerId: string; ifName: string }> {
  if (!existsSync(dir)) return [];
  const out: Array<{ address: string; containerId: string; ifName: string }> = [];
  for (const f of readdirSync(dir)) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
    try {
      const [containerId, ifName] = readFileSync(join(dir, f), "utf8").split(/\r?\n/);
      // An auxiliary address's lease belongs to the network, not to a lost attachment.
      if (containerId && containerId.trim() !== AUX_LEASE_OWNER)
        out.push({
          address: f,
          containerId: containerId.trim(),
          ifName: (ifName ?? "eth0").trim() || "eth0",
        });
    } catch {
      /* lease vanished meanwhile */
    }
  }
  return out;
}
