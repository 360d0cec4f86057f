// The network library the engine calls: a registry of bridge networks persisted under a state
// root, attachment of container network namespaces through the CNI plugins, published ports,
// the embedded DNS server of each user network, per-container hosts/resolv.conf files, and
// reconciliation of whatever a crash left behind.
//
// State (one writer: the process that opened the root):
//   <root>/networks/<id>.json            the network (written last: the commit point)
//   <root>/networks/<id>.conflist        the CNI conflist made from it
//   <root>/endpoints/<id>/<container>.json one attachment
//   <root>/cni-cache/<net>-<ctr>-<if>.json CNI ADD results for CHECK and DEL
//   <root>/ipam/<net>/                   host-local's leases (its dataDir)
//   <runDir>/gantry-ns-<hex>             bound namespace files of the warm pool (volatile)
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { GantryError, invalidArgument, notFound, conflict } from "../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../common/atomic-file.ts";
import {
  attachmentOf,
  inodeOf,
  cniAdd,
  cniCheck,
  cniDel,
  readCache,
  resultAddress,
  resultMac,
} from "./cni.ts";
import type { CniAttachment, CniConflist, CniOptions, CniCacheEntry, CniResult } from "./cni.ts";
import { buildConflist, loopbackConf, mayLeaveRules } from "./conflist.ts";
import {
  formatIpv4,
  formatSubnet,
  firstHost,
  isReservedAddress,
  parseIpv4,
  parseSubnet,
  routeDestination,
  subnetContains,
  subnetsOverlap,
} from "./subnet.ts";
import type { Subnet } from "./subnet.ts";
import { describeMapping, mappingsClash, probeHostPort } from "./ports.ts";
import type { PortMapping } from "./ports.ts";
import { EmbeddedDnsServer } from "./dns-server.ts";
import {
  hostNameservers,
  parseAddHost,
  renderHosts,
  renderResolvConf,
  validateHostname,
  writeContainerFiles,
} from "./container-files.ts";
import type { ContainerFilePaths, ExtraHost } from "./container-files.ts";
import {
  deleteLink,
  hostRoutes,
  linkExists,
  removeContainerRules,
  removeIdleSharedChains,
  ruleOwners,
} from "./host-rules.ts";
import { withPidLock } from "../common/pid-lock.ts";
import { removeNetworkRules, ruleNamesOf, syncNetworkRules } from "./network-rules.ts";
import type { NetworkRuleNames } from "./network-rules.ts";
import { makeNetnsFile, netnsFilesIn, removeNetnsFile } from "./netns-files.ts";
import { PreparedNamespaces } from "./prepared-namespaces.ts";
import type { PreparedSlot } from "./prepared-namespaces.ts";

/** One host-wide lock around everything that edits the host's shared CNI state (portmap's
 * shared chains, bridges, the per-network rules): two Gantry processes (an engine and a test,
 * two test files) must not see a chain empty and remove it while the other adds a rule to it. */
const DEFAULT_HOST_LOCK = "/run/gantry/network.lock";

export interface NetworkRecord {
  id: string;
  name: string;
  /** RFC 3339 time of creation. */
  created: string;
  driver: "bridge";
  /** Linux bridge device, at most 15 characters. */
  bridge: string;
  subnet: string;
  gateway: string;
  ipRange?: string;
  internal: boolean;
  /** Embedded DNS on the gateway address (user networks; the default bridge has none, like Docker). */
  dns: boolean;
  isDefault: boolean;
  mtu?: number;
  labels: Record<string, string>;
  options: Record<string, string>;
}

export interface EndpointRecord {
  endpointId: string;
  networkId: string;
  networkName: string;
  containerId: string;
  containerName: string;
  aliases: string[];
  ifName: string;
  netns: string;
  /** "dev:ino" of the namespace at attach time; a DEL never enters a namespace that changed. */
  netnsInode: string;
  address: string;
  prefix: number;
  gateway?: string;
  mac?: string;
  /** Published ports with the host ports actually chosen. */
  ports: PortMapping[];
  /** The container's --dns servers, where its unknown names are forwarded. */
  dns: string[];
  created: string;
  /** The id the plugins know the attachment by, when not containerId: a prepared namespace
   * attached before its container existed. */
  cniContainerId?: string;
  /** `netns` is a namespace file the library made (a prepared one) and removes at detach. */
  ownNetns?: boolean;
}

export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  /** Docker's driver options: com.docker.network.bridge.name, com.docker.network.driver.mtu. */
  options?: Record<string, string>;
}

export interface AttachOptions {
  containerId: string;
  containerName?: string;
  /** The container's network namespace: /proc/PID/ns/net or a bind-mounted netns file. */
  netns: string;
  /** Network id, id prefix or name. */
  network: string;
  aliases?: string[];
  ports?: PortMapping[];
  /** A fixed address inside the subnet (Docker's --ip). */
  ip?: string;
  /** The container's --dns servers (forwarding target of the embedded DNS). */
  dns?: string[];
}

export interface ContainerFilesOptions {
  containerId: string;
  hostname: string;
  domainname?: string;
  /** --dns */
  dns?: string[];
  /** --dns-search */
  dnsSearch?: string[];
  /** --dns-option */
  dnsOptions?: string[];
  /** --add-host values (name:ip) or parsed entries. */
  extraHosts?: Array<string | ExtraHost>;
  /** Directory to write hosts, hostname and resolv.conf into. */
  dir: string;
}

export interface ReconcileReport {
  /** "network/container" pairs whose leftovers were removed. */
  removedAttachments: string[];
  removedBridges: string[];
  removedChains: string[];
}

