// The engine's containers on disk: <root>/engine/containers/<id>/container.json, one writer
// (the daemon), written atomically (write + rename). Everything needed to re-adopt a running
// container after a daemon crash is here or in the runtime's state and the monitor's exit file.
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { hash, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { GantryError, notFound } from "../common/errors.ts";
import { readJsonIfExists, writeFileAtomic, writeFileAtomicDurably } from "../common/atomic-file.ts";
import { removeTree } from "../common/remove-tree.ts";
import type { ContainerConfig, HostConfig } from "./api-types.ts";
import type { HealthState } from "./health/status.ts";
import type { ContainerUserns } from "./userns.ts";
import { compareStrings } from "../common/compare.ts";

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  OOMKilled: boolean;
  StartedAt: string;
  FinishedAt: string;
  /** With a health check, from its first start on (health/checks.ts). */
  Health?: HealthState;
}

export interface ContainerRecord {
  Id: string;
  /** With Docker's leading slash. */
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  /** The Config as Docker reports it: the request merged with the image's config. */
  Config: ContainerConfig;
  HostConfig: HostConfig;
  /** Image ID (sha256:…). */
  Image: string;
  State: ContainerState;
  RestartCount: number;
  /** Set by `docker stop`/`kill` so restart policies (and unless-stopped) know the user did it. */
  ManuallyStopped: boolean;
  MonitorPid: number;
  /** Where the rootfs is mounted; the bundle's root.path. */
  Rootfs: string;
  LogPath: string;
  Warnings: string[];
  /** Resolved -v/--mount/--tmpfs/VOLUME mounts (src/volume), as OCI mounts. */
  MountEntries?: { destination: string; type: string; source: string; options: string[] }[];
  /** --network-alias names on the container's user network. */
  NetworkAliases?: string[];
  /** --ip: the fixed address on NetworkMode's network (EndpointConfig.IPAMConfig.IPv4Address). */
  NetworkIPv4Address?: string;
  /** --mac-address: the address of the interface on NetworkMode's network. */
  NetworkMacAddress?: string;
  /** Networks joined by `docker network connect` beyond NetworkMode's, by network id. */
  ConnectedNetworks?: Record<string, ConnectedEndpoint>;
  /** `docker network disconnect` of NetworkMode's own network: the container no longer joins it. */
  PrimaryDisconnected?: boolean;
  /** Its user namespace's maps (--userns-remap, --userns=auto); absent: the host's ids. */
  Userns?: ContainerUserns;
}

/** The EndpointConfig of one `network connect`, kept so a restart joins the network again. */
export interface ConnectedEndpoint {
  Aliases?: string[];
  IPv4Address?: string;
  Links?: string[];
  DriverOpts?: Record<string, string>;
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const ADJECTIVES = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quiet", "swift", "witty", "zen"];
const NOUNS = ["ant", "bee", "crane", "dove", "eagle", "finch", "gull", "heron", "ibis", "jay", "kite", "lark", "mole", "newt", "owl", "pike"];

export function randomName(): string {
  const b = randomBytes(3);
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}_${NOUNS[b[1]! % NOUNS.length]}${b[2]! % 100}`;
}

export function validateName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new GantryError("INVALID_ARGUMENT", `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.startsWith("/") ? name : `/${name}`;
}

/**
 * A digest of the record without what changes on every start and exit: of what a machine
 * crash must not lose. A digest (28 characters) rather than the JSON itself (~2.7 kB per
 * container, kept for every container) — only equality is asked of it.
 */
