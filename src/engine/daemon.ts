// The daemon as a library: the engine plus its API server on a unix socket. `gantry daemon`
// calls startDaemon; tests do too (in a child process, so they can SIGKILL it).
//
// A daemon owns its data root: it holds DATA_ROOT/daemon.lock (a pid-file lock, taken over
// only from a dead owner) from before it reads any state until it stops, so it is the image
// store's and the container records' one writer. A second daemon on the same root refuses
// to start instead of racing the first over refs, blobs and containers.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { GantryError } from "../common/errors.ts";
import { acquirePidLock, readLockOwner, type PidLock } from "../common/pid-lock.ts";
import { Engine, type EngineOptions } from "./engine.ts";
import { ApiServer } from "./api/server.ts";
import { isUp } from "./container-state.ts";

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

export const dataRootLockPath = (root: string) => join(root, "daemon.lock");

/** Takes the data root's ownership lock, or says which process has it. */
export async function ownDataRoot(root: string): Promise<PidLock> {
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const path = dataRootLockPath(root);
  try {
    return await acquirePidLock(path, { timeoutMs: 0 });
  } catch (err) {
    if (!(err instanceof GantryError && err.code === "TIMEOUT")) throw err;
    const owner = readLockOwner(path);
    throw new GantryError("CONFLICT", `data root ${root} is in use by another gantry daemon${owner ? ` (pid ${owner.pid})` : ""}`, {
      path,
      hint: "stop that daemon first, or give this one its own --data-root",
    });
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const lock = await ownDataRoot(opts.root);
  try {
    const engine = new Engine(opts);
    await engine.restore();
    const api = new ApiServer(engine);
    await api.listen(opts.socket);
    return {
      engine,
      api,
      close: async () => {
        await api.close();
        if (opts.rootless) await stopContainers(engine, (m) => (opts.log ?? console.error)(m));
        await engine.close();
        lock.release();
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** "unix:///run/x.sock" or a plain path → the socket path. */
export function socketPathOf(host: string): string {
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  if (host.includes("://")) throw new Error(`only unix sockets are supported, not ${host}`);
  return host;
}

/**
 * A rootless daemon's containers live in its user and mount namespaces and use its
 * slirp4netns processes: they stop with it (as rootless Docker's do when rootlesskit stops),
 * so nothing of the user's is left running once `gantry daemon` has ended.
 */
async function stopContainers(engine: Engine, log: (m: string) => void): Promise<void> {
  const up = engine.containers.all().filter((c) => isUp(c.State.Status));
  await Promise.all(up.map((c) => engine.stop(c.Id).catch((err: unknown) => log(`stop ${c.Id.slice(0, 12)}: ${(err as Error).message}`))));
}
