// `docker network connect` and `disconnect` (POST /networks/{id}/connect, /disconnect): a
// running container gains or loses an interface and its DNS names on the network at once,
// through the network library's CNI attach; a created or stopped one only has its record
// changed, and joins (or no longer joins) the network when it starts. The record keeps each
// connect's EndpointConfig (ConnectedNetworks) so a restart joins again; disconnecting
// NetworkMode's own network sets PrimaryDisconnected. Errors are dockerd's: 404 for an
// unknown container or network, 403 for already connected / not connected, 400 for a
// container sharing another's (or the host's) network namespace.
import { GantryError, invalidArgument, notFound } from "../common/errors.ts";
import type { AttachOptions, Networks } from "../network/index.ts";
import type { ConnectedEndpoint, ContainerRecord, ContainerStore } from "./container-store.ts";
import type { EventBus } from "./events.ts";

/** What of the engine connect and disconnect use (the engine itself; no import of it, which
 * imports connectedAttachOptions from here). */
export interface ConnectEngine {
  readonly networks: Networks | undefined;
  readonly containers: ContainerStore;
  readonly events: EventBus;
  writeNetworkFiles(rec: ContainerRecord): void;
}

/** One network's EndpointConfig, in a connect body or create's EndpointsConfig. */
export interface EndpointConfigBody {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Links?: string[] | null;
  DriverOpts?: Record<string, string> | null;
  /** --mac-address (API 1.44+). */
  MacAddress?: string;
}

/** The body of POST /networks/{id}/connect as dockerd takes it. */
export interface NetworkConnectBody {
  Container?: string;
  EndpointConfig?: EndpointConfigBody | null;
}

const ALIAS_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const running = (rec: ContainerRecord) => rec.State.Pid > 0 && ["running", "paused", "restarting"].includes(rec.State.Status);

/** What the network library needs to join `rec`'s namespace to a connected network. */
export function connectedAttachOptions(rec: ContainerRecord, netns: string, networkId: string, ep: ConnectedEndpoint): AttachOptions {
  return {
    containerId: rec.Id,
    containerName: rec.Name.slice(1),
    netns,
    network: networkId,
    ...(ep.Aliases?.length ? { aliases: ep.Aliases } : {}),
    ...(ep.IPv4Address ? { ip: ep.IPv4Address } : {}),
  };
}

function sharesNamespace(rec: ContainerRecord): boolean {
  const mode = rec.HostConfig.NetworkMode ?? "default";
  return mode === "host" || mode === "none" || mode.startsWith("container:");
}

/** NetworkMode's network id, whether or not the container left it. */
function primaryNetworkId(e: ConnectEngine, rec: ContainerRecord): string | undefined {
  if (!e.networks || sharesNamespace(rec)) return undefined;
  const mode = rec.HostConfig.NetworkMode ?? "default";
  try {
    return e.networks.get(mode === "default" ? "bridge" : mode).id;
  } catch {
    return undefined;
  }
}

/** The ids of the networks the container is on (running) or will join (created, stopped). */
function joinedNetworkIds(e: ConnectEngine, rec: ContainerRecord): Set<string> {
  if (running(rec)) return new Set((e.networks?.endpointsOf(rec.Id) ?? []).map((ep) => ep.networkId));
  const ids = new Set(Object.keys(rec.ConnectedNetworks ?? {}));
  const primary = primaryNetworkId(e, rec);
  if (primary && !rec.PrimaryDisconnected) ids.add(primary);
  return ids;
}

/** Checks one EndpointConfig and keeps what a later start needs. */
function endpointOfBody(cfg: EndpointConfigBody, defaultNetwork: boolean): ConnectedEndpoint {
  const aliases = [...new Set(cfg.Aliases ?? [])];
  for (const a of aliases) if (!ALIAS_RE.test(a)) throw invalidArgument(`invalid network alias "${a}"`);
  if (aliases.length && defaultNetwork) throw invalidArgument("network-scoped alias is supported only for containers in user defined networks");
  if (cfg.IPAMConfig?.IPv4Address && defaultNetwork) throw invalidArgument("user specified IP address is supported on user defined networks only");
  if (cfg.IPAMConfig?.IPv6Address) throw new GantryError("UNSUPPORTED_OPTION", "IPv6 addresses are not supported on Gantry networks");
  return {
    ...(aliases.length ? { Aliases: aliases } : {}),
    ...(cfg.IPAMConfig?.IPv4Address ? { IPv4Address: cfg.IPAMConfig.IPv4Address } : {}),
    ...(cfg.Links?.length ? { Links: [...cfg.Links] } : {}),
    ...(cfg.DriverOpts && Object.keys(cfg.DriverOpts).length ? { DriverOpts: { ...cfg.DriverOpts } } : {}),
  };
}

