// The Engine API's JSON for networks (GET /networks, /networks/{id}), made from the library's
// records so the engine's handlers stay thin.
import { GantryError, invalidArgument } from "../common/errors.ts";
import type { EndpointRecord, NetworkCreateOptions, NetworkRecord } from "./registry.ts";
import type { PortMapping } from "./ports.ts";

export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: "bridge";
  EnableIPv6: boolean;
  IPAM: {
    Driver: "default";
    Options: Record<string, string>;
    Config: Array<{ Subnet: string; Gateway: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }>;
  };
  Internal: boolean;
  Attachable: boolean;
  Ingress: false;
  ConfigFrom: { Network: string };
  ConfigOnly: false;
  Containers: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export function toDockerNetwork(n: NetworkRecord, endpoints: EndpointRecord[]): DockerNetwork {
  const containers: DockerNetwork["Containers"] = {};
  for (const e of endpoints) {
    containers[e.containerId] = {
      Name: e.containerName,
      EndpointID: e.endpointId,
      MacAddress: e.mac ?? "",
      IPv4Address: e.address ? `${e.address}/${e.prefix}` : "",
      IPv6Address: e.address6 ? `${e.address6}/${e.prefix6}` : "",
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: "local",
    Driver: "bridge",
    EnableIPv6: !!n.subnet6,
    IPAM: {
      Driver: "default",
      Options: {},
      Config: [
        { Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}), ...(n.auxAddresses ? { AuxiliaryAddresses: { ...n.auxAddresses } } : {}) },
        ...(n.subnet6 ? [{ Subnet: n.subnet6, Gateway: n.gateway6 ?? "" }] : []),
      ],
    },
    Internal: n.internal,
    Attachable: true,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    // What the user set, as dockerd reports it (compose recreates a network whose options
    // differ from its file); the default bridge shows its device and flag as docker0's do.
    Options: n.isDefault ? { ...n.options, "com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.name": n.bridge } : { ...n.options },
    Labels: { ...n.labels },
  };
}

/** NetworkSettings.Networks[name] of a container inspect. */
export function toDockerEndpointSettings(e: EndpointRecord) {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: e.aliases,
    NetworkID: e.networkId,
    EndpointID: e.endpointId,
    Gateway: e.gateway ?? "",
    IPAddress: e.address,
    IPPrefixLen: e.prefix,
    IPv6Gateway: e.gateway6 ?? "",
    GlobalIPv6Address: e.address6 ?? "",
    GlobalIPv6PrefixLen: e.prefix6 ?? 0,
    MacAddress: e.mac ?? "",
    DNSNames: [e.containerName, ...e.aliases, e.containerId.slice(0, 12)].filter(Boolean),
  };
}

/** NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}]} over all of a container's endpoints. */
export function toDockerPorts(
  endpoints: EndpointRecord[],
): Record<string, Array<{ HostIp: string; HostPort: string }>> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  const all: PortMapping[] = endpoints.flatMap((e) => e.ports);
  for (const p of all) {
    (out[`${p.containerPort}/${p.protocol}`] ??= []).push({
      HostIp: p.hostIp === "" ? "0.0.0.0" : p.hostIp,
      HostPort: String(p.hostPort),
    });
  }
  return out;
}

/** POST /networks/create body (what `docker network create` sends). */
export interface DockerNetworkCreateBody {
  Name?: unknown;
  Driver?: unknown;
  Internal?: unknown;
  Attachable?: unknown;
  Ingress?: unknown;
  EnableIPv6?: unknown;
  ConfigOnly?: unknown;
  IPAM?: { Driver?: unknown; Config?: unknown; Options?: unknown } | null;
  Options?: unknown;
  Labels?: unknown;
  [key: string]: unknown;
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) {
    throw invalidArgument(`${what} must be an object of strings`);
  }
  return { ...(v as Record<string, string>) };
}