export interface NetworkLibraryOptions {
  /** State directory, e.g. /var/lib/gantry/network. */
  root: string;
  /** Where the CNI plugins are; default /usr/lib/cni then /opt/cni/bin. */
  pluginDirs?: string[];
  /** The default network; `false` for none. Default: "bridge" on gantry0, 172.30.0.0/16. */
  defaultNetwork?: { name?: string; bridge?: string; subnet?: string; gateway?: string } | false;
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
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const PREPARED_PREFIX = "gantry-ns-";
const RESERVED_NAMES = new Set(["host", "none", "default", "container"]);

function newId(): string {
  return randomBytes(32).toString("hex");
}

/** Opens (and on first use creates) the network state at `opts.root`. */
export async function openNetworks(opts: NetworkLibraryOptions): Promise<Networks> {
  const lib = new Networks(opts);
  await lib.load();
  return lib;
}

export class Networks {
  readonly root: string;
  private readonly cni: CniOptions;
  private readonly networks = new Map<string, NetworkRecord>();
  /** networkId -> containerId -> endpoint */
  private readonly endpoints = new Map<string, Map<string, EndpointRecord>>();
  private readonly dnsServers = new Map<string, EmbeddedDnsServer>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly adminChain: string;
  private readonly hostLock: string;
  /** The per-network host rules match the registry (made by this process since it opened). */
  private rulesInPlace = false;
  private readonly prepared: PreparedNamespaces | undefined;
  /** Teardowns still running, by container: detachAll forgets at once and DELs in the queue. */
  private readonly detaching = new Map<string, Promise<void>>();
  /** Tasks that need no ordering with other mutations (prepared namespaces made and torn
   * down: ids of their own); close() and reconcile() wait for them. */
  private readonly backgroundTasks = new Set<Promise<unknown>>();

  constructor(private readonly opts: NetworkLibraryOptions) {
    this.root = opts.root;
    this.cni = {
      pluginDirs: opts.pluginDirs ?? ["/usr/lib/cni", "/opt/cni/bin"],
      cacheDir: join(opts.root, "cni-cache"),
    };
    this.adminChain = opts.firewallAdminChain ?? "GANTRY-ADMIN";
    this.hostLock = opts.hostLock ?? DEFAULT_HOST_LOCK;
    if (opts.runDir) {
      this.prepared = new PreparedNamespaces(opts.preparedNamespaces ?? 4, {
        prepare: (networkId) => this.prepareSlot(networkId),
        discard: (slot) => this.discardSlot(slot),
        background: (task) => this.inBackground(task),
      });
    }
  }

  private get networksDir() {
    return join(this.root, "networks");
  }
  private get ipamDir() {
    return join(this.root, "ipam");
  }
  private endpointsDir(networkId: string) {
    return join(this.root, "endpoints", networkId);
  }

  private inBackground<T>(task: () => Promise<T>): Promise<T> {
    const run = task();
    const settled: Promise<unknown> = run.then(
      () => this.backgroundTasks.delete(settled),
      () => this.backgroundTasks.delete(settled),
    );
    this.backgroundTasks.add(settled);
    return run;
  }

  /** Waits until no background task runs (with refills paused, none starts). */
  private async quiesce(): Promise<void> {
    while (this.backgroundTasks.size > 0) await Promise.allSettled([...this.backgroundTasks]);
  }

  /** Mutations run one at a time: the registry and the host stay consistent. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private hostLocked<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(dirname(this.hostLock), { recursive: true });
    return withPidLock(this.hostLock, fn, {
      timeoutMs: 120_000,
      what: "host networking",
      hint: "another Gantry process is changing host networking; if none runs, remove the file",
    });
  }

  async load(): Promise<void> {
    const dirs = [this.networksDir, this.ipamDir, this.cni.cacheDir, join(this.root, "endpoints")];
    for (const d of this.opts.runDir ? [...dirs, this.opts.runDir] : dirs) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    for (const f of readdirSync(this.networksDir)) {
      if (!f.endsWith(".json")) continue;
      const rec = readJsonIfExists<NetworkRecord>(join(this.networksDir, f));
      if (!rec) continue;
      this.networks.set(rec.id, rec);
      const eps = new Map<string, EndpointRecord>();
      const dir = this.endpointsDir(rec.id);
      if (existsSync(dir)) {
        for (const e of readdirSync(dir)) {
          const ep = e.endsWith(".json") ? readJsonIfExists<EndpointRecord>(join(dir, e)) : undefined;
          if (ep) eps.set(ep.containerId, ep);
        }
      }
      this.endpoints.set(rec.id, eps);
    }
    // A conflist without its record is a create that did not finish.
    for (const f of readdirSync(this.networksDir)) {
      if (f.endsWith(".conflist") && !this.networks.has(f.slice(0, -".conflist".length)))
        rmSync(join(this.networksDir, f), { force: true });
    }
    const def = this.opts.defaultNetwork;
    if (def !== false && ![...this.networks.values()].some((n) => n.isDefault)) {
      // Without a configured subnet, the first of these the host does not route is taken
      // (a host with 172.30/16 in use must still get a default network, as Docker does).
      const candidates = def?.subnet ? [def.subnet] : DEFAULT_BRIDGE_SUBNETS;
      let lastErr: unknown;
      for (const subnet of candidates) {
        try {
          await this.serial(() =>
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
          if (!(err instanceof GantryError && err.code === "CONFLICT" && /overlaps/.test(err.message)))
            throw err;
          lastErr = err;
        }
      }
      throw lastErr;
    }
  }

  /** nft table with this root's isolation and masquerade rules (one per state root). */
  get isolationTable(): string {
    return this.ruleNames.table;
  }

  /** Where this root's per-network rules live (network-rules.ts). */
  get ruleNames(): NetworkRuleNames {
    return ruleNamesOf(this.root);
  }

