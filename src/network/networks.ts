// The network library the engine calls: one `Networks` object per state root, made of
//   registry.ts         networks and endpoints, in memory and on disk; create's checks
//   attach.ts           CNI ADD/CHECK/DEL of container namespaces, published ports, warm pool
//   dns.ts              embedded DNS servers and the hosts/resolv.conf files of containers
//   reconcile.ts        removal of what a crash left behind
//   host-networking.ts  the host-wide lock, this root's rules, portmap's shared chains
//   lanes.ts            mutations one at a time; background tasks beside them
// This module orders the calls (every mutation in the serial lane) and is the only one the
// rest of Gantry imports (through index.ts).
//
// State (one writer: the process that opened the root): registry.ts lists the record files;
//   <root>/cni-cache/<net>-<ctr>-<if>.json CNI ADD results for CHECK and DEL
//   <runDir>/gantry-ns-<hex>             bound namespace files of the warm pool (volatile)
import { mkdirSync } from "node:fs";
import { GantryError, conflict } from "../common/errors.ts";
import type { CniConflist } from "./cni.ts";
import { deleteLink } from "./host-rules.ts";
import type { NetworkRuleNames } from "./network-rules.ts";
import type { ContainerFilePaths } from "./container-files.ts";
import { NetworkRegistry } from "./registry.ts";
import type { EndpointRecord, NetworkCreateOptions, NetworkRecord } from "./registry.ts";
import { HostNetworking } from "./host-networking.ts";
import { MutationLanes } from "./lanes.ts";
import { NetworkNames } from "./dns.ts";
import type { ContainerFilesOptions } from "./dns.ts";
import { Attachments } from "./attach.ts";
import type { AttachOptions } from "./attach.ts";
import { reconcileLeftovers } from "./reconcile.ts";
import type { ReconcileReport } from "./reconcile.ts";

export type { EndpointRecord, NetworkCreateOptions, NetworkRecord } from "./registry.ts";
export type { AttachOptions } from "./attach.ts";
export type { ContainerFilesOptions } from "./dns.ts";
export type { ReconcileReport } from "./reconcile.ts";

export interface NetworkLibraryOptions {
  /** State directory, e.g. /var/lib/gantry/network. */
  root: string;
  /** Where the CNI plugins are; default /usr/lib/cni then /opt/cni/bin. */
  pluginDirs?: string[];
  /**
   * The default network; `false` for none. Default: "bridge" on gantry0, 172.30.0.0/16.
   * noMasqueradeTo: a range its traffic reaches unmasqueraded (a node agent's cluster CIDR).
   */
  defaultNetwork?: { name?: string; bridge?: string; subnet?: string; gateway?: string; noMasqueradeTo?: string } | false;
  /** Pool that networks without --subnet get a /24 from; default 10.231.0.0/16. */
  subnetPool?: string;
  /** Where unknown names go when a container has no --dns; default the host's resolvers. */
  dnsUpstreams?: string[];
  /** Host resolv.conf, for containers without embedded DNS; default /etc/resolv.conf. */
  hostResolvConf?: string;
  /** Admin chain of the firewall plugin, which earlier versions used (its leftovers are
   * still removed); default GANTRY-ADMIN. */
  firewallAdminChain?: string;
  /** Host-wide lock file; default /run/gantry/network.lock. */
  hostLock?: string;
  /** Volatile directory for namespace files (e.g. <exec-root>/netns); without it no
   * namespaces are prepared ahead. */
  runDir?: string;
  /** Namespaces kept attached to the default network ahead of need; default 4 (a burst of
   * four `run`s, what the engine bench starts at once, finds one each). */
  preparedNamespaces?: number;
}

const DEFAULT_BRIDGE_SUBNETS = [
  "172.30.0.0/16",
  "172.29.0.0/16",
  "172.28.0.0/16",
  "172.27.0.0/16",
  "10.232.0.0/16",
  "192.168.231.0/24",
];

/** Opens (and on first use creates) the network state at `opts.root`. */
export async function openNetworks(opts: NetworkLibraryOptions): Promise<Networks> {
  const lib = new Networks(opts);
  await lib.load();
  return lib;
}

export class Networks {
  readonly root: string;
  private readonly registry: NetworkRegistry;
  private readonly host: HostNetworking;
  private readonly lanes = new MutationLanes();
  private readonly names: NetworkNames;
  private readonly attachments: Attachments;

