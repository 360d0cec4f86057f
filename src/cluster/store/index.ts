// The cluster store's public module: the contract (types.ts) and the one way to open a
// backend, for the API server — nothing else in the cluster talks to the store.
import type { Store, StoreSpec } from "./types.ts";

export type * from "./types.ts";

export async function openStore(spec: StoreSpec): Promise<Store> {
  // Loaded on demand so that a SQLite-only server never loads the etcd client and vice versa.
  if (spec.kind === "sqlite") {
    const { openSqliteStore } = await import("./sqlite.ts");
    return openSqliteStore(spec.path);
  }
  const { openEtcdStore } = await import("./etcd.ts");
  return openEtcdStore(spec.endpoints, spec.prefix ?? "");
}

export { timedStore, storeKeyType } from "./timed-store.ts";

export type { SnapshotInfo } from "./snapshot.ts";

/** Backups (`gantry server snapshot`), loaded on demand like the backends. */
export const snapshots = () => import("./snapshot.ts");