  private async syncRules(networks: NetworkRecord[]): Promise<void> {
    this.rulesInPlace = false;
    await syncNetworkRules(
      this.ruleNames,
      networks.map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal })),
    );
    this.rulesInPlace = true;
  }

  // ---- queries ------------------------------------------------------------------------

  list(filter?: { name?: string; label?: Record<string, string | undefined> }): NetworkRecord[] {
    return [...this.networks.values()]
      .filter((n) => !filter?.name || n.name.includes(filter.name))
      .filter(
        (n) =>
          !filter?.label ||
          Object.entries(filter.label).every(
            ([k, v]) => k in n.labels && (v === undefined || n.labels[k] === v),
          ),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By exact id, exact name, then unique id prefix (Docker's order). */
  get(idOrName: string): NetworkRecord {
    const byId = this.networks.get(idOrName);
    if (byId) return byId;
    const all = [...this.networks.values()];
    const byName = all.find((n) => n.name === idOrName);
    if (byName) return byName;
    const byPrefix = idOrName.length > 0 ? all.filter((n) => n.id.startsWith(idOrName)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw invalidArgument(`network id prefix "${idOrName}" is ambiguous`);
    throw notFound(`network ${idOrName} not found`, { hint: "list networks with `gantry network ls`" });
  }

  inspect(idOrName: string): { network: NetworkRecord; endpoints: EndpointRecord[] } {
    const network = this.get(idOrName);
    return { network, endpoints: [...(this.endpoints.get(network.id)?.values() ?? [])] };
  }

  /** The container's endpoints on every network. */
  endpointsOf(containerId: string): EndpointRecord[] {
    const out: EndpointRecord[] = [];
    for (const eps of this.endpoints.values()) {
      const ep = eps.get(containerId);
      if (ep) out.push(ep);
    }
    return out.sort((a, b) => a.ifName.localeCompare(b.ifName, undefined, { numeric: true }));
  }

  conflistPath(networkId: string): string {
    return join(this.networksDir, `${networkId}.conflist`);
  }

  /** The plugin list of one attachment to `n` (`ports`: the container publishes some). */
  conflistOf(n: NetworkRecord, ports = false): CniConflist {
    return buildConflist({
      name: n.name,
      bridge: n.bridge,
      subnet: n.subnet,
      gateway: n.gateway,
      ipRange: n.ipRange ? rangeBounds(parseSubnet(n.ipRange), parseSubnet(n.subnet)) : undefined,
      internal: n.internal,
      mtu: n.mtu,
      ipamDataDir: this.ipamDir,
      ports,
    });
  }

  // ---- create / remove ------------------------------------------------------------------

  create(o: NetworkCreateOptions): Promise<NetworkRecord> {
    return this.serial(() => this.createLocked(o, false));
  }

  private async createLocked(o: NetworkCreateOptions, isDefault: boolean): Promise<NetworkRecord> {
    if (!NAME_RE.test(o.name ?? "")) {
      throw invalidArgument(`invalid network name "${o.name ?? ""}"`, {
        hint: "start with a letter or digit, then letters, digits, '_', '.' or '-'",
      });
    }
    if (RESERVED_NAMES.has(o.name)) throw invalidArgument(`network name "${o.name}" is reserved`);
    if ([...this.networks.values()].some((n) => n.name === o.name)) {
      throw new GantryError("ALREADY_EXISTS", `network with name ${o.name} already exists`);
    }
    if (o.driver !== undefined && o.driver !== "" && o.driver !== "bridge") {
      throw new GantryError("UNSUPPORTED_OPTION", `network driver "${o.driver}" is not supported`, {
        hint: "Gantry has the bridge driver",
      });
    }
    const options = { ...(o.options ?? {}) };
    const known = new Set(["com.docker.network.bridge.name", "com.docker.network.driver.mtu"]);
    for (const k of Object.keys(options)) {
      if (!known.has(k))
        throw new GantryError("UNSUPPORTED_OPTION", `network option "${k}" is not supported`, {
          hint: [...known].join(", "),
        });
    }
    let mtu: number | undefined;
    if (options["com.docker.network.driver.mtu"] !== undefined) {
      mtu = Number(options["com.docker.network.driver.mtu"]);
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
        throw invalidArgument(`invalid MTU "${options["com.docker.network.driver.mtu"]}"`);
    }
    const routes = await hostRoutes();
    const subnet = o.subnet ? parseSubnet(o.subnet) : this.pickSubnet(routes);
    this.refuseOverlap(subnet, routes);
    let gateway: number;
    if (o.gateway) {
      gateway = parseIpv4(o.gateway, "gateway");
      if (!subnetContains(subnet, gateway) || isReservedAddress(subnet, gateway)) {
        throw invalidArgument(
          `gateway ${o.gateway} is not a usable address of subnet ${formatSubnet(subnet)}`,
        );
      }
    } else {
      if (o.subnet === undefined && o.gateway === undefined && o.ipRange)
        throw invalidArgument("--ip-range needs --subnet");
      gateway = firstHost(subnet);
    }
    let ipRange: string | undefined;
    if (o.ipRange) {
      const r = parseSubnet(o.ipRange);
      if (!subnetContains(subnet, r.base) || r.prefix < subnet.prefix) {
        throw invalidArgument(`ip range ${o.ipRange} is not inside subnet ${formatSubnet(subnet)}`);
      }
      ipRange = formatSubnet(r);
    }
    const id = newId();
    const bridge = options["com.docker.network.bridge.name"] ?? `gt-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(bridge)) {
      throw invalidArgument(`invalid bridge name "${bridge}"`, {
        hint: "at most 15 letters, digits, '_', '.', '-'",
      });
    }
    if ([...this.networks.values()].some((n) => n.bridge === bridge))
      throw conflict(`bridge ${bridge} is already used by another network`);
    if (await linkExists(bridge)) {
      throw conflict(`a network device named ${bridge} already exists on the host`, {
        hint: "choose another com.docker.network.bridge.name",
      });
    }
    const rec: NetworkRecord = {
      id,
      name: o.name,
      created: new Date().toISOString(),
      driver: "bridge",
      bridge,
      subnet: formatSubnet(subnet),
      gateway: formatIpv4(gateway),
      ...(ipRange ? { ipRange } : {}),
      internal: o.internal ?? false,
      dns: !isDefault,
      isDefault,
      ...(mtu !== undefined ? { mtu } : {}),
      labels: { ...(o.labels ?? {}) },
      options,
    };
    // Everything the network is, made in an order that a failure can undo; the record is
    // written last, so a crash before it leaves an orphan conflist that load() removes.
    try {
      await this.syncRules([...this.networks.values(), rec]);
      writeJsonAtomic(this.conflistPath(id), this.conflistOf(rec, true), 0o644);
      mkdirSync(this.endpointsDir(id), { recursive: true, mode: 0o700 });
      writeJsonAtomic(join(this.networksDir, `${id}.json`), rec);
    } catch (err) {
      await this.syncRules([...this.networks.values()]).catch(() => undefined);
      rmSync(this.conflistPath(id), { force: true });
      rmSync(this.endpointsDir(id), { recursive: true, force: true });
      rmSync(join(this.networksDir, `${id}.json`), { force: true });
      throw err;
    }
    this.networks.set(id, rec);
    this.endpoints.set(id, new Map());
    return rec;
  }

  private pickSubnet(routes: Array<{ dst: string }>): Subnet {
    const pool = parseSubnet(this.opts.subnetPool ?? "10.231.0.0/16");
    const step = 256;
    for (let base = pool.base; base < pool.base + 2 ** (32 - pool.prefix); base += step) {
      const candidate = { base, prefix: 24 };
      try {
        this.refuseOverlap(candidate, routes);
        return candidate;
      } catch {
        /* taken: next /24 */
      }
    }
    throw conflict(`no free /24 left in the pool ${formatSubnet(pool)}`, { hint: "give --subnet" });
  }

  private refuseOverlap(subnet: Subnet, routes: Array<{ dst: string; dev?: string }>): void {
    for (const n of this.networks.values()) {
      if (subnetsOverlap(subnet, parseSubnet(n.subnet))) {
        throw conflict(`subnet ${formatSubnet(subnet)} overlaps with network ${n.name} (${n.subnet})`, {
          hint: "choose a subnet no other network uses",
        });
      }
    }
    for (const r of routes) {
      const dst = routeDestination(r.dst);
      if (dst && subnetsOverlap(subnet, dst)) {
        throw conflict(
          `subnet ${formatSubnet(subnet)} overlaps with the host route ${r.dst}${r.dev ? ` on ${r.dev}` : ""}`,
          {
            hint: "choose a subnet the host does not route",
          },
        );
      }
    }
  }

  remove(idOrName: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(idOrName);
      if (n.isDefault)
        throw new GantryError("CONFLICT", `${n.name} is a pre-defined network and cannot be removed`);
      const eps = this.endpoints.get(n.id);
      if (eps && eps.size > 0) {
        throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints`, {
          hint: `disconnect ${[...eps.values()].map((e) => e.containerName || e.containerId.slice(0, 12)).join(", ")} first`,
        });
      }
      await this.removeLocked(n);
    });
  }

  private async removeLocked(n: NetworkRecord): Promise<void> {
    await this.stopDns(n.id);
    await this.hostLocked(async () => {
      await deleteLink(n.bridge);
      await this.syncRules([...this.networks.values()].filter((x) => x.id !== n.id));
      await removeIdleSharedChains(this.adminChain);
    });
    rmSync(join(this.networksDir, `${n.id}.json`), { force: true });
    rmSync(this.conflistPath(n.id), { force: true });
    rmSync(this.endpointsDir(n.id), { recursive: true, force: true });
    rmSync(join(this.ipamDir, n.name), { recursive: true, force: true });
    this.networks.delete(n.id);
    this.endpoints.delete(n.id);
  }

  /** Removes every user network without endpoints (optionally only those with the labels). */
  prune(filter?: { label?: Record<string, string | undefined> }): Promise<string[]> {
    return this.serial(async () => {
      const removed: string[] = [];
      for (const n of this.list(filter)) {
        if (n.isDefault || (this.endpoints.get(n.id)?.size ?? 0) > 0) continue;
        await this.removeLocked(n);
        removed.push(n.name);
      }
      return removed;
    });
  }

  // ---- attach / detach ------------------------------------------------------------------

  /** Connects a container's network namespace to a network (Docker's connect, or run's first network). */
  attach(o: AttachOptions): Promise<EndpointRecord> {
    return this.serial(() => this.attachLocked(o));
  }

  private async attachLocked(o: AttachOptions): Promise<EndpointRecord> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(o.containerId))
      throw invalidArgument(`invalid container id "${o.containerId}"`);
    const n = this.get(o.network);
    const eps = this.endpoints.get(n.id)!;
    const name = o.containerName ?? "";
    if (eps.has(o.containerId))
      throw conflict(`container ${name || o.containerId} is already connected to network ${n.name}`);
    if (name !== "" && [...eps.values()].some((e) => e.containerName === name)) {
      throw conflict(`endpoint with name ${name} already exists in network ${n.name}`);
    }
    const netnsInode = inodeOf(o.netns);
    if (!netnsInode) throw invalidArgument(`network namespace ${o.netns} does not exist`, { path: o.netns });
    if (netnsInode === inodeOf("/proc/self/ns/net") || netnsInode === inodeOf("/proc/1/ns/net")) {
      throw invalidArgument(`${o.netns} is the host's network namespace`, {
        hint: "use --network host instead of attaching it",
        path: o.netns,
      });
    }
    for (const a of o.aliases ?? [])
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(a)) throw invalidArgument(`invalid network alias "${a}"`);
    if (o.ports && o.ports.length > 0 && n.internal) {
      throw invalidArgument(`ports cannot be published on the internal network ${n.name}`, {
        hint: "internal networks are not reachable from the host",
      });
    }
    const args: Record<string, string> = {};
    if (o.ip) {
      const ip = parseIpv4(o.ip, "container address");
      const s = parseSubnet(n.subnet);
      if (!subnetContains(s, ip) || isReservedAddress(s, ip) || formatIpv4(ip) === n.gateway) {
        throw invalidArgument(`address ${o.ip} is not a free host address of ${n.name} (${n.subnet})`);
      }
      args.IP = formatIpv4(ip);
    }
    const used = new Set(this.endpointsOf(o.containerId).map((e) => e.ifName));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const ifName = `eth${i}`;
    const ports = await this.allocatePorts(o.ports ?? []);
    const list = this.conflistOf(n, ports.length > 0);
    const att = {
      containerId: o.containerId,
      netns: o.netns,
      ifName,
      args,
      capabilityArgs: {
        portMappings: ports.map((p) => ({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol,
          hostIP: p.hostIp,
        })),
      },
    };
    const result = await this.addPlugins(list, att);
    const ep = endpointOf(n, result, {
      containerId: o.containerId,
      containerName: name,
      aliases: [...(o.aliases ?? [])],
      ifName,
      netns: o.netns,
      netnsInode,
      ports,
      dns: [...(o.dns ?? [])],
    });
    try {
      writeJsonAtomic(join(this.endpointsDir(n.id), `${o.containerId}.json`), ep);
      eps.set(o.containerId, ep);
      if (n.dns) await this.ensureDns(n);
    } catch (err) {
      eps.delete(o.containerId);
      await this.teardown(n, ep).catch(() => undefined);
      throw err;
    }
    return ep;
  }

  /**
   * ADD of the network's list (and of `lo` unless it is up already). The host lock is taken
   * only for what other Gantry processes share: portmap's chains and the first rule sync;
   * bridge and host-local alone touch only this root's bridge and lease directory (host-local
   * locks that itself), so containers attach side by side.
   */
  private async addPlugins(list: CniConflist, att: CniAttachment, loUp = false): Promise<CniResult> {
    // The network's own rules once per process (a root reopened after a reboot or close).
    if (!this.rulesInPlace)
      await this.hostLocked(async () => {
        if (!this.rulesInPlace) await this.syncRules([...this.networks.values()]);
      });
    const add = async () => {
      // lo has no DEL worth caching: it dies with the namespace. It and eth0 are different
      // devices, so both plugins run at once.
      const [lo, added] = await Promise.allSettled([
        loUp ? Promise.resolve(undefined) : cniAdd(loopbackConf(), { containerId: att.containerId, netns: att.netns, ifName: "lo" }, this.cni, false),
        cniAdd(list, att, this.cni),
      ]);
      if (added.status === "rejected") throw added.reason;
      if (lo.status === "rejected") {
        await cniDel(list, att, this.cni, added.value).catch(() => undefined);
        throw lo.reason;
      }
      return added.value;
    };
    return mayLeaveRules(list) ? this.hostLocked(add) : add();
  }

  // ---- prepared namespaces (the warm pool of the default network) --------------------------

  /**
   * An attachment to `o.network` made before the container existed, for a container that asks
   * nothing a namespace made ahead cannot give: the default network (no DNS names or
   * aliases), no fixed address, no published ports. Synchronous, so it costs the start path
   * no plugin run: the runtime joins the endpoint's `netns` instead of making a namespace.
   * Undefined when none is ready (the caller attaches as usual); the pool refills behind
   * every call.
   */
  claimPrepared(o: { containerId: string; containerName?: string; network: string }): EndpointRecord | undefined {
    if (!this.prepared || !CONTAINER_ID_RE.test(o.containerId)) return undefined;
    const n = [...this.networks.values()].find((x) => x.isDefault && (x.name === o.network || x.id === o.network));
    const eps = n && this.endpoints.get(n.id);
    if (!n || !eps || eps.has(o.containerId)) return undefined;
    const name = o.containerName ?? "";
    if (name !== "" && [...eps.values()].some((e) => e.containerName === name)) return undefined;
    let slot: PreparedSlot | undefined;
    while ((slot = this.prepared.take(n.id)) && inodeOf(slot.netns) !== slot.netnsInode) {
      // Someone unbound it meanwhile: its lease and cache entry still go.
      const gone = slot;
      void this.serial(() => this.discardSlot(gone)).catch(() => undefined);
    }
    if (!slot) return undefined;
    const ep = endpointOf(n, slot.result, {
      containerId: o.containerId,
      containerName: name,
      aliases: [],
      ifName: slot.ifName,
      netns: slot.netns,
      netnsInode: slot.netnsInode,
      ports: [],
      dns: [],
      cniContainerId: slot.cniId,
      ownNetns: true,
    });
    try {
      // Not fsynced (this is the start's critical path): the record matters only while its
      // container runs, and a machine crash ends both; reconcile finds what a lost write
      // leaves by the slot's cache entry and lease.
      writeJsonAtomic(join(this.endpointsDir(n.id), `${o.containerId}.json`), ep, 0o600, false);
    } catch (err) {
      const lost = slot;
      void this.serial(() => this.discardSlot(lost)).catch(() => undefined);
      throw err;
    }
    eps.set(o.containerId, ep);
    return ep;
  }

  private async prepareSlot(networkId: string): Promise<PreparedSlot> {
    const n = this.networks.get(networkId);
    if (!n || !this.opts.runDir) throw new GantryError("INTERNAL", `network ${networkId} is gone`);
    const cniId = `${PREPARED_PREFIX}${randomBytes(8).toString("hex")}`;
    const netns = join(this.opts.runDir, cniId);
    await makeNetnsFile(netns);
    const netnsInode = inodeOf(netns) ?? "";
    try {
      const att = { containerId: cniId, netns, ifName: "eth0", args: {}, capabilityArgs: { portMappings: [] } };
      const result = await this.addPlugins(this.conflistOf(n), att, true);
      return { cniId, networkId, netns, netnsInode, ifName: "eth0", result };
    } catch (err) {
      await removeNetnsFile(netns).catch(() => undefined);
      throw err;
    }
  }

  private async discardSlot(slot: PreparedSlot): Promise<void> {
    const n = this.networks.get(slot.networkId);
    await removeNetnsFile(slot.netns);
    if (!n) return;
    const cached = readCache(this.cni, n.name, slot.cniId, slot.ifName);
    await this.delAttachment(n.name, slot.cniId, slot.ifName, slot.netns, slot.netnsInode, cached, this.conflistOf(n));
  }

  /** Chooses random host ports and refuses ports another endpoint or a host process holds. */
  private async allocatePorts(requested: PortMapping[]): Promise<PortMapping[]> {
    const taken: PortMapping[] = [];
    for (const eps of this.endpoints.values()) for (const e of eps.values()) taken.push(...e.ports);
    const out: PortMapping[] = [];
    for (const p of requested) {
      if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) {
        throw invalidArgument(`invalid container port ${p.containerPort}`);
      }
      let chosen: PortMapping | undefined;
      for (let attempt = 0; attempt < 20 && !chosen; attempt++) {
        const hostPort = await probeHostPort(p.hostIp, p.hostPort, p.protocol);
        const m = { ...p, hostPort };
        const clash = [...taken, ...out].find((t) => mappingsClash(t, m));
        if (!clash) chosen = m;
        else if (p.hostPort !== 0) {
          throw new GantryError(
            "CONFLICT",
            `Bind for ${describeMapping(m).split("->")[0]} failed: port is already allocated`,
            {
              hint: "another container publishes this host port",
            },
          );
        }
      }
      if (!chosen) throw conflict(`no free host port found for ${p.containerPort}/${p.protocol}`);
      out.push(chosen);
    }
    return out;
  }

  /** `--network none`: only `lo`, brought up by the loopback plugin. */
  bringUpLoopback(containerId: string, netns: string): Promise<void> {
    return this.serial(async () => {
      const inode = inodeOf(netns);
      if (!inode) throw invalidArgument(`network namespace ${netns} does not exist`, { path: netns });
      if (inode === inodeOf("/proc/self/ns/net"))
        throw invalidArgument(`${netns} is the host's network namespace`, { path: netns });
      await cniAdd(loopbackConf(), { containerId, netns, ifName: "lo" }, this.cni, false);
    });
  }

  /** Disconnects a container from one network; `force` also forgets an endpoint whose DEL failed. */
  detach(containerId: string, network: string, force = false): Promise<void> {
    return this.serial(async () => {
      const n = this.get(network);
      const ep = this.endpoints.get(n.id)?.get(containerId);
      if (!ep) throw notFound(`container ${containerId} is not connected to network ${n.name}`);
      await this.detachLocked(n, ep, force);
    });
  }

  /**
   * Disconnects a container from every network it is on (its exit or removal). The endpoints
   * are forgotten at once — DNS stops answering for it, inspect shows none, the container may
   * attach again — and the plugins' DEL runs in the library's queue: the returned promise
   * settles when it is done (a second call while it runs returns the same). The endpoint
   * files stay until then, so a crash meanwhile leaves what reconcile() finds. Teardown
   * errors are thrown after everything was tried; the endpoints are gone either way.
   */
  detachAll(containerId: string): Promise<void> {
    const eps = this.endpointsOf(containerId);
    const pending = this.detaching.get(containerId);
    if (eps.length === 0) return pending ?? Promise.resolve();
    for (const ep of eps) this.endpoints.get(ep.networkId)?.delete(containerId);
    // Prepared namespaces have plugin ids of their own: nothing can race their DEL (a restart
    // of the container gets another), so it runs beside the queue instead of behind it.
    const lane = eps.every((e) => e.ownNetns) ? this.inBackground.bind(this) : this.serial.bind(this);
    const run = lane(async () => {
      let first: unknown;
      for (const ep of eps) {
        const n = this.networks.get(ep.networkId);
        if (n) await this.detachLocked(n, ep, false).catch((e: unknown) => (first ??= e));
      }
      if (first) throw first;
    });
    const tracked: Promise<void> = run.finally(() => {
      if (this.detaching.get(containerId) === tracked) this.detaching.delete(containerId);
    });
    this.detaching.set(containerId, tracked);
    return tracked;
  }

  private async detachLocked(n: NetworkRecord, ep: EndpointRecord, force: boolean): Promise<void> {
    let failed: unknown;
    try {
      await this.teardown(n, ep);
    } catch (err) {
      if (!force && this.endpoints.get(n.id)?.get(ep.containerId) === ep) throw err;
      failed = err;
    }
    // The container may have attached again meanwhile (a restart): that endpoint stays.
    const current = this.endpoints.get(n.id)?.get(ep.containerId);
    if (!current || current.endpointId === ep.endpointId) {
      rmSync(join(this.endpointsDir(n.id), `${ep.containerId}.json`), { force: true });
      this.endpoints.get(n.id)?.delete(ep.containerId);
    }
    await this.afterLeave(n, ep);
    if (failed) throw failed;
  }

  /** CNI DEL with the cached configuration, then whatever DEL leaves of this container. */
  private async teardown(n: NetworkRecord, ep: EndpointRecord): Promise<void> {
    const cniId = ep.cniContainerId ?? ep.containerId;
    // A namespace of our own is unbound first: the kernel then frees it, veth included, in
    // its own time, and DEL (which no longer finds it) only releases the lease.
    if (ep.ownNetns) await removeNetnsFile(ep.netns);
    const cached = readCache(this.cni, n.name, cniId, ep.ifName);
    await this.delAttachment(
      n.name,
      cniId,
      ep.ifName,
      ep.netns,
      ep.netnsInode,
      cached,
      // Without a cache entry nobody knows what ADD ran: DEL every plugin that might have.
      this.conflistOf(n, true),
    );
  }

  private async delAttachment(
    networkName: string,
    containerId: string,
    ifName: string,
    netns: string,
    netnsInode: string | undefined,
    cached: CniCacheEntry | undefined,
    fallback: CniConflist | undefined,
  ): Promise<void> {
    // A namespace path that now names another namespace (a reused PID) must not be entered:
    // DEL would delete that namespace's interface. An empty CNI_NETNS makes the plugins
    // release the lease and rules only; the veth died with the old namespace.
    const safeNetns = netnsInode !== undefined && inodeOf(netns) === netnsInode ? netns : "";
    const list = cached?.config ?? fallback;
    const sweep = !cached || mayLeaveRules(cached.config);
    const del = async () => {
      let err: unknown;
      if (list) {
        const att = cached
          ? { ...attachmentOf(cached), netns: safeNetns }
          : { containerId, ifName, netns: safeNetns };
        await cniDel(list, att, this.cni, cached?.result).catch((e: unknown) => {
          err = e;
        });
      }
      // Per-container rules exist only where a plugin made some (published ports); without a
      // cache entry, or after a DEL that could not enter the namespace, look by comment.
      if (sweep) await removeContainerRules(networkName, containerId);
      if (err) throw err;
    };
    // Shared chains (portmap's, the comment sweep) are edited under the host lock only.
    await (sweep ? this.hostLocked(del) : del());
  }

  /**
   * After a container left `n`: portmap's shared chains go with the last published port (the
   * plugin leaves them); the DNS server stops with the network's last container. The bridge
   * stays while the library is open, as docker0 does: making it again for the next container
   * would cost every `run --rm` a bridge and its address; close(), reconcile() and remove()
   * delete bridges nobody uses.
   */
  private async afterLeave(n: NetworkRecord, left: EndpointRecord): Promise<void> {
    if (left.ports.length > 0 && !this.allEndpoints().some((e) => e.ports.length > 0))
      await this.hostLocked(() => removeIdleSharedChains(this.adminChain));
    if ((this.endpoints.get(n.id)?.size ?? 0) === 0) await this.stopDns(n.id);
  }

  private allEndpoints(): EndpointRecord[] {
    return [...this.endpoints.values()].flatMap((eps) => [...eps.values()]);
  }

  /** CNI CHECK of one attachment: throws NETWORK_PLUGIN_FAILED when the plumbing is broken. */
  check(containerId: string, network: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(network);
      const ep = this.endpoints.get(n.id)?.get(containerId);
      if (!ep) throw notFound(`container ${containerId} is not connected to network ${n.name}`);
      const cached = readCache(this.cni, n.name, containerId, ep.ifName);
      if (!cached) throw new GantryError("INTERNAL", `no cached CNI result for ${containerId} on ${n.name}`);
      await cniCheck(cached, this.cni);
    });
  }

  // ---- DNS ------------------------------------------------------------------------------

  private async ensureDns(n: NetworkRecord): Promise<void> {
    if (this.dnsServers.has(n.id)) return;
    const server = new EmbeddedDnsServer(n.gateway, {
      lookup: (name, client) => this.resolve(n.id, name, client),
      reverse: (address, client) => {
        const eps = this.endpoints.get(n.id);
        if (!eps || ![...eps.values()].some((e) => e.address === client)) return undefined;
        const ep = [...eps.values()].find((e) => e.address === address);
        return ep ? ep.containerName || ep.containerId.slice(0, 12) : undefined;
      },
      upstreams: (client) => {
        const ep = [...(this.endpoints.get(n.id)?.values() ?? [])].find((e) => e.address === client);
        // Only the network's own containers may use it as a forwarder.
        if (!ep) return [];
        if (ep.dns.length > 0) return ep.dns;
        return this.opts.dnsUpstreams ?? hostNameservers(this.opts.hostResolvConf).nameservers;
      },
    });
    await server.start();
    this.dnsServers.set(n.id, server);
  }

  private async stopDns(networkId: string): Promise<void> {
    const s = this.dnsServers.get(networkId);
    this.dnsServers.delete(networkId);
    await s?.close();
  }

  /**
   * Name resolution asked of network `networkId`'s server by the container at `client`: a
   * container name, a network alias, or an id prefix of at least 6 hex digits, looked up on
   * every DNS network the asking container is on (this one first), as Docker does;
   * `name.<network>` looks on that network only. Only containers on the network may ask;
   * without `client` the lookup covers this network alone.
   */
  resolve(networkId: string, name: string, client?: string): string[] {
    const n = this.networks.get(networkId);
    if (!n) return [];
    let scope: NetworkRecord[] = [n];
    if (client !== undefined) {
      const asking = [...(this.endpoints.get(networkId)?.values() ?? [])].find((e) => e.address === client);
      if (!asking) return [];
      const others = this.endpointsOf(asking.containerId)
        .map((e) => this.networks.get(e.networkId))
        .filter((x): x is NetworkRecord => x !== undefined && x.dns && x.id !== n.id);
      scope = [n, ...others];
    }
    const q = name.toLowerCase().replace(/\.$/, "");
    const qualified = scope.find((net) => q.endsWith(`.${net.name.toLowerCase()}`));
    if (qualified) return this.lookupOn(qualified, q.slice(0, -(qualified.name.length + 1)));
    for (const net of scope) {
      const hits = this.lookupOn(net, q);
      if (hits.length > 0) return hits;
    }
    return [];
  }

  private lookupOn(n: NetworkRecord, q: string): string[] {
    const eps = [...(this.endpoints.get(n.id)?.values() ?? [])];
    return eps
      .filter(
        (e) =>
          e.containerName.toLowerCase() === q ||
          e.aliases.some((a) => a.toLowerCase() === q) ||
          (/^[0-9a-f]{6,}$/.test(q) && e.containerId.toLowerCase().startsWith(q)),
      )
      .map((e) => e.address)
      .filter((a) => a !== "");
  }

  // ---- per-container files ----------------------------------------------------------------

  /**
   * Writes hosts, hostname and resolv.conf for a container into `o.dir` (call after attach;
   * call again after connect/disconnect: the files are rewritten in place). A container on a
   * network with embedded DNS gets that network's gateway as its only nameserver; others get
   * --dns or the host's resolvers.
   */
  containerFiles(o: ContainerFilesOptions): ContainerFilePaths {
    validateHostname(o.hostname);
    const eps = this.endpointsOf(o.containerId);
    const firstGateway = eps.find((e) => e.gateway)?.gateway;
    const extraHosts = (o.extraHosts ?? []).map((h) =>
      typeof h === "string" ? parseAddHost(h, firstGateway) : h,
    );
    for (const ns of o.dns ?? []) parseIpv4(ns, "--dns server");
    const dnsNet = eps.map((e) => this.networks.get(e.networkId)).find((n) => n?.dns);
    const host = hostNameservers(this.opts.hostResolvConf);
    const resolv = dnsNet
      ? {
          nameservers: [dnsNet.gateway],
          search: o.dnsSearch ?? [],
          options: ["ndots:0", ...(o.dnsOptions ?? [])],
        }
      : {
          nameservers: o.dns ?? host.nameservers,
          search: o.dnsSearch ?? host.search,
          options: o.dnsOptions ?? host.options,
        };
    return writeContainerFiles(o.dir, {
      hosts: renderHosts({
        hostname: o.hostname,
        domainname: o.domainname,
        addresses: eps.map((e) => e.address).filter(Boolean),
        extraHosts,
      }),
      hostname: `${o.hostname}\n`,
      resolvConf: renderResolvConf(resolv),
    });
  }

  // ---- reconciliation ---------------------------------------------------------------------

  /**
   * Removes the leftovers of containers not in `knownContainers` (endpoints, CNI cache
   * entries, host-local leases, masquerade and port rules found by their comments) and the
   * half-made attachments of known containers that have no endpoint record, deletes
   * bridges of networks without containers, removes idle shared chains, and starts the DNS
   * servers of networks that still have containers (an engine restart).
   */
  reconcile(knownContainers: Iterable<string>): Promise<ReconcileReport> {
    return this.serial(async () => {
      // No namespace is prepared meanwhile (its file would look like a leftover).
      this.prepared?.pause();
      try {
        return await this.reconcileLocked(new Set(knownContainers));
      } finally {
        this.prepared?.resume();
      }
    });
  }

  private async reconcileLocked(known: Set<string>): Promise<ReconcileReport> {
    const report: ReconcileReport = { removedAttachments: [], removedBridges: [], removedChains: [] };
    // Ready prepared namespaces belong to no container: they go, and the pool refills later.
    await this.quiesce();
    await this.prepared?.drain().catch(() => undefined);
    const byName = new Map([...this.networks.values()].map((n) => [n.name, n]));
    // A known container keeps what its endpoint record describes, by the id the plugins
    // know it by; kernel state of a known container without a record (a crash between ADD
    // and the record) goes too, so the engine sees no endpoint and attaches it afresh.
    const kept = new Set<string>();
    for (const n of this.networks.values())
      for (const e of this.endpoints.get(n.id)!.values())
        if (known.has(e.containerId)) kept.add(`${n.id}\0${e.cniContainerId ?? e.containerId}`);
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
      const key = `${net.name}\0${cniId}\0${ifName}`;
      const had = cands.get(key);
      if (!had || netnsInode) cands.set(key, { net, cniId, ifName, netns, netnsInode, owner: owner ?? had?.owner });
    };
    for (const n of this.networks.values())
      for (const e of this.endpoints.get(n.id)!.values())
        add(n, e.cniContainerId ?? e.containerId, e.ifName, e.netns, e.netnsInode, e.containerId);
    // Namespace files no kept endpoint uses (prepared ones a crash left, or whose container
    // is gone) are unbound first: DEL then only releases their leases.
    const inUse = new Set(this.allEndpoints().filter((e) => known.has(e.containerId)).map((e) => e.netns));
    if (this.opts.runDir)
      for (const f of netnsFilesIn(this.opts.runDir))
        if (!inUse.has(f)) await removeNetnsFile(f).catch(() => undefined);
    for (const f of readdirSync(this.cni.cacheDir)) {
      const c = f.endsWith(".json")
        ? readJsonIfExists<CniCacheEntry>(join(this.cni.cacheDir, f))
        : undefined;
      if (c && c.networkName !== loopbackConf().name)
        add(byName.get(c.networkName), c.containerId, c.ifName, c.netns, c.netnsInode);
      else if (c && !known.has(c.containerId)) rmSync(join(this.cni.cacheDir, f), { force: true });
    }
    for (const n of this.networks.values()) {
      for (const lease of leases(join(this.ipamDir, n.name))) add(n, lease.containerId, lease.ifName);
    }
    for (const owner of await ruleOwners()) add(byName.get(owner.network), owner.containerId, "eth0");
    for (const c of cands.values()) {
      const cached = readCache(this.cni, c.net.name, c.cniId, c.ifName);
      await this.delAttachment(
        c.net.name,
        c.cniId,
        c.ifName,
        c.netns,
        c.netnsInode,
        cached,
        this.conflistOf(c.net, true),
      ).catch(() => undefined);
      const owner = c.owner ?? c.cniId;
      rmSync(join(this.endpointsDir(c.net.id), `${owner}.json`), { force: true });
      this.endpoints.get(c.net.id)?.delete(owner);
      report.removedAttachments.push(`${c.net.name}/${owner}`);
    }
    // host-local dirs of networks that no longer exist
    for (const d of readdirSync(this.ipamDir))
      if (!byName.has(d)) rmSync(join(this.ipamDir, d), { recursive: true, force: true });
    for (const n of this.networks.values()) {
      if ((this.endpoints.get(n.id)?.size ?? 0) === 0) {
        await this.stopDns(n.id);
        if (await linkExists(n.bridge)) {
          await this.hostLocked(() => deleteLink(n.bridge));
          report.removedBridges.push(n.bridge);
        }
      } else if (n.dns) {
        await this.ensureDns(n).catch(() => undefined);
      }
    }
    await this.syncRules([...this.networks.values()]).catch(() => undefined);
    report.removedChains = await this.hostLocked(() => removeIdleSharedChains(this.adminChain));
    return report;
  }

  /**
   * Stops the DNS servers. Containers that still run keep their network (the engine re-adopts
   * them after a restart), so their bridges and the root's rules stay; bridges no container
   * uses go, and with no container left on any network the root's rules go too: a stopped
   * daemon leaves nothing of an unused network behind.
   */
  async close(): Promise<void> {
    await this.serial(async () => {
      this.prepared?.pause();
      await this.quiesce();
      await this.prepared?.drain().catch(() => undefined);
      for (const id of [...this.dnsServers.keys()]) await this.stopDns(id);
      await this.hostLocked(async () => {
        for (const n of this.networks.values())
          if ((this.endpoints.get(n.id)?.size ?? 0) === 0) await deleteLink(n.bridge).catch(() => undefined);
        if (this.allEndpoints().length > 0) return;
        await removeNetworkRules(this.ruleNames).catch(() => undefined);
        this.rulesInPlace = false;
        await removeIdleSharedChains(this.adminChain).catch(() => undefined);
      });
    });
  }
}

