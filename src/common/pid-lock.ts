// A cross-process lock held by a file that names its owner: one process at a time holds
// PATH, and a lock whose owner died is taken over. Used around the image store's refs table,
// the host's shared CNI state and a daemon's ownership of its store.
//
// Node has no flock(2)/fcntl locks (which the kernel would release on death), so the owner
// is recorded in the file and "is it dead?" is asked of /proc. Two things make that safe:
//
// 1. The file is never seen half-written. It is written in full under a unique name and
//    then link(2)ed onto PATH; link fails with EEXIST when PATH exists, so creation is the
//    atomic test-and-set, and a reader sees nothing or a whole record. (An O_EXCL create
//    followed by a write has a window in which the file is empty: an owner that is "unknown"
//    then, and was taken for dead by one of the two locks this replaces.)
// 2. Taking over is compare-and-delete, which POSIX has no call for: "read the owner, see it
//    is dead, unlink" by two waiters lets the slower one unlink the lock the faster one just
//    made (both then hold it). So a stale lock is removed only by the holder of a *guard
//    for that one lock instance* — PATH.break-<hash of its inode and content>, itself taken
//    with this same protocol. While the guard is held, PATH cannot change under the holder:
//    its owner is dead, new owners cannot link onto an existing PATH, and every other
//    remover would need the same guard. So re-reading PATH, finding the same instance and
//    unlinking it is safe. The guard's name is unique to the instance (the content has a
//    random nonce), so a late breaker that wins the guard after the instance is gone finds
//    a different PATH and leaves it alone. A breaker that dies holding a guard leaves a
//    stale guard, which is broken the same way, one level down (PATH.break-….break-…);
//    each level needs another crash inside a few system calls, so the recursion is short.
//
// "Dead" is decided by identity, not by number: the record holds the pid, its start time
// (/proc/PID/stat) and the boot id, so a recycled pid or a lock file kept across a reboot
// (the image store lives on disk) does not look alive, and a zombie owner counts as dead.
// When /proc hides other users' processes (hidepid), kill(pid, 0) decides, leaning to
// "alive": a lock is never broken on a doubt.
//
// Every process that touches PATH must use this module: a process that unlinks other
// owners' locks by another rule breaks the argument above.
import { createHash, randomBytes } from "node:crypto";
import { linkSync, lstatSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { GantryError } from "./errors.ts";
import { isSameLiveProcess, readProcStat } from "./process-identity.ts";

/** Who holds a lock, as its file says. */
export interface LockOwner {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22); undefined in files from older versions. */
  startTime?: number;
  bootId?: string;
}

export interface PidLock {
  readonly path: string;
  /** Removes the lock if it is still this holder's (idempotent). */
  release(): void;
}

export interface PidLockOptions {
  /** How long to wait for a live holder; 0 fails at once. */
  timeoutMs?: number;
  /** What the lock protects, for the error ("the image store", "host networking"). */
  what?: string;
  /** What to do when it stays held, for the error. */
  hint?: string;
}

const POLL_MS = 5;
const MAX_POLL_MS = 50;

let bootIdCache: string | undefined;
const bootId = () => (bootIdCache ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());

function ownRecord(): string {
  const startTime = readProcStat(process.pid)?.startTime;
  return `${JSON.stringify({ pid: process.pid, startTime, bootId: bootId(), nonce: randomBytes(16).toString("hex") })}\n`;
}

/** A lock file's instance: its inode and content (unique: the content has a nonce). */
interface Instance {
  ino: number;
  content: string;
}

