// The network library's public surface (see docs/ARCHITECTURE.md "Networks").
export { openNetworks, Networks } from "./networks.ts";
export type {
  AttachOptions,
  ContainerFilesOptions,
  EndpointRecord,
  NetworkCreateOptions,
  NetworkLibraryOptions,
  NetworkRecord,
  ReconcileReport,
} from "./networks.ts";
export {
  parsePublish,
  publishAll,
  fromDockerPortBindings,
  toDockerPortBindings,
  parseExposedPort,
  describeMapping,
} from "./ports.ts";
export type { PortMapping, PortProtocol, DockerPortBindings, DockerExposedPorts } from "./ports.ts";
export { parseAddHost, renderHosts, renderResolvConf } from "./container-files.ts";
export type { ContainerFilePaths, ExtraHost } from "./container-files.ts";
export {
  toDockerNetwork,
  toDockerEndpointSettings,
  toDockerPorts,
  fromDockerNetworkCreate,
} from "./docker-shapes.ts";
export type { DockerNetwork, DockerNetworkCreateBody } from "./docker-shapes.ts";
export { removeNetworkRules, ruleNamesOf } from "./network-rules.ts";
export { SlirpNetworks, SLIRP_NETWORK } from "./slirp.ts";
