// The engine layer's public module: what the CLI (and later the node agent) may use.
export { EngineClient, DEFAULT_HOST, demux, readAll } from "./client.ts";
export { startDaemon, socketPathOf, DEFAULT_SOCKET, DEFAULT_ROOT, DEFAULT_EXEC_ROOT, type Daemon, type DaemonOptions } from "./daemon.ts";
export { runShim } from "./oci-shim.ts";
export { ImageClient, splitTag, type ImageListEntry, type ImageInspect, type ImageHistoryEntry, type ImageDeleteEntry } from "./image-client.ts";
export { humanSize, StreamError, type JsonMessage } from "./json-message.ts";
