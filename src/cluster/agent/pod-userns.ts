// User-namespaced pods (`spec.hostUsers: false`, as the kubelet's userns manager gives them):
// each such pod gets 65536 uids and gids of its own, disjoint from every other live pod's,
// carved with the engine's IdRangePool from the kubelet's subordinate ids (the `kubelet`
// user's lines in /etc/subuid and /etc/subgid; without them, as the kubelet, ids 65536 up to
// 2^32). The pod's root (id 0) is the range's first id on the host.
//
// The range is the pod's, not its sandbox's: it is recorded in the pod's directory
// (<pods>/<uid>/userns, the kubelet's file and format), so a new sandbox and a restarted agent
// keep it, and it is freed only when the pod goes. The sandbox is created with the maps; the
// pod's containers join its user namespace (engine UsernsMode container:ID).
//
// The pod's own volumes (emptyDir, configMap, secret, downwardAPI, projected) belong to the
// range's root on the host, so the pod's root owns them inside: files the agent writes as the
// host's root are shifted into the range (root → the range's first id, fsGroup G → first+G),
// and the directories on the way to them become traversable (0711-style, no listing).
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeJsonAtomic } from "../../common/atomic-file.ts";
import { GantryError } from "../../common/errors.ts";
import { IdRangePool, hostIdOf, parseSubordinateIds, type IdRange } from "../../engine/index.ts";
import type { IdMapping } from "../../runtime/index.ts";

/** The kubelet's per-pod range size (and alignment). */
export const POD_USERNS_SIZE = 65536;
const RECORD = "userns";

export interface PodIdMaps {
  UidMappings: IdMapping[];
  GidMappings: IdMapping[];
}

