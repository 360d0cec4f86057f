// Volumes of the local driver: a directory ROOT/volumes/NAME/_data per volume, its record
// beside it in ROOT/volumes/NAME/volume.json (written atomically), and the ids of the
// containers using it, so a volume in use cannot be removed and survives engine restarts.
//
// Driver options as Docker's local driver takes them (`docker volume create -o type=tmpfs
// -o device=tmpfs -o o=size=64m`): the filesystem is mounted on _data when the first
// container starts using the volume and unmounted when the last one stops.
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { GantryError, conflict, invalidArgument, notFound } from "../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../common/atomic-file.ts";
import { copyUp, resolveInRoot } from "./copy-up.ts";
import { VOLUME_NAME_RE, bindOptions, checkDuplicateTargets, tmpfsEntry } from "./mount-spec.ts";
import type { MountRequest, OciMountEntry } from "./mount-spec.ts";

export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

export interface VolumeRecord {
  name: string;
  driver: "local";
  /** Host directory containers see: ROOT/volumes/NAME/_data. */
  mountpoint: string;
  createdAt: string;
  labels: Record<string, string>;
  /** Driver options (type, device, o). */
  options: Record<string, string>;
  scope: "local";
  anonymous: boolean;
  /** Container ids currently using the volume. */
  usedBy: string[];
}

export interface VolumeCreateOptions {
  name?: string;
  driver?: string;
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
}

export interface ResolveMountsOptions {
  containerId: string;
  mounts: MountRequest[];
  /** The container's root filesystem, for copy-up of image content into new volumes. */
  rootfs?: string;
  /** Who an empty new volume belongs to (a user-namespaced container's root on the host). */
  owner?: { uid: number; gid: number };
}

const LOCAL_OPTS = new Set(["type", "device", "o"]);

export async function openVolumes(root: string): Promise<Volumes> {
  const v = new Volumes(root);
  v.load();
  return v;
}

export class Volumes {
  readonly dir: string;
  private readonly volumes = new Map<string, VolumeRecord>();
  private queue: Promise<unknown> = Promise.resolve();

