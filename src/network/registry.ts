// The registry of bridge networks and their endpoints: records in memory and on disk under
// the state root, lookups (Docker's id / name / id-prefix order), and the checks a new
// network must pass (name, driver, options, a subnet no other network or host route uses).
//
// State (one writer: the process that opened the root):
//   <root>/networks/<id>.json              the network (written last: the commit point)
//   <root>/networks/<id>.conflist          the CNI conflist made from it
//   <root>/endpoints/<id>/<container>.json one attachment
//   <root>/ipam/<net>/                     host-local's leases (its dataDir)
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GantryError, invalidArgument, notFound, conflict } from "../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../common/atomic-file.ts";
import { resultAddress, resultAddress6, resultMac } from "./cni.ts";
import { firstHost6, formatIpv6, formatSubnet6, parseIpv6, parseSubnet6, subnet6Contains, subnets6Overlap } from "./subnet6.ts";
import type { CniConflist, CniResult } from "./cni.ts";
import { buildConflist } from "./conflist.ts";
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
import type { PortMapping } from "./ports.ts";
import { hostRoutes, linkExists } from "./host-rules.ts";
import { compareNatural } from "../common/compare.ts";

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
  /** IPAM AuxiliaryAddresses: held in host-local's store as leases of AUX_LEASE_OWNER. */
  auxAddresses?: Record<string, string>;
  /** EnableIPv6: the IPv6 subnet (a second host-local range) and its gateway on the bridge. */
  subnet6?: string;
  gateway6?: string;
}

/** The owner written into host-local's lease files of auxiliary addresses (no container has it). */
export const AUX_LEASE_OWNER = "gantry-aux-address";

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
  /** The IPv6 address of an `--ipv6` network's endpoint. */
  address6?: string;
  prefix6?: number;
  gateway6?: string;
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
  /** IPAM AuxiliaryAddresses (`--aux-address name=ip`): addresses no container is given. */
  auxAddresses?: Record<string, string>;
  /** The IPv6 subnet and gateway of an `--ipv6` network. */
  subnet6?: string;
  gateway6?: string;
}

/** The names CNI takes for a network (libcni's rule); other names are the user's alone. */
const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * The network's name towards the CNI plugins (conflist name, host-local's lease directory,
 * the plugins' cache and portmap's rule comments): its own name when CNI takes it, else
 * "gantry-<id prefix>". Docker names may be any non-blank text ("my net", "a:b"), which
 * would not make a valid CNI network name nor a safe directory name.
 */
export function cniNetworkName(n: { name: string; id: string }): string {
  return CNI_NAME_RE.test(n.name) ? n.name : `gantry-${n.id.slice(0, 12)}`;
}
const RESERVED_NAMES = new Set(["host", "none", "default", "container"]);
const KNOWN_OPTIONS = new Set(["com.docker.network.bridge.name", "com.docker.network.driver.mtu"]);

export function newId(): string {
  return randomBytes(32).toString("hex");
}

export class NetworkRegistry {
  readonly networks = new Map<string, NetworkRecord>();
  /** networkId -> containerId -> endpoint */
  readonly endpoints = new Map<string, Map<string, EndpointRecord>>();

  constructor(
    readonly root: string,
    /** Pool that networks without --subnet get a /24 from. */
    private readonly subnetPool = "10.231.0.0/16",
  ) {}

  get networksDir(): string {
    return join(this.root, "networks");
  }
  get ipamDir(): string {
    return join(this.root, "ipam");
  }
  endpointsDir(networkId: string): string {
    return join(this.root, "endpoints", networkId);
  }
  conflistPath(networkId: string): string {
    return join(this.networksDir, `${networkId}.conflist`);
  }
  private endpointPath(networkId: string, containerId: string): string {
    return join(this.endpointsDir(networkId), `${containerId}.json`);
  }

  /** Reads the records on disk; a conflist without its record (a create that did not finish) goes. */
  load(): void {
    for (const d of [this.networksDir, this.ipamDir, join(this.root, "endpoints")])
      mkdirSync(d, { recursive: true, mode: 0o700 });
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
    for (const f of readdirSync(this.networksDir)) {
      if (f.endsWith(".conflist") && !this.networks.has(f.slice(0, -".conflist".length)))
        rmSync(join(this.networksDir, f), { force: true });
    }
  }

  // ---- queries ------------------------------------------------------------------------

