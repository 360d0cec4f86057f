// A cross-process lock file (O_CREAT|O_EXCL) for the small read-modify-write sections of the
// store (the refs table). The critical section is synchronous, so within one process no two
// holders interleave; a lock left by a dead process (its pid is gone) is broken.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { GantryError } from "../common/errors.ts";

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms: number) => Atomics.wait(sleepBuffer, 0, 0, ms);

function holderIsDead(path: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(path, "utf8"), 10);
  } catch {
    return false; // being created or just released: retry
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export function withFileLock<T>(path: string, fn: () => T, timeoutMs = 30_000): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (holderIsDead(path)) {
        try {
          unlinkSync(path);
        } catch {
          /* another waiter broke it first */
        }
        continue;
      }
      if (Date.now() > deadline) {
        throw new GantryError("TIMEOUT", `lock ${path} is held by another process`, {
          path,
          hint: "another gantry command is updating the image store; retry, or remove the file if no gantry runs",
        });
      }
      sleepMs(5);
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    try {
      return fn();
    } finally {
      unlinkSync(path);
    }
  }
}