/** Validates a Docker network-create body into the library's options; refuses what Gantry lacks. */
export function fromDockerNetworkCreate(body: DockerNetworkCreateBody): NetworkCreateOptions {
  if (typeof body !== "object" || body === null)
    throw invalidArgument("network create body must be a JSON object");
  if (typeof body.Name !== "string" || body.Name === "")
    throw invalidArgument("network create: Name is required");
  for (const [key, what] of [
    ["Ingress", "ingress networks"],
    ["ConfigOnly", "config-only networks"],
  ] as const) {
    if (body[key] === true)
      throw new GantryError("UNSUPPORTED_OPTION", `${what} are not supported`, {
        hint: "Gantry networks are IPv4 bridges",
      });
  }
  const ipam = body.IPAM ?? {};
  if (ipam.Driver !== undefined && ipam.Driver !== "" && ipam.Driver !== "default") {
    throw new GantryError("UNSUPPORTED_OPTION", `IPAM driver "${String(ipam.Driver)}" is not supported`);
  }
  if (Object.keys(stringMap(ipam.Options, "IPAM.Options")).length > 0)
    throw new GantryError("UNSUPPORTED_OPTION", "IPAM options are not supported");
  const configs = (ipam.Config ?? []) as Array<Record<string, unknown>>;
  if (!Array.isArray(configs)) throw invalidArgument("IPAM.Config must be an array");
  // At most one IPv4 config and, with EnableIPv6, one IPv6 config (its Subnet and Gateway).
  const isV6 = (x: Record<string, unknown>) => typeof x.Subnet === "string" && x.Subnet.includes(":");
  const v6 = configs.filter(isV6);
  const v4 = configs.filter((x) => !isV6(x));
  if (v4.length > 1 || v6.length > 1)
    throw new GantryError(
      "UNSUPPORTED_OPTION",
      "more than one IPAM config (subnet) per address family is not supported",
    );
  if (body.EnableIPv6 !== undefined && typeof body.EnableIPv6 !== "boolean") throw invalidArgument("EnableIPv6 must be a boolean");
  if (v6.length && body.EnableIPv6 !== true) throw invalidArgument(`IPv6 subnet ${String(v6[0]!.Subnet)} needs EnableIPv6 (docker network create --ipv6)`);
  if (body.EnableIPv6 === true && !v6.length)
    throw new GantryError("UNSUPPORTED_OPTION", "an IPv6 network needs an IPv6 subnet (--subnet fd00:…/64): Gantry has no default IPv6 pool");
  const c = v4[0] ?? {};
  const str = (k: string, from: Record<string, unknown> = c): string | undefined => {
    const v = from[k];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") throw invalidArgument(`IPAM.Config.${k} must be a string`);
    if (from === c && v.includes(":")) throw new GantryError("UNSUPPORTED_OPTION", `IPv6 ${k} "${v}" in the IPv4 config is not supported`);
    return v;
  };
  if (v6[0] && (str("IPRange", v6[0]) || Object.keys(stringMap(v6[0].AuxiliaryAddresses, "AuxiliaryAddresses")).length))
    throw new GantryError("UNSUPPORTED_OPTION", "IPv6 ip ranges and auxiliary addresses are not supported");
  const auxAddresses = stringMap(c.AuxiliaryAddresses, "AuxiliaryAddresses");
  for (const v of Object.values(auxAddresses)) if (v.includes(":")) throw new GantryError("UNSUPPORTED_OPTION", `IPv6 auxiliary address "${v}" is not supported`);
  if (Object.keys(auxAddresses).length > 0 && !str("Subnet")) throw invalidArgument("auxiliary addresses need a subnet");
  if (body.Internal !== undefined && typeof body.Internal !== "boolean")
    throw invalidArgument("Internal must be a boolean");
  return {
    name: body.Name,
    driver: typeof body.Driver === "string" ? body.Driver : undefined,
    subnet: str("Subnet"),
    gateway: str("Gateway"),
    ipRange: str("IPRange"),
    internal: body.Internal === true,
    labels: stringMap(body.Labels, "Labels"),
    options: stringMap(body.Options, "Options"),
    ...(Object.keys(auxAddresses).length ? { auxAddresses } : {}),
    ...(v6[0] ? { subnet6: str("Subnet", v6[0]), gateway6: str("Gateway", v6[0]) } : {}),
  };
}
