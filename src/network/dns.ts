// Names on the networks: the embedded DNS server of each user network (on its gateway
// address, answering container names, aliases and id prefixes, forwarding the rest), and the
// hosts / hostname / resolv.conf files a container sees.
import { parseIpv4 } from "./subnet.ts";
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
import type { NetworkRecord, NetworkRegistry } from "./registry.ts";

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

export interface NameServiceOptions {
  /** Where unknown names go when a container has no --dns; default the host's resolvers. */
  dnsUpstreams?: string[];
  /** Host resolv.conf, for containers without embedded DNS; default /etc/resolv.conf. */
  hostResolvConf?: string;
}

export class NetworkNames {
  private readonly servers = new Map<string, EmbeddedDnsServer>();

  constructor(
    private readonly registry: NetworkRegistry,
    private readonly opts: NameServiceOptions,
  ) {}

  /** Starts network `n`'s DNS server unless it runs. */
  async ensureServer(n: NetworkRecord): Promise<void> {
    if (this.servers.has(n.id)) return;
    const server = new EmbeddedDnsServer(n.gateway, {
      lookup: (name, client, family) => this.resolve(n.id, name, client, family),
      reverse: (address, client) => {
        const eps = this.registry.endpointsOn(n.id);
        if (!eps.some((e) => e.address === client)) return undefined;
        const ep = eps.find((e) => e.address === address);
        return ep ? ep.containerName || ep.containerId.slice(0, 12) : undefined;
      },
      upstreams: (client) => {
        const ep = this.registry.endpointsOn(n.id).find((e) => e.address === client);
        // Only the network's own containers may use it as a forwarder.
        if (!ep) return [];
        if (ep.dns.length > 0) return ep.dns;
        return this.opts.dnsUpstreams ?? hostNameservers(this.opts.hostResolvConf).nameservers;
      },
    });
    await server.start();
    this.servers.set(n.id, server);
  }

  async stopServer(networkId: string): Promise<void> {
    const s = this.servers.get(networkId);
    this.servers.delete(networkId);
    await s?.close();
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.servers.keys()]) await this.stopServer(id);
  }

  /**
   * Name resolution asked of network `networkId`'s server by the container at `client`: a
   * container name, a network alias, or an id prefix of at least 6 hex digits, looked up on
   * every DNS network the asking container is on (this one first), as Docker does;
   * `name.<network>` looks on that network only. Only containers on the network may ask;
   * without `client` the lookup covers this network alone.
   */
  resolve(networkId: string, name: string, client?: string, family: 4 | 6 = 4): string[] {
    const n = this.registry.networks.get(networkId);
    if (!n) return [];
    let scope: NetworkRecord[] = [n];
    if (client !== undefined) {
      const asking = this.registry.endpointsOn(networkId).find((e) => e.address === client);
      if (!asking) return [];
      const others = this.registry
        .endpointsOf(asking.containerId)
        .map((e) => this.registry.networks.get(e.networkId))
        .filter((x): x is NetworkRecord => x !== undefined && x.dns && x.id !== n.id);
      scope = [n, ...others];
    }
    const q = name.toLowerCase().replace(/\.$/, "");
    const qualified = scope.find((net) => q.endsWith(`.${net.name.toLowerCase()}`));
    if (qualified) return this.lookupOn(qualified, q.slice(0, -(qualified.name.length + 1)), family);
    for (const net of scope) {
      const hits = this.lookupOn(net, q, family);
      if (hits.length > 0) return hits;
    }
    return [];
  }

  private lookupOn(n: NetworkRecord, q: string, family: 4 | 6): string[] {
    return this.registry
      .endpointsOn(n.id)
      .filter(
        (e) =>
          e.containerName.toLowerCase() === q ||
          e.aliases.some((a) => a.toLowerCase() === q) ||
          (/^[0-9a-f]{6,}$/.test(q) && e.containerId.toLowerCase().startsWith(q)),
      )
      .map((e) => (family === 6 ? (e.address6 ?? "") : e.address))
      .filter((a) => a !== "");
  }

  /**
   * Writes hosts, hostname and resolv.conf for a container into `o.dir` (call after attach;
   * call again after connect/disconnect: the files are rewritten in place). A container on a
   * network with embedded DNS gets that network's gateway as its only nameserver; others get
   * --dns or the host's resolvers.
   */
  containerFiles(o: ContainerFilesOptions): ContainerFilePaths {
    validateHostname(o.hostname);
    const eps = this.registry.endpointsOf(o.containerId);
    const firstGateway = eps.find((e) => e.gateway)?.gateway;
    const extraHosts = (o.extraHosts ?? []).map((h) =>
      typeof h === "string" ? parseAddHost(h, firstGateway) : h,
    );
    for (const ns of o.dns ?? []) parseIpv4(ns, "--dns server");
    const dnsNet = eps.map((e) => this.registry.networks.get(e.networkId)).find((n) => n?.dns);
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
}
