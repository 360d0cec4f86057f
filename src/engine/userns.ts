// User namespaces for containers, as dockerd's `--userns-remap` and Podman's `--userns=auto`
// give them: the daemon's subordinate ids (/etc/subuid, /etc/subgid of one user), and for
// each container the uid/gid maps its user namespace gets.
//
// - `--userns-remap default|USER[:GROUP]` on the daemon: every container's root is the first
//   id of the user's first subordinate range (the whole range mapped from 0), unless the
//   container asks `--userns=host`. `default` is the `gantry` user, created with a 65536-id
//   range when missing (dockerd's `dockremap`).
// - `--userns=auto[:size=N]` per container: a range of its own, carved from the daemon's
//   subordinate ids, never overlapping another live container's (the ranges are in the
//   container records, so a restarted daemon knows them; a removed container's is free).
//   The user's first range is what remapped containers share, so auto ranges come from the
//   user's other ranges first; with a single range they fall inside the shared one (disjoint
//   from each other, not from the shared containers — give the user a second range for that).
//
// - maps the caller chose (`createContainer`'s `userns` option): the node agent gives each
//   `hostUsers: false` pod a range of its own (carved with the same IdRangePool) and its
//   sandbox gets it; `UsernsMode: "container:ID"` joins another container's user namespace
//   (the pod's containers join the sandbox's, as they join its network, IPC and UTS).
//
// Image layers stay shared and unchanged: the container's overlay takes idmapped mounts of
// them (the native helper's "idmapped-overlay" step); the upper dir holds host ids.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { GantryError, invalidArgument } from "../common/errors.ts";
import type { IdMapping } from "../runtime/index.ts";

export interface IdRange {
  start: number;
  count: number;
}

/** The daemon's `--userns-remap` identity and its subordinate ids. */
export interface RemapIdentity {
  user: string;
  group: string;
  uids: IdRange[];
  gids: IdRange[];
}

/** A container's user namespace, kept in its record (inspect's Gantry key shows it). */
export interface ContainerUserns {
  /** "remap": the daemon's shared range; "auto": a range of its own; "fixed": maps its creator chose; "container": another container's namespace, joined */
  Mode: "remap" | "auto" | "fixed" | "container";
  UidMappings: IdMapping[];
  GidMappings: IdMapping[];
}

export const DEFAULT_REMAP_USER = "gantry";
const DEFAULT_RANGE = 65536;
/** Podman's minimum for an auto range; also ours without `size=` (root, system ids, a few users). */
export const DEFAULT_AUTO_SIZE = 1024;

/** The ranges /etc/subuid or /etc/subgid give a user named in `names` (its name or number). */
export function parseSubordinateIds(text: string, names: readonly string[]): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (!who || !names.includes(who) || !/^\d+$/.test(start ?? "") || !/^\d+$/.test(count ?? "")) continue;
    if (Number(count) > 0) out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** One entry of the user (passwd) or group database, through NSS as useradd sees it. */
function getent(db: "passwd" | "group", name: string): string[] | undefined {
  const r = spawnSync("getent", [db, name], { encoding: "utf8" });
  return r.status === 0 && r.stdout ? r.stdout.trim().split(":") : undefined;
}

/** The first start past every range in both files, at least 100000 (useradd's SUB_UID_MIN). */
function nextFreeStart(): number {
  let next = 100000;
  for (const f of ["/etc/subuid", "/etc/subgid"]) {
    for (const line of readOr(f).split("\n")) {
      const [, s, c] = line.split(":");
      if (/^\d+$/.test(s ?? "") && /^\d+$/.test(c ?? "")) next = Math.max(next, Number(s) + Number(c));
    }
  }
  return next;
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new GantryError("SYSCALL_FAILED", `--userns-remap default: ${what} failed: ${(r.stderr || r.error?.message || "").trim()}`, {
      hint: "the daemon runs useradd/usermod from Debian's passwd package as root",
    });
  }
}

/** `default`: the `gantry` system user with a 65536-id range, made when missing (as dockerd makes `dockremap`). */
function ensureDefaultRemapUser(): void {
  if (!getent("passwd", DEFAULT_REMAP_USER)) {
    run("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", DEFAULT_REMAP_USER], `useradd ${DEFAULT_REMAP_USER}`);
  }
  const names = [DEFAULT_REMAP_USER, getent("passwd", DEFAULT_REMAP_USER)?.[2] ?? ""];
  if (parseSubordinateIds(readOr("/etc/subuid"), names).length && parseSubordinateIds(readOr("/etc/subgid"), names).length) return;
  const start = nextFreeStart();
  const range = `${start}-${start + DEFAULT_RANGE - 1}`;
  run("usermod", ["--add-subuids", range, "--add-subgids", range, DEFAULT_REMAP_USER], `usermod --add-subuids ${range} ${DEFAULT_REMAP_USER}`);
}