/** What the kubelet records in <pods>/<uid>/userns. */
interface UsernsRecord {
  uidMappings: { hostId: number; containerId: number; length: number }[];
  gidMappings: { hostId: number; containerId: number; length: number }[];
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * The kubelet's GetKubeletMappings: the `kubelet` user's subordinate ids when it has them,
 * else 65536 … 2^32-1 (every id above the first 65536, which stay the host's own).
 */
export function kubeletIdPool(files = { subuid: "/etc/subuid", subgid: "/etc/subgid" }): { uids: IdRange[]; gids: IdRange[] } {
  const uids = parseSubordinateIds(readOr(files.subuid), ["kubelet"]);
  const gids = parseSubordinateIds(readOr(files.subgid), ["kubelet"]);
  if (uids.length && gids.length) return { uids, gids };
  const all = [{ start: POD_USERNS_SIZE, count: 2 ** 32 - POD_USERNS_SIZE }];
  return { uids: all, gids: all };
}

const toRecord = (m: readonly IdMapping[]) => m.map((x) => ({ hostId: x.hostID, containerId: x.containerID, length: x.size }));
const fromRecord = (m: UsernsRecord["uidMappings"]) => m.map((x) => ({ hostID: x.hostId, containerID: x.containerId, size: x.length }));

export class PodUserns {
  private readonly pool: IdRangePool;
  private readonly maps = new Map<string, PodIdMaps>();

  constructor(
    private readonly podsRoot: string,
    ids = kubeletIdPool(),
  ) {
    this.pool = new IdRangePool(ids);
    this.load();
  }

  /** The ranges recorded by pods that have a directory (a restarted agent's pods keep theirs). */
  private load(): void {
    if (!existsSync(this.podsRoot)) return;
    for (const uid of readdirSync(this.podsRoot)) {
      const text = readOr(join(this.podsRoot, uid, RECORD));
      if (!text) continue;
      try {
        const r = JSON.parse(text) as UsernsRecord;
        const maps = { UidMappings: fromRecord(r.uidMappings), GidMappings: fromRecord(r.gidMappings) };
        const [u, g] = [maps.UidMappings[0], maps.GidMappings[0]];
        if (!u || !g) continue;
        this.pool.adopt(uid, { start: u.hostID, count: u.size }, { start: g.hostID, count: g.size });
        this.maps.set(uid, maps);
      } catch {
        /* a torn record: the pod gets a new range when its sandbox is made again */
      }
    }
  }

  /** The pod's maps when it has a range already. */
  of(uid: string): PodIdMaps | undefined {
    return this.maps.get(uid);
  }

  /**
   * The pod's maps: its recorded range, or a new one reserved and recorded now. Refused, naming
   * the directories, while the data root's parents would stop the pod's ids on their way to its
   * files (dockerd refuses a remapped root that way too; the agent opens only its own dirs).
   */
  forPod(uid: string): PodIdMaps {
    const closed = closedAncestors(dirname(this.podsRoot));
    if (closed.length) {
      throw new GantryError("CONFLICT", `a pod with hostUsers: false cannot reach its files: ${closed.join(", ")} ${closed.length === 1 ? "lacks" : "lack"} the o+x permission its ids need to pass through`, {
        path: closed[0],
        hint: `chmod o+x ${closed.join(" ")} (lets others pass through, not list)`,
      });
    }
    const known = this.maps.get(uid);
    if (known) return known;
    const got = this.pool.reserve(uid, POD_USERNS_SIZE);
    if (!got) {
      throw new GantryError("CONFLICT", `no free range of ${POD_USERNS_SIZE} ids left for a pod with hostUsers: false (${this.pool.size} held by pods on this node)`, {
        hint: "give the kubelet user more subordinate ids in /etc/subuid and /etc/subgid",
      });
    }
    const maps = { UidMappings: [{ containerID: 0, hostID: got.uid.start, size: POD_USERNS_SIZE }], GidMappings: [{ containerID: 0, hostID: got.gid.start, size: POD_USERNS_SIZE }] };
    try {
      mkdirSync(join(this.podsRoot, uid), { recursive: true, mode: 0o750 });
      writeJsonAtomic(join(this.podsRoot, uid, RECORD), { uidMappings: toRecord(maps.UidMappings), gidMappings: toRecord(maps.GidMappings) } satisfies UsernsRecord, 0o600);
    } catch (err) {
      this.pool.release(uid);
      throw err;
    }
    this.maps.set(uid, maps);
    return maps;
  }

  /** The pod is gone: its range is free again (its directory, with the record, goes with its volumes). */
  release(uid: string): void {
    this.pool.release(uid);
    this.maps.delete(uid);
  }

  /** A container id of the pod as the host sees it (fsGroup on the host). */
  hostGid(uid: string, gid: number): number {
    const maps = this.maps.get(uid);
    return (maps && hostIdOf(maps.GidMappings, gid)) ?? gid;
  }

  /**
   * The pod's own files handed to its range: the directories on the way become traversable,
   * the volume directories and the payload files in them belong to the range (host ids
   * shifted: 0 → the first id). Cheap to repeat: what is in the range already is left alone,
   * and an emptyDir's content (the pod's own writes) is never walked.
   */
  shareWithPod(uid: string): void {
    const maps = this.maps.get(uid);
    if (!maps) return;
    const podDir = join(this.podsRoot, uid);
    const volumes = join(podDir, "volumes");
    const containers = join(podDir, "containers");
    for (const dir of [this.podsRoot, podDir, volumes, ...subdirs(volumes), containers, ...subdirs(containers)]) openForTraversal(dir);
    for (const pluginDir of subdirs(volumes)) {
      const walk = pluginDir.endsWith("~empty-dir") ? false : true;
      for (const vol of subdirs(pluginDir)) shiftInto(vol, maps, walk);
    }
  }
}

/** The parents of `dir` (not `dir`: the engine opens its root itself) that others cannot pass through. */
function closedAncestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st && (st.mode & 0o001) === 0) out.unshift(d);
  }
  return out;
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

function openForTraversal(dir: string): void {
  try {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
  } catch {
    /* not there (yet) */
  }
}

const inRange = (maps: readonly IdMapping[], id: number) => maps.some((m) => id >= m.hostID && id < m.hostID + m.size);

/** `path` (and, with `deep`, everything below it) owned by the range: host ids outside it shifted in. */
function shiftInto(path: string, maps: PodIdMaps, deep: boolean): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  const uidIn = inRange(maps.UidMappings, st.uid);
  const gidIn = inRange(maps.GidMappings, st.gid);
  if (!uidIn || !gidIn) {
    lchownSync(path, uidIn ? st.uid : (hostIdOf(maps.UidMappings, st.uid) ?? st.uid), gidIn ? st.gid : (hostIdOf(maps.GidMappings, st.gid) ?? st.gid));
    // chown clears setuid/setgid (a directory's setgid from fsGroup among them): put the mode back.
    if (!st.isSymbolicLink() && st.mode & 0o6000) chmodSync(path, st.mode & 0o7777);
  }
  if (deep && st.isDirectory()) for (const e of readdirSync(path)) shiftInto(join(path, e), maps, true);
}