/** The endpoint record of an ADD's result on network `n`. */
function endpointOf(
  n: NetworkRecord,
  result: CniResult,
  e: Omit<EndpointRecord, "endpointId" | "networkId" | "networkName" | "address" | "prefix" | "gateway" | "mac" | "created">,
): EndpointRecord {
  const addr = resultAddress(result);
  const mac = resultMac(result, e.ifName);
  return {
    endpointId: newId(),
    networkId: n.id,
    networkName: n.name,
    ...e,
    address: addr?.address ?? "",
    prefix: addr?.prefix ?? 0,
    ...(addr?.gateway && !n.internal ? { gateway: addr.gateway } : {}),
    ...(mac ? { mac } : {}),
    created: new Date().toISOString(),
  };
}

/** host-local's lease files: named by address, holding "containerId\r\nifName". */
function leases(dir: string): Array<{ address: string; containerId: string; ifName: string }> {
  if (!existsSync(dir)) return [];
  const out: Array<{ address: string; containerId: string; ifName: string }> = [];
  for (const f of readdirSync(dir)) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
    try {
      const [containerId, ifName] = readFileSync(join(dir, f), "utf8").split(/\r?\n/);
      if (containerId)
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

/** First and last address of `range` an interface may have in `subnet` (--ip-range). */
function rangeBounds(range: Subnet, subnet: Subnet): { start: string; end: string } {
  const size = 2 ** (32 - range.prefix);
  let start = range.base;
  let end = range.base + size - 1;
  if (start === subnet.base) start++;
  if (end === subnet.base + 2 ** (32 - subnet.prefix) - 1) end--;
  return { start: formatIpv4(start), end: formatIpv4(end) };
}