/** The daemon's `--userns-remap` value resolved to its subordinate ids; a clear error when it cannot be. */
export function resolveRemap(spec: string, files = { subuid: "/etc/subuid", subgid: "/etc/subgid" }): RemapIdentity {
  if (spec === "default") ensureDefaultRemapUser();
  const [userName, groupName] = spec === "default" ? [DEFAULT_REMAP_USER, DEFAULT_REMAP_USER] : spec.split(":");
  if (!userName || spec.split(":").length > 2) throw invalidArgument(`--userns-remap ${JSON.stringify(spec)}: use default, USER or USER:GROUP`);
  const pw = getent("passwd", userName);
  if (!pw) throw invalidArgument(`--userns-remap: user ${JSON.stringify(userName)} not found`, { hint: "use an existing user, or `default` (Gantry creates the gantry user)" });
  const group = groupName ?? pw[0]!;
  const gr = getent("group", group);
  if (!gr) throw invalidArgument(`--userns-remap: group ${JSON.stringify(group)} not found`);
  const uids = parseSubordinateIds(readOr(files.subuid), [pw[0]!, pw[2]!]);
  const gids = parseSubordinateIds(readOr(files.subgid), [gr[0]!, gr[2]!]);
  const fix = (kind: string, file: string, who: string) =>
    invalidArgument(`--userns-remap: ${who} has no subordinate ${kind} range in ${file}`, {
      hint: `give it one, e.g. usermod --add-sub${kind}s 100000-165535 ${who}`,
    });
  if (!uids.length) throw fix("uid", files.subuid, pw[0]!);
  if (!gids.length) throw fix("gid", files.subgid, gr[0]!);
  return { user: pw[0]!, group: gr[0]!, uids, gids };
}

/** HostConfig.UsernsMode checked: "" / "private" (the daemon's default), "host", "auto[:size=N]", "container:ID". */
export function parseUsernsMode(mode: string | undefined): { kind: "default" } | { kind: "host" } | { kind: "auto"; size: number } | { kind: "container"; ref: string } {
  const m = mode ?? "";
  if (m === "" || m === "private") return { kind: "default" };
  if (m === "host") return { kind: "host" };
  if (m.startsWith("container:") && m.length > "container:".length) return { kind: "container", ref: m.slice("container:".length) };
  if (m === "auto" || m.startsWith("auto:")) {
    let size = DEFAULT_AUTO_SIZE;
    for (const opt of m.slice(5).split(",").filter(Boolean)) {
      const sm = /^size=(\d+)$/.exec(opt);
      if (!sm || Number(sm[1]) < 1) throw invalidArgument(`invalid userns mode ${JSON.stringify(m)}: auto takes size=N (N ≥ 1)`);
      size = Number(sm[1]);
    }
    return { kind: "auto", size };
  }
  throw invalidArgument(`invalid userns mode ${JSON.stringify(m)}: use host, private, auto[:size=N] or container:ID`);
}

/** Maps that put the container's ids 0.. onto `ranges` one after another (dockerd's way). */
function mapsOver(ranges: readonly IdRange[]): IdMapping[] {
  let inside = 0;
  return ranges.map((r) => {
    const m = { containerID: inside, hostID: r.start, size: r.count };
    inside += r.count;
    return m;
  });
}

/** The first `size` free ids of `pool` (other ranges before the first), or undefined. */
function firstFit(pool: readonly IdRange[], used: readonly IdRange[], size: number): number | undefined {
  const order = [...pool.slice(1), ...pool.slice(0, 1)];
  const sorted = [...used].sort((a, b) => a.start - b.start);
  for (const r of order) {
    let at = r.start;
    for (const u of sorted) {
      if (u.start + u.count <= at) continue;
      if (u.start >= at + size) break;
      at = u.start + u.count;
    }
    if (at + size <= r.start + r.count) return at;
  }
  return undefined;
}

/**
 * Disjoint uid and gid ranges carved from subordinate ids and held under a key (a container
 * id, a pod uid) until released. Holders restore theirs with `adopt` after a restart, so a
 * range is never handed out twice while its holder lives.
 */
export class IdRangePool {
  private readonly held = new Map<string, { uid: IdRange; gid: IdRange }>();

  constructor(readonly ids: { uids: IdRange[]; gids: IdRange[] }) {}

  get size(): number {
    return this.held.size;
  }

  /** A fresh range of `size` uids and gids held under `key`, or undefined when none is free. */
  reserve(key: string, size: number): { uid: IdRange; gid: IdRange } | undefined {
    const held = [...this.held.values()];
    const uid = firstFit(this.ids.uids, held.map((h) => h.uid), size);
    const gid = firstFit(this.ids.gids, held.map((h) => h.gid), size);
    if (uid === undefined || gid === undefined) return undefined;
    const r = { uid: { start: uid, count: size }, gid: { start: gid, count: size } };
    this.held.set(key, r);
    return r;
  }

  /** Records a range a holder already has (start-up, from its record). */
  adopt(key: string, uid: IdRange, gid: IdRange): void {
    this.held.set(key, { uid, gid });
  }

