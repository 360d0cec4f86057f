// Crash-safe state files: write to a temporary file in the same directory, fsync, rename.
// A reader sees either the old content or the new, never a torn file.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, readFileSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o600): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof content === "string" ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o600): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", mode);
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