  all(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  list(filter?: { name?: string; label?: Record<string, string | undefined> }): NetworkRecord[] {
    return this.all()
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
    const all = this.all();
    const byName = all.find((n) => n.name === idOrName);
    if (byName) return byName;
    const byPrefix = idOrName.length > 0 ? all.filter((n) => n.id.startsWith(idOrName)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw invalidArgument(`network id prefix "${idOrName}" is ambiguous`);
    throw notFound(`network ${idOrName} not found`, { hint: "list networks with `gantry network ls`" });
  }

  /** The endpoints on network `networkId` (none for an unknown id). */
  endpointsOn(networkId: string): EndpointRecord[] {
    return [...(this.endpoints.get(networkId)?.values() ?? [])];
  }

  /** The container's endpoints on every network. */
  endpointsOf(containerId: string): EndpointRecord[] {
    const out: EndpointRecord[] = [];
    for (const eps of this.endpoints.values()) {
      const ep = eps.get(containerId);
      if (ep) out.push(ep);
    }
    return out.sort((a, b) => compareNatural(a.ifName, b.ifName));
  }

  allEndpoints(): EndpointRecord[] {
    return [...this.endpoints.values()].flatMap((eps) => [...eps.values()]);
  }

  /** The plugin list of one attachment to `n` (`ports`: the container publishes some). */
  conflistOf(n: NetworkRecord, ports = false): CniConflist {
    return buildConflist({
      name: cniNetworkName(n),
      bridge: n.bridge,
      subnet: n.subnet,
      gateway: n.gateway,
      ipRange: n.ipRange ? rangeBounds(parseSubnet(n.ipRange), parseSubnet(n.subnet)) : undefined,
      internal: n.internal,
      mtu: n.mtu,
      ipamDataDir: this.ipamDir,
      ...(n.subnet6 ? { v6: { subnet: n.subnet6, gateway: n.gateway6! } } : {}),
      ports,
    });
  }

  // ---- networks -----------------------------------------------------------------------

  /** The record a create of `o` makes, after every check that needs no host change. */
  async plan(o: NetworkCreateOptions, isDefault: boolean): Promise<NetworkRecord> {
    // dockerd takes any name that is not blank (spaces, colons and slashes included).
    if (typeof o.name !== "string" || o.name.trim() === "") throw invalidArgument(`invalid name: ${o.name ?? ""}`);
    if (RESERVED_NAMES.has(o.name)) throw invalidArgument(`network name "${o.name}" is reserved`);
    if (this.all().some((n) => n.name === o.name)) {
      throw new GantryError("ALREADY_EXISTS", `network with name ${o.name} already exists`);
    }
    if (o.driver !== undefined && o.driver !== "" && o.driver !== "bridge") {
      throw new GantryError("UNSUPPORTED_OPTION", `network driver "${o.driver}" is not supported`, {
        hint: "Gantry has the bridge driver",
      });
    }
    const options = { ...(o.options ?? {}) };
    for (const k of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(k))
        throw new GantryError("UNSUPPORTED_OPTION", `network option "${k}" is not supported`, {
          hint: [...KNOWN_OPTIONS].join(", "),
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
    const auxAddresses: Record<string, string> = {};
    for (const [key, addr] of Object.entries(o.auxAddresses ?? {})) {
      const ip = parseIpv4(addr, "auxiliary address");
      if (!subnetContains(subnet, ip) || isReservedAddress(subnet, ip)) throw invalidArgument(`no matching subnet for aux-address ${addr}`);
      if (ip === gateway) throw invalidArgument(`auxiliary address ${addr} (${key}) is the gateway of ${formatSubnet(subnet)}`);
      auxAddresses[key] = formatIpv4(ip);
    }
    const v6 = o.subnet6 ? this.planSubnet6(o.subnet6, o.gateway6) : undefined;
    const id = newId();
    const bridge = options["com.docker.network.bridge.name"] ?? `gt-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(bridge)) {
      throw invalidArgument(`invalid bridge name "${bridge}"`, {
        hint: "at most 15 letters, digits, '_', '.', '-'",
      });
    }
    if (this.all().some((n) => n.bridge === bridge))
      throw conflict(`bridge ${bridge} is already used by another network`);
    if (await linkExists(bridge)) {
      throw conflict(`a network device named ${bridge} already exists on the host`, {
        hint: "choose another com.docker.network.bridge.name",
      });
    }
    return {
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
      ...(Object.keys(auxAddresses).length ? { auxAddresses } : {}),
      ...(v6 ?? {}),
    };
  }

  /** An `--ipv6` network's subnet and gateway (default: the subnet's ::1), checked against the others'. */
  private planSubnet6(subnetText: string, gatewayText?: string): { subnet6: string; gateway6: string } {
    const s = parseSubnet6(subnetText);
    for (const n of this.all()) {
      if (n.subnet6 && subnets6Overlap(s, parseSubnet6(n.subnet6))) throw conflict(`subnet ${formatSubnet6(s)} overlaps with network ${n.name} (${n.subnet6})`);
    }
    const gw = gatewayText ? parseIpv6(gatewayText, "IPv6 gateway") : firstHost6(s);
    if (!subnet6Contains(s, gw) || gw === s.base) throw invalidArgument(`gateway ${gatewayText} is not a usable address of subnet ${formatSubnet6(s)}`);
    return { subnet6: formatSubnet6(s), gateway6: formatIpv6(gw) };
  }

  private pickSubnet(routes: Array<{ dst: string }>): Subnet {
    const pool = parseSubnet(this.subnetPool);
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

  /** Writes a planned network's files, its record last (the commit point), then registers it.
   * On a failure the files written are removed and the error thrown. */
  commit(rec: NetworkRecord): void {
    try {
      writeJsonAtomic(this.conflistPath(rec.id), this.conflistOf(rec, true), 0o644);
      // host-local skips an address whose lease file exists: one per auxiliary address.
      if (rec.auxAddresses) {
        const dir = join(this.ipamDir, cniNetworkName(rec));
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        for (const [key, ip] of Object.entries(rec.auxAddresses)) writeFileSync(join(dir, ip), `${AUX_LEASE_OWNER}\r\n${key}`, { mode: 0o600 });
      }
      mkdirSync(this.endpointsDir(rec.id), { recursive: true, mode: 0o700 });
      writeJsonAtomic(join(this.networksDir, `${rec.id}.json`), rec);
    } catch (err) {
      this.removeFiles(rec);
      throw err;
    }
    this.networks.set(rec.id, rec);
    this.endpoints.set(rec.id, new Map());
  }

  /** Forgets a network and removes its files and leases. */
  delete(n: NetworkRecord): void {
    this.removeFiles(n);
    rmSync(join(this.ipamDir, cniNetworkName(n)), { recursive: true, force: true });
    this.networks.delete(n.id);
    this.endpoints.delete(n.id);
  }

  private removeFiles(n: NetworkRecord): void {
    rmSync(join(this.networksDir, `${n.id}.json`), { force: true });
    rmSync(this.conflistPath(n.id), { force: true });
    rmSync(this.endpointsDir(n.id), { recursive: true, force: true });
  }

  // ---- endpoints ----------------------------------------------------------------------

  /** Records an endpoint (`durable`: fsynced; the start's critical path skips it). */
  saveEndpoint(ep: EndpointRecord, durable = true): void {
    writeJsonAtomic(this.endpointPath(ep.networkId, ep.containerId), ep, 0o600, durable);
    this.endpoints.get(ep.networkId)?.set(ep.containerId, ep);
  }

  /** Forgets the container's endpoint on a network, file included. */
  deleteEndpoint(networkId: string, containerId: string): void {
    rmSync(this.endpointPath(networkId, containerId), { force: true });
    this.endpoints.get(networkId)?.delete(containerId);
  }
}

/** The endpoint record of an ADD's result on network `n`. */
export function endpointOf(
  n: NetworkRecord,
  result: CniResult,
  e: Omit<EndpointRecord, "endpointId" | "networkId" | "networkName" | "address" | "prefix" | "gateway" | "mac" | "created">,
): EndpointRecord {
  const addr = resultAddress(result);
  const addr6 = resultAddress6(result);
  const mac = resultMac(result, e.ifName);
  return {
    endpointId: newId(),
    networkId: n.id,
    networkName: n.name,
    ...e,
    address: addr?.address ?? "",
    prefix: addr?.prefix ?? 0,
    ...(addr?.gateway && !n.internal ? { gateway: addr.gateway } : {}),
    ...(addr6 ? { address6: addr6.address, prefix6: addr6.prefix, ...(addr6.gateway && !n.internal ? { gateway6: addr6.gateway } : {}) } : {}),
    ...(mac ? { mac } : {}),
    created: new Date().toISOString(),
  };
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
