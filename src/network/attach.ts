// Attachment of container network namespaces to networks through the CNI plugins: ADD with
// published ports, the warm pool of prepared namespaces, CHECK, and detach (DEL with the
// cached configuration, then whatever DEL leaves of the container). Callers order mutations
// through the library's lanes (lanes.ts); methods named *Locked run inside the serial lane.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { GantryError, invalidArgument, notFound, conflict } from "../common/errors.ts";
import { attachmentOf, inodeOf, cniAdd, cniCheck, cniDel, readCache } from "./cni.ts";
import type { CniAttachment, CniConflist, CniCacheEntry, CniResult } from "./cni.ts";
import { loopbackConf, mayLeaveRules } from "./conflist.ts";
import { formatIpv4, isReservedAddress, parseIpv4, parseSubnet, subnetContains } from "./subnet.ts";
import { describeMapping, mappingsClash, probeHostPort } from "./ports.ts";
import type { PortMapping } from "./ports.ts";
import { removeContainerRules } from "./host-rules.ts";
import { makeNetnsFile, removeNetnsFile } from "./netns-files.ts";
import { PreparedNamespaces } from "./prepared-namespaces.ts";
import type { PreparedSlot } from "./prepared-namespaces.ts";
import { cniNetworkName, endpointOf } from "./registry.ts";
import type { EndpointRecord, NetworkRecord, NetworkRegistry } from "./registry.ts";
import type { HostNetworking } from "./host-networking.ts";
import type { MutationLanes } from "./lanes.ts";
import type { NetworkNames } from "./dns.ts";

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
  /** The interface's MAC address (Docker's --mac-address), through the bridge plugin's `mac` capability. */
  mac?: string;
  /** The container's --dns servers (forwarding target of the embedded DNS). */
  dns?: string[];
}

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const PREPARED_PREFIX = "gantry-ns-";

export class Attachments {
  /** The warm pool (only with a runDir). */
  readonly prepared: PreparedNamespaces | undefined;
  /** Teardowns still running, by container: detachAll forgets at once and DELs in the queue. */
  private readonly detaching = new Map<string, Promise<void>>();

  constructor(
    private readonly registry: NetworkRegistry,
    private readonly host: HostNetworking,
    private readonly lanes: MutationLanes,
    private readonly names: NetworkNames,
    /** Volatile directory for prepared namespace files and the pool's size. */
    private readonly pool: { runDir?: string; size?: number },
  ) {
    if (pool.runDir) {
      this.prepared = new PreparedNamespaces(pool.size ?? 4, {
        prepare: (networkId) => this.prepareSlot(networkId),
        discard: (slot) => this.discardSlot(slot),
        background: (task) => this.lanes.inBackground(task),
      });
    }
  }

