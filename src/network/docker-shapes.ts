// The Engine API's JSON for networks (GET /networks, /networks/{id}), made from the library's
// records so the engine's handlers stay thin.
import type { EndpointRecord, NetworkRecord } from "./networks.ts";
import type { PortMapping } from "./ports.ts";

export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: "bridge";
  EnableIPv6: false;
  IPAM: {
    Driver: "default";
    Options: Record<string, string>;
    Config: Array<{ Subnet: string; Gateway: string; IPRange?: string }>;
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
      IPv6Address: "",
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: "local",
    Driver: "bridge",
    EnableIPv6: false,
    IPAM: {
      Driver: "default",
      Options: {},
      Config: [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }],
    },
    Internal: n.internal,
    Attachable: true,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: { ...n.options, "com.docker.network.bridge.name": n.bridge },
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
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
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