  constructor(private readonly opts: NetworkLibraryOptions) {
    this.root = opts.root;
    this.registry = new NetworkRegistry(opts.root, opts.subnetPool);
    this.host = new HostNetworking({ ...opts, defaultNoMasqueradeTo: opts.defaultNetwork ? opts.defaultNetwork.noMasqueradeTo : undefined });
    this.names = new NetworkNames(this.registry, opts);
    this.attachments = new Attachments(this.registry, this.host, this.lanes, this.names, {
      runDir: opts.runDir,
      size: opts.preparedNamespaces,
    });
  }

  async load(): Promise<void> {
    this.registry.load();
    for (const d of this.opts.runDir ? [this.host.cni.cacheDir, this.opts.runDir] : [this.host.cni.cacheDir])
      mkdirSync(d, { recursive: true, mode: 0o700 });
    const def = this.opts.defaultNetwork;
    if (def === false || this.registry.all().some((n) => n.isDefault)) return;
    // Without a configured subnet, the first of these the host does not route is taken
    // (a host with 172.30/16 in use must still get a default network, as Docker does).
    const candidates = def?.subnet ? [def.subnet] : DEFAULT_BRIDGE_SUBNETS;
    let lastErr: unknown;
    for (const subnet of candidates) {
      try {
        await this.lanes.serial(() =>
          this.createLocked(
            {
              name: def?.name ?? "bridge",
              subnet,
              gateway: def?.subnet ? def.gateway : undefined,
              options: { "com.docker.network.bridge.name": def?.bridge ?? "gantry0" },
            },
            true,
          ),
        );
        return;
      } catch (err) {
        if (!(err instanceof GantryError && err.code === "CONFLICT" && /overlaps/.test(err.message))) throw err;
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** nft table with this root's isolation and masquerade rules (one per state root). */
  get isolationTable(): string {
    return this.ruleNames.table;
  }

  /** Where this root's per-network rules live (network-rules.ts). */
  get ruleNames(): NetworkRuleNames {
    return this.host.ruleNames;
  }

  // ---- queries ------------------------------------------------------------------------

  list(filter?: { name?: string; label?: Record<string, string | undefined> }): NetworkRecord[] {
    return this.registry.list(filter);
  }

  /** By exact id, exact name, then unique id prefix (Docker's order). */
  get(idOrName: string): NetworkRecord {
    return this.registry.get(idOrName);
  }

  inspect(idOrName: string): { network: NetworkRecord; endpoints: EndpointRecord[] } {
    const network = this.registry.get(idOrName);
    return { network, endpoints: this.registry.endpointsOn(network.id) };
  }

  /** The container's endpoints on every network. */
  endpointsOf(containerId: string): EndpointRecord[] {
    return this.registry.endpointsOf(containerId);
  }

  conflistPath(networkId: string): string {
    return this.registry.conflistPath(networkId);
  }

  /** The plugin list of one attachment to `n` (`ports`: the container publishes some). */
  conflistOf(n: NetworkRecord, ports = false): CniConflist {
    return this.registry.conflistOf(n, ports);
  }

  // ---- create / remove ------------------------------------------------------------------

  create(o: NetworkCreateOptions): Promise<NetworkRecord> {
    return this.lanes.serial(() => this.createLocked(o, false));
  }

  /** Everything the network is, made in an order that a failure can undo; the record is
   * written last, so a crash before it leaves an orphan conflist that load() removes. */
  private async createLocked(o: NetworkCreateOptions, isDefault: boolean): Promise<NetworkRecord> {
    const rec = await this.registry.plan(o, isDefault);
    try {
      await this.host.syncRules([...this.registry.all(), rec]);
      this.registry.commit(rec);
    } catch (err) {
      await this.host.syncRules(this.registry.all()).catch(() => undefined);
      throw err;
    }
    return rec;
  }

  remove(idOrName: string): Promise<void> {
    return this.lanes.serial(async () => {
      const n = this.registry.get(idOrName);
      if (n.isDefault)
        throw new GantryError("CONFLICT", `${n.name} is a pre-defined network and cannot be removed`);
      const eps = this.registry.endpointsOn(n.id);
      if (eps.length > 0) {
        throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints`, {
          hint: `disconnect ${eps.map((e) => e.containerName || e.containerId.slice(0, 12)).join(", ")} first`,
        });
      }
      await this.removeLocked(n);
    });
  }

  private async removeLocked(n: NetworkRecord): Promise<void> {
    await this.names.stopServer(n.id);
    await this.host.locked(async () => {
      await deleteLink(n.bridge);
      await this.host.syncRules(this.registry.all().filter((x) => x.id !== n.id));
      await this.host.removeIdleSharedChains();
    });
    this.registry.delete(n);
  }

  /** Removes every user network without endpoints (optionally only those with the labels). */
  prune(filter?: { label?: Record<string, string | undefined> }): Promise<string[]> {
    return this.lanes.serial(async () => {
      const removed: string[] = [];
      for (const n of this.registry.list(filter)) {
        if (n.isDefault || this.registry.endpointsOn(n.id).length > 0) continue;
        await this.removeLocked(n);
        removed.push(n.name);
      }
      return removed;
    });
  }

  // ---- attach / detach (attach.ts) ------------------------------------------------------

  /** Connects a container's network namespace to a network (Docker's connect, or run's first network). */
  attach(o: AttachOptions): Promise<EndpointRecord> {
    return this.lanes.serial(() => this.attachments.attachLocked(o));
  }

  /** A prepared attachment of the default network, or undefined (attach.ts, synchronous). */
  claimPrepared(o: { containerId: string; containerName?: string; network: string }): EndpointRecord | undefined {
    return this.attachments.claimPrepared(o);
  }

  /** `--network none`: only `lo`, brought up by the loopback plugin. */
  bringUpLoopback(containerId: string, netns: string): Promise<void> {
    return this.lanes.serial(() => this.attachments.bringUpLoopbackLocked(containerId, netns));
  }

  /** Disconnects a container from one network; `force` also forgets an endpoint whose DEL failed. */
  detach(containerId: string, network: string, force = false): Promise<void> {
    return this.lanes.serial(() => this.attachments.detachOneLocked(containerId, network, force));
  }

  /** Disconnects a container from every network it is on: forgotten at once, DEL queued (attach.ts). */
  detachAll(containerId: string): Promise<void> {
    return this.attachments.detachAll(containerId);
  }

  /** CNI CHECK of one attachment: throws NETWORK_PLUGIN_FAILED when the plumbing is broken. */
  check(containerId: string, network: string): Promise<void> {
    return this.lanes.serial(() => this.attachments.checkLocked(containerId, network));
  }

  // ---- names (dns.ts) -------------------------------------------------------------------

  /** What network `networkId`'s DNS server answers the container at `client` for `name`. */
  resolve(networkId: string, name: string, client?: string, family: 4 | 6 = 4): string[] {
    return this.names.resolve(networkId, name, client, family);
  }

  /** Writes hosts, hostname and resolv.conf for a container into `o.dir`. */
  containerFiles(o: ContainerFilesOptions): ContainerFilePaths {
    return this.names.containerFiles(o);
  }

  // ---- reconciliation and close -----------------------------------------------------------

  /**
   * Removes the leftovers of containers not in `knownContainers` and what a crash left of
   * known ones (reconcile.ts); no namespace is prepared meanwhile (its file would look like
   * a leftover).
   */
  reconcile(knownContainers: Iterable<string>): Promise<ReconcileReport> {
    return this.lanes.serial(async () => {
      const prepared = this.attachments.prepared;
      prepared?.pause();
      try {
        return await reconcileLeftovers(
          {
            registry: this.registry,
            host: this.host,
            lanes: this.lanes,
            names: this.names,
            attachments: this.attachments,
            runDir: this.opts.runDir,
          },
          new Set(knownContainers),
        );
      } finally {
        prepared?.resume();
      }
    });
  }

  /**
   * Stops the DNS servers. Containers that still run keep their network (the engine re-adopts
   * them after a restart), so their bridges and the root's rules stay; bridges no container
   * uses go, and with no container left on any network the root's rules go too: a stopped
   * daemon leaves nothing of an unused network behind.
   */
  async close(): Promise<void> {
    await this.lanes.serial(async () => {
      const prepared = this.attachments.prepared;
      prepared?.pause();
      await this.lanes.quiesce();
      await prepared?.drain().catch(() => undefined);
      await this.names.stopAll();
      await this.host.locked(async () => {
        for (const n of this.registry.all())
          if (this.registry.endpointsOn(n.id).length === 0) await deleteLink(n.bridge).catch(() => undefined);
        if (this.registry.allEndpoints().length > 0) return;
        await this.host.removeRules();
        await this.host.removeIdleSharedChains().catch(() => undefined);
      });
    });
  }
}