  async attachLocked(o: AttachOptions): Promise<EndpointRecord> {
    if (!CONTAINER_ID_RE.test(o.containerId)) throw invalidArgument(`invalid container id "${o.containerId}"`);
    const n = this.registry.get(o.network);
    const eps = this.registry.endpoints.get(n.id)!;
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
    const used = new Set(this.registry.endpointsOf(o.containerId).map((e) => e.ifName));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const ifName = `eth${i}`;
    const ports = await this.allocatePorts(o.ports ?? []);
    const list = this.registry.conflistOf(n, ports.length > 0);
    const att = {
      containerId: o.containerId,
      netns: o.netns,
      ifName,
      args,
      capabilityArgs: {
        ...(o.mac ? { mac: o.mac } : {}),
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
      this.registry.saveEndpoint(ep);
      if (n.dns) await this.names.ensureServer(n);
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
    await this.host.ensureRules(() => this.registry.all());
    const cni = this.host.cni;
    const add = async () => {
      // lo has no DEL worth caching: it dies with the namespace. It and eth0 are different
      // devices, so both plugins run at once.
      const [lo, added] = await Promise.allSettled([
        loUp
          ? Promise.resolve(undefined)
          : cniAdd(loopbackConf(), { containerId: att.containerId, netns: att.netns, ifName: "lo" }, cni, false),
        cniAdd(list, att, cni),
      ]);
      if (added.status === "rejected") throw added.reason;
      if (lo.status === "rejected") {
        await cniDel(list, att, cni, added.value).catch(() => undefined);
        throw lo.reason;
      }
      return added.value;
    };
    return mayLeaveRules(list) ? this.host.locked(add) : add();
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
    const n = this.registry.all().find((x) => x.isDefault && (x.name === o.network || x.id === o.network));
    const eps = n && this.registry.endpoints.get(n.id);
    if (!n || !eps || eps.has(o.containerId)) return undefined;
    const name = o.containerName ?? "";
    if (name !== "" && [...eps.values()].some((e) => e.containerName === name)) return undefined;
    let slot: PreparedSlot | undefined;
    while ((slot = this.prepared.take(n.id)) && inodeOf(slot.netns) !== slot.netnsInode) {
      // Someone unbound it meanwhile: its lease and cache entry still go.
      const gone = slot;
      void this.lanes.serial(() => this.discardSlot(gone)).catch(() => undefined);
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
      this.registry.saveEndpoint(ep, false);
    } catch (err) {
      const lost = slot;
      void this.lanes.serial(() => this.discardSlot(lost)).catch(() => undefined);
      throw err;
    }
    return ep;
  }

  private async prepareSlot(networkId: string): Promise<PreparedSlot> {
    const n = this.registry.networks.get(networkId);
    if (!n || !this.pool.runDir) throw new GantryError("INTERNAL", `network ${networkId} is gone`);
    const cniId = `${PREPARED_PREFIX}${randomBytes(8).toString("hex")}`;
    const netns = join(this.pool.runDir, cniId);
    await makeNetnsFile(netns);
    const netnsInode = inodeOf(netns) ?? "";
    try {
      const att = { containerId: cniId, netns, ifName: "eth0", args: {}, capabilityArgs: { portMappings: [] } };
      const result = await this.addPlugins(this.registry.conflistOf(n), att, true);
      return { cniId, networkId, netns, netnsInode, ifName: "eth0", result };
    } catch (err) {
      await removeNetnsFile(netns).catch(() => undefined);
      throw err;
    }
  }

  private async discardSlot(slot: PreparedSlot): Promise<void> {
    const n = this.registry.networks.get(slot.networkId);
    await removeNetnsFile(slot.netns);
    if (!n) return;
    const cached = readCache(this.host.cni, cniNetworkName(n), slot.cniId, slot.ifName);
    await this.delAttachment(
      cniNetworkName(n),
      slot.cniId,
      slot.ifName,
      slot.netns,
      slot.netnsInode,
      cached,
      this.registry.conflistOf(n),
    );
  }

  /** Chooses random host ports and refuses ports another endpoint or a host process holds. */
  private async allocatePorts(requested: PortMapping[]): Promise<PortMapping[]> {
    const taken: PortMapping[] = this.registry.allEndpoints().flatMap((e) => e.ports);
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
  async bringUpLoopbackLocked(containerId: string, netns: string): Promise<void> {
    const inode = inodeOf(netns);
    if (!inode) throw invalidArgument(`network namespace ${netns} does not exist`, { path: netns });
    if (inode === inodeOf("/proc/self/ns/net"))
      throw invalidArgument(`${netns} is the host's network namespace`, { path: netns });
    await cniAdd(loopbackConf(), { containerId, netns, ifName: "lo" }, this.host.cni, false);
  }

  // ---- detach -----------------------------------------------------------------------------

  /** Disconnects a container from one network; `force` also forgets an endpoint whose DEL failed. */
  async detachOneLocked(containerId: string, network: string, force: boolean): Promise<void> {
    const n = this.registry.get(network);
    const ep = this.registry.endpoints.get(n.id)?.get(containerId);
    if (!ep) throw notFound(`container ${containerId} is not connected to network ${n.name}`);
    await this.detachLocked(n, ep, force);
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
    const eps = this.registry.endpointsOf(containerId);
    const pending = this.detaching.get(containerId);
    if (eps.length === 0) return pending ?? Promise.resolve();
    for (const ep of eps) this.registry.endpoints.get(ep.networkId)?.delete(containerId);
    // Prepared namespaces have plugin ids of their own: nothing can race their DEL (a restart
    // of the container gets another), so it runs beside the queue instead of behind it.
    const lane = eps.every((e) => e.ownNetns)
      ? this.lanes.inBackground.bind(this.lanes)
      : this.lanes.serial.bind(this.lanes);
    const run = lane(async () => {
      let first: unknown;
      for (const ep of eps) {
        const n = this.registry.networks.get(ep.networkId);
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
      if (!force && this.registry.endpoints.get(n.id)?.get(ep.containerId) === ep) throw err;
      failed = err;
    }
    // The container may have attached again meanwhile (a restart): that endpoint stays.
    const current = this.registry.endpoints.get(n.id)?.get(ep.containerId);
    if (!current || current.endpointId === ep.endpointId) this.registry.deleteEndpoint(n.id, ep.containerId);
    await this.afterLeave(n, ep);
    if (failed) throw failed;
  }

  /** CNI DEL with the cached configuration, then whatever DEL leaves of this container. */
  private async teardown(n: NetworkRecord, ep: EndpointRecord): Promise<void> {
    const cniId = ep.cniContainerId ?? ep.containerId;
    // A namespace of our own is unbound first: the kernel then frees it, veth included, in
    // its own time, and DEL (which no longer finds it) only releases the lease.
    if (ep.ownNetns) await removeNetnsFile(ep.netns);
    const cached = readCache(this.host.cni, cniNetworkName(n), cniId, ep.ifName);
    await this.delAttachment(
      cniNetworkName(n),
      cniId,
      ep.ifName,
      ep.netns,
      ep.netnsInode,
      cached,
      // Without a cache entry nobody knows what ADD ran: DEL every plugin that might have.
      this.registry.conflistOf(n, true),
    );
  }

  /** DEL of one attachment by what is known of it (also reconcile's way to remove leftovers). */
  async delAttachment(
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
        await cniDel(list, att, this.host.cni, cached?.result).catch((e: unknown) => {
          err = e;
        });
      }
      // Per-container rules exist only where a plugin made some (published ports); without a
      // cache entry, or after a DEL that could not enter the namespace, look by comment.
      if (sweep) await removeContainerRules(networkName, containerId);
      if (err) throw err;
    };
    // Shared chains (portmap's, the comment sweep) are edited under the host lock only.
    await (sweep ? this.host.locked(del) : del());
  }

  /**
   * After a container left `n`: portmap's shared chains go with the last published port (the
   * plugin leaves them); the DNS server stops with the network's last container. The bridge
   * stays while the library is open, as docker0 does: making it again for the next container
   * would cost every `run --rm` a bridge and its address; close(), reconcile() and remove()
   * delete bridges nobody uses.
   */
  private async afterLeave(n: NetworkRecord, left: EndpointRecord): Promise<void> {
    if (left.ports.length > 0 && !this.registry.allEndpoints().some((e) => e.ports.length > 0))
      await this.host.locked(() => this.host.removeIdleSharedChains());
    if ((this.registry.endpoints.get(n.id)?.size ?? 0) === 0) await this.names.stopServer(n.id);
  }

  /** CNI CHECK of one attachment: throws NETWORK_PLUGIN_FAILED when the plumbing is broken. */
  async checkLocked(containerId: string, network: string): Promise<void> {
    const n = this.registry.get(network);
    const ep = this.registry.endpoints.get(n.id)?.get(containerId);
    if (!ep) throw notFound(`container ${containerId} is not connected to network ${n.name}`);
    const cached = readCache(this.host.cni, cniNetworkName(n), containerId, ep.ifName);
    if (!cached) throw new GantryError("INTERNAL", `no cached CNI result for ${containerId} on ${n.name}`);
    await cniCheck(cached, this.host.cni);
  }
}