function readInstance(path: string): Instance | undefined {
  try {
    const ino = lstatSync(path).ino;
    const content = readFileSync(path, "utf8");
    // the inode again: the file may have been replaced between the two calls
    return lstatSync(path).ino === ino ? { ino, content } : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The owner a lock file names; a bare pid is what the older lock files held. */
export function parseLockOwner(content: string): LockOwner | undefined {
  const text = content.trim();
  if (/^\d+$/.test(text)) return { pid: Number(text) };
  try {
    const rec = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isInteger(rec.pid) && rec.pid! > 0)
      return { pid: rec.pid!, startTime: rec.startTime, bootId: rec.bootId };
  } catch {
    /* not a lock record */
  }
  return undefined;
}

/** Who holds the lock at PATH now, or undefined when it is free (or unreadable). */
export function readLockOwner(path: string): LockOwner | undefined {
  const inst = readInstance(path);
  return inst && parseLockOwner(inst.content);
}

function ownerAlive(owner: LockOwner): boolean {
  if (owner.bootId !== undefined && owner.bootId !== bootId()) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  if (owner.startTime === undefined) return true;
  // unreadable /proc/PID/stat (hidepid) while kill(2) says it exists: alive
  if (readProcStat(owner.pid) === undefined) return true;
  return isSameLiveProcess(owner.pid, owner.startTime);
}

type Attempt = { lock: PidLock } | { heldBy: LockOwner | undefined };

class HeldLock implements PidLock {
  #released = false;
  constructor(
    readonly path: string,
    private readonly content: string,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    // Only our own instance: if someone removed it by hand and another process took the
    // lock since, that process's lock stays.
    if (readInstance(this.path)?.content !== this.content) return;
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

/** One try, without waiting: the lock, or who holds it (undefined: a file we cannot read as a lock). */
function tryAcquire(path: string): Attempt {
  const content = ownRecord();
  const tmp = `${path}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600, flag: "wx" });
  try {
    // a few rounds: a stale lock we removed may be taken by another waiter before our link
    for (let round = 0; round < 8; round++) {
      try {
        linkSync(tmp, path);
        return { lock: new HeldLock(path, content) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const seen = readInstance(path);
      if (!seen) continue; // released meanwhile
      const owner = parseLockOwner(seen.content);
      if (!owner || ownerAlive(owner)) return { heldBy: owner };
      if (!removeStale(path, seen)) return { heldBy: owner };
    }
    return { heldBy: readLockOwner(path) };
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Removes the dead owner's instance SEEN at PATH, under a guard for that instance (see the
 * top of the file). False when another live process is removing it.
 */
function removeStale(path: string, seen: Instance): boolean {
  const key = createHash("sha256").update(`${seen.ino}\0${seen.content}`).digest("hex").slice(0, 16);
  const guard = tryAcquire(`${path}.break-${key}`);
  if (!("lock" in guard)) return false;
  try {
    const now = readInstance(path);
    if (now && now.ino === seen.ino && now.content === seen.content) unlinkSync(path);
    return true;
  } finally {
    guard.lock.release();
  }
}

function heldError(
  path: string,
  heldBy: LockOwner | undefined,
  timeoutMs: number,
  opts: PidLockOptions,
): GantryError {
  const what = opts.what ? ` (${opts.what})` : "";
  const by = heldBy ? `process ${heldBy.pid}` : "a file that names no owner";
  return new GantryError(
    "TIMEOUT",
    `lock ${path}${what} is held by ${by}${timeoutMs > 0 ? `; waited ${timeoutMs} ms` : ""}`,
    {
      path,
      hint: opts.hint ?? "another Gantry process holds it; retry, or remove the file if none runs",
    },
  );
}

/** Takes the lock, waiting (blocking the thread) up to timeoutMs for a live holder. */
export function acquirePidLockSync(path: string, opts: PidLockOptions = {}): PidLock {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const wait = new Int32Array(new SharedArrayBuffer(4));
  for (let pause = POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
    const attempt = tryAcquire(path);
    if ("lock" in attempt) return attempt.lock;
    if (Date.now() >= deadline) throw heldError(path, attempt.heldBy, timeoutMs, opts);
    Atomics.wait(wait, 0, 0, pause);
  }
}

/** Takes the lock, waiting (without blocking the event loop) up to timeoutMs for a live holder. */
export async function acquirePidLock(path: string, opts: PidLockOptions = {}): Promise<PidLock> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (let pause = POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
    const attempt = tryAcquire(path);
    if ("lock" in attempt) return attempt.lock;
    if (Date.now() >= deadline) throw heldError(path, attempt.heldBy, timeoutMs, opts);
    await sleep(pause);
  }
}

/** Runs a synchronous critical section under the lock. */
export function withPidLockSync<T>(path: string, fn: () => T, opts: PidLockOptions = {}): T {
  const lock = acquirePidLockSync(path, opts);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/** Runs an asynchronous critical section under the lock. */
export async function withPidLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: PidLockOptions = {},
): Promise<T> {
  const lock = await acquirePidLock(path, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