function durablePart(rec: ContainerRecord): string {
  const { State: _state, MonitorPid: _monitor, ...rest } = rec;
  return hash("sha1", JSON.stringify(rest), "base64");
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  /** Per container, durablePart() (a digest) of its last fsynced write. */
  private readonly synced = new Map<string, string>();
  /** Removed containers' directories, renamed here and deleted in the background. */
  private readonly trash: string;
  private trashed = 0;
  /** Per container, the write on the thread pool (saveAsync) and what waits on it. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Per container, a write queued behind the one in flight; it takes the record as it is when it begins. */
  private readonly queued = new Map<string, Promise<void>>();
  /** Deletions of removed containers' directories under way (close() waits for them). */
  private readonly deleting = new Set<Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly warn: (message: string) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.trash = join(dirname(dir), "trash");
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  /** Reads every container.json (at daemon start). */
  loadAll(): ContainerRecord[] {
    rmSync(this.trash, { recursive: true, force: true }); // left by a daemon that stopped mid-removal
    for (const id of readdirSync(this.dir)) {
      const rec = readJsonIfExists<ContainerRecord>(join(this.dir, id, "container.json"));
      if (rec) {
        this.byId.set(rec.Id, rec);
        this.synced.set(rec.Id, durablePart(rec));
      }
    }
    return [...this.byId.values()];
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()].sort((a, b) => compareStrings(b.Created, a.Created));
  }

  /**
   * Writes the record atomically (write + rename). It is fsynced when anything but its State
   * and monitor pid changed since the last fsynced write (the first save, a rename, a stop by
   * the user, ...): the state changes of every start and exit are not, as they describe
   * processes a machine crash ends anyway — after one, the record on disk says at worst
   * "running" with a dead monitor, which restore() turns into an exit (255), as it would
   * after the crash itself. A crash of the daemon alone loses nothing (the rename is atomic).
   * While a saveAsync() of the container is on the thread pool, the write queues behind it
   * (writes of one container land in order) and this returns before it lands.
   */
  save(rec: ContainerRecord): void {
    if (this.inFlight.has(rec.Id)) {
      this.byId.set(rec.Id, rec);
      void this.saveAsync(rec).catch((e: unknown) => this.warn(`save container ${rec.Id.slice(0, 12)}: ${(e as Error).message}`));
      return;
    }
    const known = this.byId.has(rec.Id);
    if (!known) mkdirSync(this.containerDir(rec.Id), { recursive: true, mode: 0o700 });
    const durable = durablePart(rec);
    const mustSync = this.synced.get(rec.Id) !== durable;
    writeFileAtomic(join(this.containerDir(rec.Id), "container.json"), JSON.stringify(rec) + "\n", 0o600, mustSync);
    if (mustSync) this.synced.set(rec.Id, durable);
    this.byId.set(rec.Id, rec);
  }

  /**
   * save() of a known container with the write (and fsync, when due) on the thread pool, so
   * the event loop serves other requests meanwhile: resolves once a write holding this state
   * (or a later one) has landed. Writes of one container never overlap: one queued behind
   * the write in flight takes the record as it is when it begins, so the last state wins.
   * A container removed meanwhile is not written again.
   */
  saveAsync(rec: ContainerRecord): Promise<void> {
    const id = rec.Id;
    this.byId.set(id, rec);
    const waiting = this.queued.get(id);
    if (waiting) return waiting;
    const before = this.inFlight.get(id);
    const write = (before ?? Promise.resolve()).catch(() => {}).then(() => {
      this.queued.delete(id);
      return this.writeLatest(id);
    });
    this.queued.set(id, write);
    const tracked: Promise<void> = write
      .catch(() => {})
      .finally(() => {
        if (this.inFlight.get(id) === tracked) this.inFlight.delete(id);
      });
    this.inFlight.set(id, tracked);
    return write;
  }

  private async writeLatest(id: string): Promise<void> {
    const rec = this.byId.get(id);
    if (!rec) return; // removed while queued
    const durable = durablePart(rec);
    const mustSync = this.synced.get(id) !== durable;
    try {
      await writeFileAtomicDurably(join(this.containerDir(id), "container.json"), JSON.stringify(rec) + "\n", 0o600, mustSync);
    } catch (err) {
      if (!this.byId.has(id)) return; // its directory was taken away meanwhile
      throw err;
    }
    if (mustSync) this.synced.set(id, durable);
  }

  /** save() of a new record with its fsync on the thread pool, so the event loop goes on
   * serving other requests while the journal commits (create's path). */
  async saveNew(rec: ContainerRecord): Promise<void> {
    mkdirSync(this.containerDir(rec.Id), { recursive: true, mode: 0o700 });
    const durable = durablePart(rec);
    await writeFileAtomicDurably(join(this.containerDir(rec.Id), "container.json"), JSON.stringify(rec) + "\n", 0o600);
    this.synced.set(rec.Id, durable);
    this.byId.set(rec.Id, rec);
  }

  /**
   * Forgets the container and takes its directory away at once (one rename), then deletes
   * the files (log, bundle config, record, etc files) on the thread pool: unlinking them
   * cost the daemon's event loop ~3 ms per `run --rm` under load, on the path to the
   * answer of `wait?condition=removed`. A daemon that stops first leaves them in the trash,
   * which loadAll() empties. A write still on the thread pool finishes (or fails) first.
   */
  remove(id: string): void {
    this.byId.delete(id);
    this.synced.delete(id);
    this.queued.delete(id);
    const writing = this.inFlight.get(id);
    const aside = join(this.trash, `${id}-${process.pid}-${this.trashed++}`);
    try {
      mkdirSync(this.trash, { recursive: true, mode: 0o700 });
      renameSync(this.containerDir(id), aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      rmSync(this.containerDir(id), { recursive: true, force: true });
      return;
    }
    const deletion: Promise<void> = (writing ?? Promise.resolve())
      .then(() => removeTree(aside))
      .catch(() => {})
      .finally(() => this.deleting.delete(deletion));
    this.deleting.add(deletion);
  }

  /** Waits for the writes and deletions on the thread pool (the daemon's shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight.values(), ...this.deleting]);
  }

  nameInUse(name: string): ContainerRecord | undefined {
    return [...this.byId.values()].find((c) => c.Name === name);
  }

  /** Docker's lookup order: full id, exact name, unique id prefix. */
  find(ref: string): ContainerRecord | undefined {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const name = ref.startsWith("/") ? ref : `/${ref}`;
    const named = [...this.byId.values()].find((c) => c.Name === name);
    if (named) return named;
    if (!/^[a-f0-9]+$/.test(ref)) return undefined;
    const matches = [...this.byId.values()].filter((c) => c.Id.startsWith(ref));
    if (matches.length > 1) throw new GantryError("INVALID_ARGUMENT", `multiple IDs found with provided prefix: ${ref}`);
    return matches[0];
  }

  get(ref: string): ContainerRecord {
    const rec = this.find(ref);
    if (!rec) throw notFound(`No such container: ${ref}`);
    return rec;
  }
}
