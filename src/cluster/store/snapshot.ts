// Backups of the cluster store, taken while the server runs (`gantry server snapshot
// save|restore`). SQLite: the online backup API copies a consistent image of state.db page by
// page while writers go on (WAL readers never block them), so the copy holds every object at
// one revision, with its resourceVersion; restore checks the file and puts it in place as a
// new data directory's state.db. etcd: `etcdctl snapshot save` / `snapshot restore` (Debian's
// etcd-client), restore making a new member data directory an etcd is then started on.
import { execFile } from "node:child_process";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { GantryError, invalidArgument } from "../../common/errors.ts";

export const SQLITE_STORE_FILE = "state.db";

export interface SnapshotInfo {
  /** The store revision the snapshot holds (the highest resourceVersion in it). */
  revision: number;
  /** Live keys (objects and claims) in it. */
  keys: number;
  bytes: number;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Opens FILE read-only and checks it is a Gantry store; its revision and live key count. */
function inspectSqlite(file: string): SnapshotInfo {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw invalidArgument(`${file} cannot be opened as a SQLite store: ${(err as Error).message}`);
  }
  try {
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
    if (!tables.has("log") || !tables.has("meta")) throw invalidArgument(`${file} is a SQLite file but not a Gantry store (no log/meta tables)`);
    const check = (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check;
    if (check !== "ok") throw invalidArgument(`${file} is damaged: integrity_check says ${check}`);
    const revision = (db.prepare("SELECT COALESCE(MAX(revision), 0) AS r FROM log").get() as { r: number }).r;
    const keys = (db.prepare("SELECT COUNT(*) AS n FROM (SELECT key, MAX(revision) AS rev FROM log GROUP BY key) AS latest JOIN log ON log.revision = latest.rev WHERE log.deleted = 0").get() as { n: number }).n;
    return { revision, keys, bytes: statSync(file).size };
  } catch (err) {
    if (err instanceof GantryError) throw err;
    throw invalidArgument(`${file} is not a readable Gantry store: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/** Copies the running server's DATA_DIR/state.db to FILE (atomically: FILE appears complete or not at all). */
export async function saveSqliteSnapshot(dataDir: string, file: string): Promise<SnapshotInfo> {
  const source = join(dataDir, SQLITE_STORE_FILE);
  if (!existsSync(source)) throw invalidArgument(`no store at ${source}: is --data-dir the server's (or does it use --etcd-endpoints)?`);
  const target = resolve(file);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(partial);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new GantryError("INTERNAL", `backing up ${source} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
  const info = inspectSqlite(partial);
  fsyncPath(partial);
  renameSync(partial, target);
  fsyncPath(dirname(target));
  return info;
}

/** Puts a snapshot in place as NEW_DATA_DIR/state.db; refuses a directory that already has a store. */
export async function restoreSqliteSnapshot(file: string, dataDir: string): Promise<SnapshotInfo> {
  const target = join(dataDir, SQLITE_STORE_FILE);
  if (existsSync(target)) throw new GantryError("ALREADY_EXISTS", `${target} exists: restore into a new --data-dir (nothing was changed)`);
  const info = inspectSqlite(file);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const partial = `${target}.restoring`;
  rmSync(partial, { force: true });
  // backup() rather than a file copy: it reads a consistent image even of a file being written.
  const src = new Database(file, { readonly: true, fileMustExist: true });
  try {
    await src.backup(partial);
  } finally {
    src.close();
  }
  fsyncPath(partial);
  renameSync(partial, target);
  fsyncPath(dataDir);
  return info;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (!err) return resolvePromise(stdout + stderr);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return reject(new GantryError("NOT_FOUND", `${cmd} is not installed`, { hint: "scripts/install-deps.sh installs etcd-client" }));
      reject(new GantryError("INTERNAL", `${cmd} ${args.join(" ")} failed: ${(stderr || err.message).trim()}`, { cause: err }));
    });
  });
}

/** `etcdctl snapshot save` from the first endpoint that answers. */
export async function saveEtcdSnapshot(endpoints: string[], file: string): Promise<string> {
  const target = resolve(file);
  mkdirSync(dirname(target), { recursive: true });
  return run("etcdctl", [`--endpoints=${endpoints.join(",")}`, "snapshot", "save", target]);
}

/** `etcdctl snapshot restore` into NEW_DATA_DIR/etcd, a member data directory to start etcd on. */
export async function restoreEtcdSnapshot(file: string, dataDir: string): Promise<string> {
  const etcdDir = join(dataDir, "etcd");
  if (existsSync(etcdDir)) throw new GantryError("ALREADY_EXISTS", `${etcdDir} exists: restore into a new --data-dir (nothing was changed)`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  await run("etcdctl", ["snapshot", "restore", resolve(file), `--data-dir=${etcdDir}`]);
  return etcdDir;
}