  release(key: string): void {
    this.held.delete(key);
  }
}

/**
 * The daemon's user namespace policy: which maps a new container gets, and the auto ranges
 * held by live containers (loaded from their records; reserved at create before any await,
 * so two creates at once never get the same range; released on remove).
 */
export class UsernsPolicy {
  private readonly auto: IdRangePool | undefined;

  constructor(readonly remap: RemapIdentity | undefined) {
    this.auto = remap && new IdRangePool(remap);
  }

  /** What `info` says (dockerd: SecurityOptions "name=userns"). */
  describe(): { Remap: string; UidMappings: IdMapping[]; GidMappings: IdMapping[] } | undefined {
    const r = this.remap;
    return r && { Remap: `${r.user}:${r.group}`, UidMappings: mapsOver(r.uids.slice(0, 1)), GidMappings: mapsOver(r.gids.slice(0, 1)) };
  }

  /** Records an existing container's auto range (daemon start-up). */
  adopt(id: string, u: ContainerUserns | undefined): void {
    if (u?.Mode !== "auto" || !u.UidMappings[0] || !u.GidMappings[0]) return;
    const range = (m: IdMapping) => ({ start: m.hostID, count: m.size });
    this.auto?.adopt(id, range(u.UidMappings[0]), range(u.GidMappings[0]));
  }

  release(id: string): void {
    this.auto?.release(id);
  }

  /** The user namespace a new container gets for its UsernsMode, reserving an auto range under `id`. */
  forNewContainer(id: string, usernsMode: string | undefined): ContainerUserns | undefined {
    const mode = parseUsernsMode(usernsMode);
    if (mode.kind === "host" || mode.kind === "container") return undefined;
    const r = this.remap;
    if (mode.kind === "default") {
      return r && { Mode: "remap", UidMappings: mapsOver(r.uids.slice(0, 1)), GidMappings: mapsOver(r.gids.slice(0, 1)) };
    }
    if (!r || !this.auto) {
      throw new GantryError("UNSUPPORTED_OPTION", "--userns=auto needs a daemon started with --userns-remap (auto ranges come from its subordinate ids)", {
        hint: "start the daemon with --userns-remap default",
      });
    }
    const got = this.auto.reserve(id, mode.size);
    if (!got) {
      throw new GantryError("CONFLICT", `--userns=auto: no free range of ${mode.size} ids left in ${r.user}'s subordinate ids (${this.auto.size} held by live containers)`, {
        hint: "remove containers, ask a smaller size=, or give the remap user more ids in /etc/subuid and /etc/subgid",
      });
    }
    return { Mode: "auto", UidMappings: [{ containerID: 0, hostID: got.uid.start, size: mode.size }], GidMappings: [{ containerID: 0, hostID: got.gid.start, size: mode.size }] };
  }
}

/** The container id host id `outside` shows as, or undefined when unmapped. */
export function containerIdOf(maps: readonly IdMapping[], outside: number): number | undefined {
  const m = maps.find((x) => outside >= x.hostID && outside < x.hostID + x.size);
  return m && m.containerID + (outside - m.hostID);
}

/** Host owners as the container sees them; ids its maps lack are the kernel's overflow id (65534). */
export function ownersInside(u: ContainerUserns): (uid: number, gid: number) => { uid: number; gid: number } {
  return (uid, gid) => ({ uid: containerIdOf(u.UidMappings, uid) ?? 65534, gid: containerIdOf(u.GidMappings, gid) ?? 65534 });
}

/** The host id container id `inside` maps to, or undefined when unmapped. */
export function hostIdOf(maps: readonly IdMapping[], inside: number): number | undefined {
  const m = maps.find((x) => inside >= x.containerID && inside < x.containerID + x.size);
  return m && m.hostID + (inside - m.containerID);
}

/** inspect's Gantry.Userns: the mode and the uid/gid maps, as /proc/PID/uid_map lines ("inside outside count"). */
export function usernsView(rec: { State: { Pid: number }; Userns?: ContainerUserns }): { Mode: "host" | ContainerUserns["Mode"]; UidMap: string[]; GidMap: string[] } {
  const lines = (m: readonly IdMapping[]) => m.map((x) => `${x.containerID} ${x.hostID} ${x.size}`);
  const fromRecord = rec.Userns ? { UidMap: lines(rec.Userns.UidMappings), GidMap: lines(rec.Userns.GidMappings) } : { UidMap: ["0 0 4294967295"], GidMap: ["0 0 4294967295"] };
  // A running container's maps as its kernel has them.
  const live = (f: string) => (rec.State.Pid > 0 ? readOr(`/proc/${rec.State.Pid}/${f}`).split("\n").map((l) => l.trim().split(/\s+/).join(" ")).filter(Boolean) : []);
  const uid = live("uid_map");
  const gid = live("gid_map");
  return { Mode: rec.Userns?.Mode ?? "host", ...(uid.length && gid.length ? { UidMap: uid, GidMap: gid } : fromRecord) };
}
