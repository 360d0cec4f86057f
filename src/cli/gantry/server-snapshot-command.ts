// `gantry server snapshot save|restore`: backups of the cluster's store while the server
// runs, and a new data directory made from one (kube's etcdctl snapshot, k3s's etcd-snapshot).
// --data-dir and --etcd-endpoints are the `server` command's own options.
import type { Command } from "commander";
import { invalidArgument } from "../../common/errors.ts";
import { snapshots } from "../../cluster/store/index.ts";

interface StoreOptions {
  dataDir: string;
  etcdEndpoints?: string;
}

function endpointsOf(opts: StoreOptions): string[] | undefined {
  if (opts.etcdEndpoints === undefined) return undefined;
  const list = opts.etcdEndpoints.split(",").map((e) => e.trim()).filter(Boolean);
  if (!list.length) throw invalidArgument("--etcd-endpoints needs at least one URL");
  return list;
}

export function registerServerSnapshotCommands(server: Command): void {
  const snapshot = server.command("snapshot").description("Back up the cluster store while the server runs, and restore a backup into a new data directory");

  snapshot
    .command("save")
    .description("Write a consistent copy of the store (DATA_DIR/state.db, or etcd with --etcd-endpoints) to FILE")
    .argument("<file>", "where the snapshot goes")
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<StoreOptions>();
      const { saveEtcdSnapshot, saveSqliteSnapshot } = await snapshots();
      const endpoints = endpointsOf(opts);
      if (endpoints) {
        await saveEtcdSnapshot(endpoints, file);
        console.log(`snapshot of etcd at ${endpoints.join(",")} saved to ${file}`);
        return;
      }
      const info = await saveSqliteSnapshot(opts.dataDir, file);
      console.log(`snapshot saved to ${file}: revision ${info.revision}, ${info.keys} keys, ${info.bytes} bytes`);
    });

  snapshot
    .command("restore")
    .description("Make a new data directory from a snapshot; `gantry server --data-dir NEWDIR` then comes back with every object and resourceVersion (new credentials are made unless DATA_DIR/tls and DATA_DIR/token are copied over)")
    .argument("<file>", "a snapshot written by `snapshot save`")
    .option("--etcd", "the snapshot is etcd's: restore it as an etcd member data directory NEWDIR/etcd (start etcd with --data-dir NEWDIR/etcd)")
    .action(async (file: string, local: { etcd?: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<StoreOptions>();
      const { restoreEtcdSnapshot, restoreSqliteSnapshot } = await snapshots();
      if (local.etcd) {
        const dir = await restoreEtcdSnapshot(file, opts.dataDir);
        console.log(`restored into ${dir}: start etcd with --data-dir ${dir}, then gantry server --etcd-endpoints`);
        return;
      }
      const info = await restoreSqliteSnapshot(file, opts.dataDir);
      console.log(`restored revision ${info.revision} (${info.keys} keys) into ${opts.dataDir}`);
    });
}