/** create's EndpointsConfig beyond NetworkMode's network, by network id (400 for an unknown one). */
export function connectedAtCreate(mode: string, endpoints: Record<string, EndpointConfigBody | null>, networks: Networks | undefined): Record<string, ConnectedEndpoint> {
  const out: Record<string, ConnectedEndpoint> = {};
  const primary = mode === "default" ? "bridge" : mode;
  for (const [ref, cfg] of Object.entries(endpoints)) {
    if (ref === mode || ref === primary) continue;
    if (mode === "host" || mode === "none" || mode.startsWith("container:")) throw invalidArgument("container sharing network namespace with another container or host cannot be connected to any other network");
    let n;
    try {
      n = networks?.get(ref);
    } catch (err) {
      if (!(err instanceof GantryError && err.code === "NOT_FOUND")) throw err;
    }
    // 400, not 404: the docker CLI answers a 404 from create by pulling the image.
    if (!n) throw invalidArgument(`network ${ref} not found`);
    if (networks?.get(primary).id === n.id) continue;
    out[n.id] = endpointOfBody(cfg ?? {}, n.isDefault);
  }
  return out;
}

/** The networks a container that is not running will join when it starts, for inspect. */
export function plannedNetworks(e: ConnectEngine, rec: ContainerRecord): { networkId: string; networkName: string; aliases: string[] }[] {
  if (!e.networks) return [];
  const out: { networkId: string; networkName: string; aliases: string[] }[] = [];
  const primary = primaryNetworkId(e, rec);
  for (const id of joinedNetworkIds(e, rec)) {
    let name: string;
    try {
      name = e.networks.get(id).name;
    } catch {
      continue; // removed since
    }
    out.push({ networkId: id, networkName: name, aliases: id === primary ? (rec.NetworkAliases ?? []) : (rec.ConnectedNetworks?.[id]?.Aliases ?? []) });
  }
  return out;
}

export async function connectContainer(e: ConnectEngine, networkRef: string, body: NetworkConnectBody): Promise<void> {
  if (!e.networks) throw notFound(`network ${networkRef} not found`);
  const n = e.networks.get(networkRef);
  if (!body.Container) throw invalidArgument("container is required");
  const rec = e.containers.get(body.Container);
  if (sharesNamespace(rec)) throw invalidArgument("container sharing network namespace with another container or host cannot be connected to any other network");
  const ep = endpointOfBody(body.EndpointConfig ?? {}, n.isDefault);
  if (joinedNetworkIds(e, rec).has(n.id)) throw new GantryError("FORBIDDEN", `endpoint with name ${rec.Name.slice(1)} already exists in network ${n.name}`);
  const aliases = ep.Aliases ?? [];
  const isPrimary = n.id === primaryNetworkId(e, rec);
  if (running(rec)) await e.networks.attach(connectedAttachOptions(rec, `/proc/${rec.State.Pid}/ns/net`, n.id, ep));
  if (isPrimary) {
    rec.PrimaryDisconnected = false;
    if (aliases.length) rec.NetworkAliases = aliases;
    else delete rec.NetworkAliases;
    if (ep.IPv4Address) rec.NetworkIPv4Address = ep.IPv4Address;
    else delete rec.NetworkIPv4Address;
  } else rec.ConnectedNetworks = { ...rec.ConnectedNetworks, [n.id]: ep };
  e.containers.save(rec);
  if (running(rec)) e.writeNetworkFiles(rec);
  e.events.publish("network", "connect", n.id, { container: rec.Id, name: n.name, type: "bridge" });
}

export async function disconnectContainer(e: ConnectEngine, networkRef: string, body: { Container?: string; Force?: boolean }): Promise<void> {
  if (!e.networks) throw notFound(`network ${networkRef} not found`);
  const n = e.networks.get(networkRef);
  if (!body.Container) throw invalidArgument("container is required");
  const rec = body.Force ? e.containers.find(body.Container) : e.containers.get(body.Container);
  if (!rec) {
    // Force: an endpoint of a container that is gone still goes (dockerd's cleanup of stale endpoints).
    const stale = e.networks.inspect(n.id).endpoints.find((x) => x.containerName === body.Container || x.containerId.startsWith(body.Container!));
    if (!stale) throw notFound(`No such container: ${body.Container}`);
    await e.networks.detach(stale.containerId, n.id, true);
    return;
  }
  if (!joinedNetworkIds(e, rec).has(n.id)) throw new GantryError("FORBIDDEN", `container ${rec.Id} is not connected to the network ${n.name}`);
  if (running(rec)) await e.networks.detach(rec.Id, n.id, !!body.Force);
  if (n.id === primaryNetworkId(e, rec)) rec.PrimaryDisconnected = true;
  else if (rec.ConnectedNetworks) {
    const { [n.id]: _gone, ...rest } = rec.ConnectedNetworks;
    rec.ConnectedNetworks = rest;
  }
  e.containers.save(rec);
  if (running(rec)) e.writeNetworkFiles(rec);
  e.events.publish("network", "disconnect", n.id, { container: rec.Id, name: n.name, type: "bridge" });
}
