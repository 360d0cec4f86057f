// Per-container state on disk: <root>/<id>/state.json, written atomically. The status is
// never stored: it is derived from the kernel (is the pid alive? is the cgroup frozen?)
// and from whether `start` happened, so a crash can never leave a stale status behind.
import { mkdirSync, readdirSync, rm, rmdir, rmSync, existsSync, unlink, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GantryError, notFound } from "../common/errors.ts";
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from "../common/atomic-file.ts";
import type { OciConfig } from "./spec/oci.ts";
import type { StoredExplain } from "./explain.ts";

export const DEFAULT_ROOT = "/run/gantry-runtime";

export interface ContainerRecord {
  id: string;
  bundle: string;
  rootfs: string;
  pid: number;
  /** /proc/PID/stat start time, for kill-by-identity */
  pidStartTime: number;
  created: string;
  started: boolean;
  config: OciConfig;
  cgroupPath: string;
  cgroupCreatedDirs: string[];
  cgroupPaths: Record<string, string>;
  /** Rootless without writable cgroups: the container has none (runtime/cgroups/none.ts). */
  noCgroups?: boolean;
  owner: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

export function validateId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new GantryError("INVALID_ARGUMENT", `invalid container id ${JSON.stringify(id)}`, {
      hint: "ids are letters, digits and _ . + - (not starting with a symbol)",
    });
  }
}

/** FNV-1a, 64 bits as hex: a stable short name for a long id (only ids of 70+ bytes are
 * hashed, and two of them meeting in 64 bits is not a practical concern). node:crypto would
 * do as well but costs the CLI milliseconds to load on every container start. */
function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
  return h.toString(16).padStart(16, "0");
}

export class StateDir {
  /** The text last written for a container not started yet, until saveStarted takes it
   * (a few at most: an engine starts what it creates at once). */
  private readonly unstartedText = new Map<string, string>();

  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Unix socket paths are limited to 107 bytes: long ids get a hashed name. */
  startSocket(id: string): string {
    const plain = join(this.dir(id), "start.sock");
    if (Buffer.byteLength(plain) < 100) return plain;
    const h = fnv1a64(id);
    mkdirSync(join(this.root, ".sockets"), { recursive: true, mode: 0o700 });
    return join(this.root, ".sockets", `${h}.sock`);
  }

  /** Reserves the id atomically (mkdir fails if it exists). */
  reserve(id: string): void {
    validateId(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(this.dir(id), { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new GantryError("ALREADY_EXISTS", `container ${id} already exists`, {
          hint: `delete it first: gantry-runtime delete ${id}`,
        });
      }
      throw err;
    }
  }

  save(rec: ContainerRecord): void {
    // Runtime state describes live processes and belongs in /run: a machine crash ends the
    // containers too, so atomicity (rename) matters and durability (fsync) does not. One
    // line: it holds the whole OCI config and is written and read several times per start.
    const text = JSON.stringify(rec) + "\n";
    writeFileAtomic(join(this.dir(rec.id), "state.json"), text, 0o600, false);
    this.unstartedText.delete(rec.id);
    if (!rec.started) {
      if (this.unstartedText.size >= 16) this.unstartedText.delete(this.unstartedText.keys().next().value!);
      this.unstartedText.set(rec.id, text);
    }
  }

  /**
   * start's save: `rec` as last saved, now started. The text written then is written again
   * with that one field changed, rather than the record serialised anew (its OCI config, ~40
   * KB with a seccomp profile, cost an engine's event loop ~0.5 ms per start). `started` is
   * the first boolean member: ids, paths and times before it are strings, in which a quote is
   * escaped, so the first `"started":false` is the record's own.
   */
  saveStarted(rec: ContainerRecord): void {
    const text = this.unstartedText.get(rec.id);
    this.unstartedText.delete(rec.id);
    if (text === undefined || !rec.started) return this.save(rec);
    writeFileAtomic(join(this.dir(rec.id), "state.json"), text.replace('"started":false', '"started":true'), 0o600, false);
  }

  load(id: string): ContainerRecord {
    validateId(id);
    const rec = readJsonIfExists<ContainerRecord>(join(this.dir(id), "state.json"));
    if (!rec) throw notFound(`container ${id} does not exist`, { hint: "gantry-runtime list shows the containers" });
    return rec;
  }

  /**
   * explain.ts's record. At create it is written before state.json, so whoever finds the
   * container finds it whole: one plain write, no rename (a container's start pays for it).
   * Later changes (update) replace it atomically.
   */
  saveExplain(id: string, record: StoredExplain, atCreate = false): void {
    const path = join(this.dir(id), "explain.json");
    if (atCreate) writeFileSync(path, JSON.stringify(record), { mode: 0o600 });
    else writeJsonAtomic(path, record, 0o600, false, false);
  }

  loadExplain(id: string): StoredExplain | undefined {
    validateId(id);
    return readJsonIfExists<StoredExplain>(join(this.dir(id), "explain.json"));
  }

  exists(id: string): boolean {
    return existsSync(join(this.dir(id), "state.json"));
  }

  remove(id: string): void {
    this.unstartedText.delete(id);
    const sock = this.startSocket(id);
    rmSync(sock, { force: true });
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  /**
   * remove() with the unlinks on the thread pool (an engine's event loop goes on meanwhile).
   * The directory holds what this module puts there (state.json, explain.json, and
   * start.sock until start): those go by name, then the directory, in three thread-pool calls instead of a
   * recursive walk's stat/readdir round trips; anything else found there takes the walk.
   */
  async removeAsync(id: string): Promise<void> {
    this.unstartedText.delete(id);
    const dir = this.dir(id);
    await Promise.all([unlinkIfThere(join(dir, "state.json")), unlinkIfThere(join(dir, "explain.json")), unlinkIfThere(this.startSocket(id))]);
    const err = await new Promise<NodeJS.ErrnoException | null>((done) => rmdir(dir, done));
    if (!err || err.code === "ENOENT") return;
    if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    await new Promise<void>((done, fail) => rm(dir, { recursive: true, force: true }, (e) => (e ? fail(e) : done())));
  }

  ids(): string[] {
    try {
      return readdirSync(this.root)
        .filter((n) => !n.startsWith("."))
        .sort();
    } catch {
      return [];
    }
  }
}

/** Callback fs, not fs/promises: node loads that module (and its readline and stream parts)
 * on first import, which the runtime CLI would pay on every container start. */
function unlinkIfThere(path: string): Promise<void> {
  return new Promise((done, fail) => unlink(path, (err) => (err && err.code !== "ENOENT" ? fail(err) : done())));
}
