// The engine layer's public module: what the CLI and the node agent (which drives an Engine
// in-process, as the kubelet drives its runtime) may use.
export { EngineClient, DEFAULT_HOST, demux, readAll, type Filters } from "./client.ts";
export {
  ContainerClient,
  type ContainerSummary,
  type ContainerInspect,
  type ExecCreateBody,
  type ExecInspect,
  type StatsSample,
  type Change,
  type WaitResult,
} from "./container-client.ts";
export { SystemClient, type EngineEvent, type EngineVersion } from "./system-client.ts";
export { startDaemon, socketPathOf, DEFAULT_SOCKET, DEFAULT_ROOT, DEFAULT_EXEC_ROOT, type Daemon, type DaemonOptions } from "./daemon.ts";
export { runShim } from "./oci-shim.ts";
export { isRootlessChild, reexecInUserNamespace, rootlessPaths, defaultClientSocket } from "./rootless.ts";
export { ImageClient, splitTag, type ImageListEntry, type ImageInspect, type ImageHistoryEntry, type ImageDeleteEntry } from "./image-client.ts";
export { humanSize, StreamError, type JsonMessage } from "./json-message.ts";
export { Engine, type EngineOptions, type WaitCondition } from "./engine.ts";
export type { ContainerRecord, ContainerState, ContainerStatus } from "./container-store.ts";
export type { Explained, Glass, GlassNamespace, GlassCgroupFile } from "./glass.ts";
export { cgroupLimitFiles } from "./glass.ts";
export type { CreateBody, HostConfig, ContainerConfig, DockerMount } from "./api-types.ts";
export { IdRangePool, hostIdOf, parseSubordinateIds, type IdRange, type ContainerUserns } from "./userns.ts";
