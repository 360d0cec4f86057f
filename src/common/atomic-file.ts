// Crash-safe state files: write to a temporary file in the same directory, fsync, rename.
// A reader sees either the old content or the new, never a torn file.
// fs.promises is read where it is used, not imported: node loads that module (with its readline
// and stream parts) on first access, and the runtime CLI, which bundles this file, never needs it.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, readFileSync, promises as fsp } from "node:fs";
import { dirname, basename, join } from "node:path";

/**
 * `durable: false` skips the fsync: the rename alone keeps the file whole across a crash of
 * the process, and only a machine crash could lose the write — right for volatile state
 * (under /run) that a machine crash discards anyway.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o600, durable = true): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof content === "string" ? Buffer.from(content) : content);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** `pretty: false` writes one line: files only programs read are smaller and quicker to
 * make and parse (a container's runtime state with its OCI config is ~40 KB indented). */
/**
 * writeFileAtomic with the file's creation, write, fsync and rename on libuv's thread pool:
 * for a server, an fsync waits for the filesystem's journal (milliseconds under load), and
 * even a rename costs a busy daemon's event loop a quarter of a millisecond, which every
 * other request would wait for. `durable: false` skips the fsync, as writeFileAtomic's.
 */
export async function writeFileAtomicDurably(path: string, content: string | Uint8Array, mode = 0o600, durable = true): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${++tmpCount}.tmp`);
  const fh = await fsp.open(tmp, "w", mode);
  try {
    await fh.writeFile(content);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
}
let tmpCount = 0;

export function writeJsonAtomic(path: string, value: unknown, mode = 0o600, durable = true, pretty = true): void {
  writeFileAtomic(path, (pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)) + "\n", mode, durable);
}

/** Reads a JSON file, or returns undefined when it does not exist. */
export function readJsonIfExists<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
