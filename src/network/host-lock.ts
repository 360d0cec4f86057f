// One host-wide lock around everything that edits the host's shared CNI state (portmap's and
// the firewall plugin's shared chains, bridges): two Gantry processes (an engine and a test,
// two test files) must not see a chain empty and remove it while the other adds a rule to it.
// A lock file made with O_EXCL holds the owner's pid; a dead owner's lock is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GantryError } from "../common/errors.ts";

export const DEFAULT_HOST_LOCK = "/run/gantry/network.lock";

function ownerAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path, "utf8").trim());
  } catch {
    return true; // being written or just removed: try again
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function withHostLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (!ownerAlive(path)) {
        try {
          unlinkSync(path);
        } catch {
          /* another waiter took it over first */
        }
        continue;
      }
      if (Date.now() > deadline) {
        throw new GantryError("TIMEOUT", `waited ${timeoutMs} ms for the network lock ${path}`, {
          path,
          hint: "another Gantry process is changing host networking; if none runs, remove the file",
        });
      }
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}
