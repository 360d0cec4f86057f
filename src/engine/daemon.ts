// The daemon as a library: the engine plus its API server on a unix socket. `gantry daemon`
// calls startDaemon; tests do too (in a child process, so they can SIGKILL it).
import { Engine, type EngineOptions } from "./engine.ts";
import { ApiServer } from "./api/server.ts";

export const DEFAULT_SOCKET = "/run/gantry/gantry.sock";
export const DEFAULT_ROOT = "/var/lib/gantry";
export const DEFAULT_EXEC_ROOT = "/run/gantry";

export interface DaemonOptions extends EngineOptions {
  socket: string;
}

export interface Daemon {
  engine: Engine;
  api: ApiServer;
  /** Stops serving; containers keep running (they belong to their monitors). */
  close(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const engine = new Engine(opts);
  await engine.restore();
  const api = new ApiServer(engine);
  await api.listen(opts.socket);
  return {
    engine,
    api,
    close: async () => {
      await api.close();
      await engine.close();
    },
  };
}

/** "unix:///run/x.sock" or a plain path → the socket path. */
export function socketPathOf(host: string): string {
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  if (host.includes("://")) throw new Error(`only unix sockets are supported, not ${host}`);
  return host;
}