  /** `root` is the engine's state root; volumes live in root/volumes. */
  constructor(root: string) {
    this.dir = join(root, "volumes");
  }

  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  load(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      const rec = readJsonIfExists<VolumeRecord>(join(this.dir, name, "volume.json"));
      // A directory without a record is a create that did not finish: remove it.
      if (rec) this.volumes.set(rec.name, rec);
      else if (VOLUME_NAME_RE.test(name) && !isMounted(join(this.dir, name, "_data")))
        rmSync(join(this.dir, name), { recursive: true, force: true });
    }
  }

  private save(v: VolumeRecord): void {
    writeJsonAtomic(join(this.dir, v.name, "volume.json"), v);
  }

  list(filter?: {
    label?: Record<string, string | undefined>;
    dangling?: boolean;
    name?: string;
  }): VolumeRecord[] {
    return [...this.volumes.values()]
      .filter((v) => !filter?.name || v.name.includes(filter.name))
      .filter((v) => filter?.dangling === undefined || (v.usedBy.length === 0) === filter.dangling)
      .filter(
        (v) =>
          !filter?.label ||
          Object.entries(filter.label).every(
            ([k, val]) => k in v.labels && (val === undefined || v.labels[k] === val),
          ),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  inspect(name: string): VolumeRecord {
    const v = this.volumes.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  /** Creates a volume; creating an existing name returns it unchanged, as Docker does. */
  create(o: VolumeCreateOptions = {}): Promise<VolumeRecord> {
    return this.serial(() => this.createLocked(o, false));
  }

  private createLocked(o: VolumeCreateOptions, anonymous: boolean): VolumeRecord {
    if (o.driver !== undefined && o.driver !== "" && o.driver !== "local") {
      throw new GantryError("UNSUPPORTED_OPTION", `volume driver "${o.driver}" is not supported`, {
        hint: "Gantry has the local driver",
      });
    }
    const name = o.name && o.name !== "" ? o.name : randomBytes(32).toString("hex");
    if (!VOLUME_NAME_RE.test(name)) {
      throw invalidArgument(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    const existing = this.volumes.get(name);
    if (existing) return existing;
    const options = { ...(o.driverOpts ?? {}) };
    for (const k of Object.keys(options)) {
      if (!LOCAL_OPTS.has(k))
        throw invalidArgument(`invalid option key: "${k}"`, {
          hint: "the local driver takes type, device and o",
        });
    }
    if ((options.type !== undefined || options.o !== undefined) && !options.device)
      throw invalidArgument('missing required option: "device"');
    const base = join(this.dir, name);
    const rec: VolumeRecord = {
      name,
      driver: "local",
      mountpoint: join(base, "_data"),
      createdAt: new Date().toISOString(),
      labels: { ...(o.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: "" } : {}) },
      options,
      scope: "local",
      anonymous,
      usedBy: [],
    };
    try {
      mkdirSync(rec.mountpoint, { recursive: true, mode: 0o755 });
      this.save(rec);
    } catch (err) {
      rmSync(base, { recursive: true, force: true });
      throw err;
    }
    this.volumes.set(name, rec);
    return rec;
  }

  /** Removes a volume and its data; refused while a container uses it unless `force`. */
  remove(name: string, force = false): Promise<void> {
    return this.serial(() => {
      const v = this.volumes.get(name);
      if (!v) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      if (v.usedBy.length > 0) {
        throw conflict(`remove ${name}: volume is in use - [${v.usedBy.join(", ")}]`, {
          hint: "remove the containers using it first",
        });
      }
      this.removeLocked(v);
    });
  }

  private removeLocked(v: VolumeRecord): void {
    unmountIfMounted(v.mountpoint);
    // The record goes first: a crash midway leaves a directory load() removes, never a
    // record pointing at half-deleted data.
    rmSync(join(this.dir, v.name, "volume.json"), { force: true });
    rmSync(join(this.dir, v.name), { recursive: true, force: true });
    this.volumes.delete(v.name);
  }

  /** Removes unused volumes: anonymous ones, or all with `all` (Docker 23+'s rule). */
  prune(
    filter: { all?: boolean; label?: Record<string, string | undefined> } = {},
  ): Promise<{ removed: string[]; reclaimedBytes: number }> {
    return this.serial(() => {
      const removed: string[] = [];
      let reclaimedBytes = 0;
      for (const v of this.list({ label: filter.label, dangling: true })) {
        if (!filter.all && !v.anonymous) continue;
        reclaimedBytes += diskUsage(v.mountpoint);
        this.removeLocked(v);
        removed.push(v.name);
      }
      return { removed, reclaimedBytes };
    });
  }

  /** Records that `containerId` uses the volume (mounting driver options on first use). */
  acquire(name: string, containerId: string): Promise<VolumeRecord> {
    return this.serial(() => this.acquireLocked(name, containerId));
  }

  private acquireLocked(name: string, containerId: string): VolumeRecord {
    const v = this.inspect(name);
    if (v.usedBy.includes(containerId)) return v;
    if (v.usedBy.length === 0 && v.options.device) mountDriverOpts(v);
    v.usedBy.push(containerId);
    this.save(v);
    return v;
  }

  /**
   * Forgets every use by `containerId`; with `removeAnonymous` (docker rm -v, --rm) its
   * anonymous volumes that nobody else uses are removed too.
   */
  release(containerId: string, removeAnonymous = false): Promise<string[]> {
    return this.serial(() => {
      const removed: string[] = [];
      for (const v of [...this.volumes.values()]) {
        if (!v.usedBy.includes(containerId)) continue;
        v.usedBy = v.usedBy.filter((c) => c !== containerId);
        this.save(v);
        if (v.usedBy.length === 0) unmountIfMounted(v.mountpoint, v.options.device !== undefined);
        if (removeAnonymous && v.anonymous && v.usedBy.length === 0) {
          this.removeLocked(v);
          removed.push(v.name);
        }
      }
      return removed;
    });
  }

  /** Drops the uses of containers that no longer exist (after a crash). */
  reconcile(knownContainers: Iterable<string>): Promise<string[]> {
    const known = new Set(knownContainers);
    return this.serial(() => {
      const changed: string[] = [];
      for (const v of this.volumes.values()) {
        const keep = v.usedBy.filter((c) => known.has(c));
        if (keep.length === v.usedBy.length) continue;
        v.usedBy = keep;
        this.save(v);
        if (keep.length === 0) unmountIfMounted(v.mountpoint, v.options.device !== undefined);
        changed.push(v.name);
      }
      return changed;
    });
  }

  /**
   * Turns a container's mount requests into OCI mount entries: named and anonymous volumes
   * are created as needed and acquired for the container, a new empty volume gets the image's
   * content at its target (copy-up, unless nocopy), binds are checked (or created for -v).
   * On failure every volume acquired here is released again.
   */
  resolveMounts(o: ResolveMountsOptions): Promise<OciMountEntry[]> {
    return this.serial(async () => {
      checkDuplicateTargets(o.mounts);
      const entries: OciMountEntry[] = [];
      const acquired: VolumeRecord[] = [];
      const created: VolumeRecord[] = [];
      try {
        for (const m of o.mounts) {
          if (m.type === "tmpfs") {
            entries.push(tmpfsEntry(m));
            continue;
          }
          if (m.type === "bind") {
            if (!existsSync(m.source)) {
              if (!m.createSource) {
                throw invalidArgument(
                  `invalid mount config for type "bind": bind source path does not exist: ${m.source}`,
                  { path: m.source },
                );
              }
              mkdirSync(m.source, { recursive: true, mode: 0o755 });
            }
            entries.push({
              destination: m.target,
              type: "bind",
              source: m.source,
              options: bindOptions(m.readOnly, m.propagation, !m.nonRecursive),
            });
            continue;
          }
          const isNew = m.name === undefined || !this.volumes.has(m.name);
          const v = this.createLocked(
            { name: m.name, labels: m.labels, driverOpts: m.driverOpts },
            m.name === undefined,
          );
          if (isNew) created.push(v);
          this.acquireLocked(v.name, o.containerId);
          acquired.push(v);
          let copied = false;
          const empty = readdirSync(v.mountpoint).length === 0;
          if (!m.noCopy && o.rootfs && empty) {
            const src = await resolveInRoot(o.rootfs, m.target);
            copied = !!src && statSync(src).isDirectory();
            if (copied) await copyUp(src!, v.mountpoint);
          }
          // Nothing copied (the copy takes the image directory's owner): an empty volume is its root's.
          if (o.owner && empty && !copied) chownSync(v.mountpoint, o.owner.uid, o.owner.gid);
          entries.push({
            destination: m.target,
            type: "bind",
            source: v.mountpoint,
            options: bindOptions(m.readOnly),
          });
        }
      } catch (err) {
        for (const v of acquired) {
          v.usedBy = v.usedBy.filter((c) => c !== o.containerId);
          this.save(v);
          if (v.usedBy.length === 0) unmountIfMounted(v.mountpoint, v.options.device !== undefined);
        }
        for (const v of created) this.removeLocked(v);
        throw err;
      }
      return entries;
    });
  }
}

function isMounted(path: string): boolean {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4] === path);
  } catch {
    return false;
  }
}

function mountDriverOpts(v: VolumeRecord): void {
  const args = [
    "-t",
    v.options.type ?? "none",
    ...(v.options.o ? ["-o", v.options.o] : []),
    v.options.device!,
    v.mountpoint,
  ];
  const r = spawnSync("mount", args, { encoding: "utf8" });
  if (r.status !== 0) {
    throw new GantryError(
      "SYSCALL_FAILED",
      `mount volume ${v.name}: mount ${args.join(" ")}: ${r.stderr.trim()}`,
      { path: v.mountpoint, step: "mount" },
    );
  }
}

function unmountIfMounted(path: string, expected = true): void {
  if (!expected || !isMounted(path)) return;
  const r = spawnSync("umount", [path], { encoding: "utf8" });
  if (r.status !== 0)
    throw new GantryError("SYSCALL_FAILED", `umount ${path}: ${r.stderr.trim()}`, { path, step: "umount" });
}

function diskUsage(path: string): number {
  let total = 0;
  const walk = (p: string) => {
    for (const name of readdirSync(p)) {
      const st = statSync(join(p, name), { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(join(p, name));
      else total += st.size;
    }
  };
  try {
    walk(path);
  } catch {
    /* unreadable: count what was seen */
  }
  return total;
}

/** The Engine API's Volume JSON (GET /volumes, /volumes/{name}). */
export function toDockerVolume(v: VolumeRecord) {
  return {
    Name: v.name,
    Driver: v.driver,
    Mountpoint: v.mountpoint,
    CreatedAt: v.createdAt,
    Labels: v.labels,
    Scope: v.scope,
    Options: Object.keys(v.options).length > 0 ? v.options : null,
    UsageData: { Size: -1, RefCount: v.usedBy.length },
  };
}
