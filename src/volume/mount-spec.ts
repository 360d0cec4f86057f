// Docker's three ways of asking for a mount, parsed into one request shape, and the OCI
// mount entry each becomes. The engine puts the entries into config.json `mounts`.
//
//   -v /ctr                       anonymous volume
//   -v name:/ctr[:opts]           named volume        opts: ro, rw, nocopy, z, Z, propagation
//   -v /host:/ctr[:opts]          bind mount (the host directory is created if missing)
//   --mount type=bind|volume|tmpfs,source=,target=,readonly,bind-propagation=,volume-nocopy,
//           volume-label=k=v,volume-opt=k=v,tmpfs-size=,tmpfs-mode=
//   --tmpfs /ctr[:opts]           tmpfs               opts are passed to the kernel
import { GantryError, invalidArgument } from "../common/errors.ts";

/**
 * The mount entry Gantry emits: the OCI runtime spec's `mounts[]` item
 * (destination, type, source, options), defined here because the volume layer may not
 * import the runtime's types.
 */
export interface OciMountEntry {
  destination: string;
  type: "bind" | "tmpfs";
  source: string;
  options: string[];
}

export type Propagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";
const propagations: readonly string[] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

export interface BindMountRequest {
  type: "bind";
  source: string;
  target: string;
  readOnly: boolean;
  propagation: Propagation;
  /** -v creates a missing host directory; --mount refuses it (Docker's behaviour). */
  createSource: boolean;
  nonRecursive: boolean;
  /** SELinux relabel request (z shared, Z private); accepted, a no-op without SELinux. */
  relabel?: "z" | "Z";
}

export interface VolumeMountRequest {
  type: "volume";
  /** Undefined for an anonymous volume. */
  name?: string;
  target: string;
  readOnly: boolean;
  /** Skip copying the image's content at `target` into a new empty volume. */
  noCopy: boolean;
  labels: Record<string, string>;
  driverOpts: Record<string, string>;
}

export interface TmpfsMountRequest {
  type: "tmpfs";
  target: string;
  readOnly: boolean;
  /** Kernel mount options (size=, mode=, nosuid, ...). */
  options: string[];
}

export type MountRequest = BindMountRequest | VolumeMountRequest | TmpfsMountRequest;

export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** A container path: absolute, not "/", no ".."; returned cleaned of doubled and trailing slashes. */
export function checkTarget(target: string, spec: string): string {
  if (!target.startsWith("/")) {
    throw invalidArgument(`invalid mount "${spec}": container path "${target}" is not absolute`);
  }
  const clean = target.replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
  if (clean === "/") throw invalidArgument(`invalid mount "${spec}": the container path cannot be "/"`);
  if (clean.split("/").includes(".."))
    throw invalidArgument(`invalid mount "${spec}": container path contains ".."`);
  return clean;
}

/** Parses one `-v` / `--volume` value. */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(":");
  if (spec === "" || parts.length > 3 || parts.some((p) => p === "")) {
    throw invalidArgument(`invalid volume specification "${spec}"`, {
      hint: "use NAME:/ctr[:ro], /host:/ctr[:ro] or /ctr",
    });
  }
  if (parts.length === 1) {
    return {
      type: "volume",
      target: checkTarget(parts[0]!, spec),
      readOnly: false,
      noCopy: false,
      labels: {},
      driverOpts: {},
    };
  }
  const [src, dst, optText] = parts as [string, string, string | undefined];
  const target = checkTarget(dst, spec);
  let readOnly = false;
  let rw = false;
  let noCopy = false;
  let relabel: "z" | "Z" | undefined;
  let propagation: Propagation | undefined;
  for (const o of optText ? optText.split(",") : []) {
    if (o === "ro") readOnly = true;
    else if (o === "rw") rw = true;
    else if (o === "z" || o === "Z") relabel = o;
    else if (o === "nocopy") noCopy = true;
    else if (propagations.includes(o)) propagation = o as Propagation;
    else if (o === "consistent" || o === "cached" || o === "delegated")
      continue; // macOS-only hints, no-ops on Linux as in Docker
    else
      throw invalidArgument(`invalid mode "${o}" in volume specification "${spec}"`, {
        hint: "use ro, rw, z, Z, nocopy or a propagation",
      });
  }
  if (readOnly && rw) throw invalidArgument(`invalid volume specification "${spec}": both ro and rw`);
  if (src.startsWith("/")) {
    if (noCopy)
      throw invalidArgument(
        `invalid volume specification "${spec}": nocopy applies to volumes, not bind mounts`,
      );
    return {
      type: "bind",
      source: src,
      target,
      readOnly,
      propagation: propagation ?? "rprivate",
      createSource: true,
      nonRecursive: false,
      ...(relabel ? { relabel } : {}),
    };
  }
  if (src.startsWith(".") || src.includes("/")) {
    throw invalidArgument(`"${src}" includes invalid characters for a local volume name`, {
      hint: "bind mounts need an absolute host path",
    });
  }
  if (!VOLUME_NAME_RE.test(src)) {
    throw invalidArgument(
      `"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`,
    );
  }
  if (propagation)
    throw invalidArgument(`invalid volume specification "${spec}": propagation applies to bind mounts`);
  return { type: "volume", name: src, target, readOnly, noCopy, labels: {}, driverOpts: {} };
}

/** Splits a --mount value like encoding/csv does: commas separate, double quotes group. */
function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      if (quoted && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quoted) throw invalidArgument(`invalid --mount "${text}": unterminated quote`);
  out.push(cur);
  return out;
}

function parseBool(v: string | undefined, key: string, spec: string): boolean {
  if (v === undefined || v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw invalidArgument(`invalid --mount "${spec}": ${key}=${v} is not a boolean`);
}

/** Docker's size units (RAMInBytes): b, k, m, g, t with 1024 steps. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m)
    throw invalidArgument(`invalid ${what} "${text}"`, { hint: "a number with an optional unit: 64m, 1g" });
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"
  ];
  return Math.floor(Number(m[1]) * mult);
}

/** Parses one `--mount` value. */
export function parseMountFlag(spec: string): MountRequest {
  const kv = new Map<string, string | undefined>();
  const labels: Record<string, string> = {};
  const driverOpts: Record<string, string> = {};
  for (const field of splitCsv(spec)) {
    if (field === "") continue;
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (key === "volume-label" || key === "volume-opt") {
      const e = value?.indexOf("=") ?? -1;
      if (value === undefined || e <= 0)
        throw invalidArgument(`invalid --mount "${spec}": ${key} needs key=value`);
      (key === "volume-label" ? labels : driverOpts)[value.slice(0, e)] = value.slice(e + 1);
      continue;
    }
    const canonical = { src: "source", dst: "target", destination: "target", ro: "readonly" }[key] ?? key;
    if (kv.has(canonical)) throw invalidArgument(`invalid --mount "${spec}": ${canonical} given twice`);
    kv.set(canonical, value);
  }
  const known = new Set([
    "type",
    "source",
    "target",
    "readonly",
    "bind-propagation",
    "bind-nonrecursive",
    "bind-create-src",
    "volume-nocopy",
    "volume-driver",
    "tmpfs-size",
    "tmpfs-mode",
    "consistency",
  ]);
  for (const k of kv.keys()) {
    if (!known.has(k)) throw invalidArgument(`invalid --mount "${spec}": unknown field "${k}"`);
  }
  const type = kv.get("type") ?? "volume";
  const target = kv.get("target");
  if (!target) throw invalidArgument(`invalid --mount "${spec}": target is required`);
  const dst = checkTarget(target, spec);
  const readOnly = kv.has("readonly") ? parseBool(kv.get("readonly"), "readonly", spec) : false;
  const source = kv.get("source");
  const onlyFor = (keys: string[], t: string) => {
    for (const k of keys)
      if (kv.has(k)) throw invalidArgument(`invalid --mount "${spec}": ${k} is only for type=${t}`);
  };
  if (type !== "bind") onlyFor(["bind-propagation", "bind-nonrecursive", "bind-create-src"], "bind");
  if (type !== "volume") {
    onlyFor(["volume-nocopy", "volume-driver"], "volume");
    if (Object.keys(labels).length + Object.keys(driverOpts).length > 0)
      throw invalidArgument(
        `invalid --mount "${spec}": volume-label and volume-opt are only for type=volume`,
      );
  }
  if (type !== "tmpfs") onlyFor(["tmpfs-size", "tmpfs-mode"], "tmpfs");
  switch (type) {
    case "bind": {
      if (!source) throw invalidArgument(`invalid --mount "${spec}": source is required for a bind mount`);
      if (!source.startsWith("/"))
        throw invalidArgument(`invalid --mount "${spec}": bind source "${source}" is not an absolute path`);
      const prop = kv.get("bind-propagation") ?? "rprivate";
      if (!propagations.includes(prop))
        throw invalidArgument(
          `invalid --mount "${spec}": bind-propagation "${prop}" is not one of ${propagations.join(", ")}`,
        );
      return {
        type: "bind",
        source,
        target: dst,
        readOnly,
        propagation: prop as Propagation,
        createSource: kv.has("bind-create-src")
          ? parseBool(kv.get("bind-create-src"), "bind-create-src", spec)
          : false,
        nonRecursive: kv.has("bind-nonrecursive")
          ? parseBool(kv.get("bind-nonrecursive"), "bind-nonrecursive", spec)
          : false,
      };
    }
    case "volume": {
      if (source !== undefined && source !== "" && !VOLUME_NAME_RE.test(source)) {
        throw invalidArgument(`invalid --mount "${spec}": "${source}" is not a valid volume name`);
      }
      const driver = kv.get("volume-driver");
      if (driver !== undefined && driver !== "local")
        throw new GantryError("UNSUPPORTED_OPTION", `volume driver "${driver}" is not supported`, {
          hint: "Gantry has the local driver",
        });
      return {
        type: "volume",
        ...(source ? { name: source } : {}),
        target: dst,
        readOnly,
        noCopy: kv.has("volume-nocopy") ? parseBool(kv.get("volume-nocopy"), "volume-nocopy", spec) : false,
        labels,
        driverOpts,
      };
    }
    case "tmpfs": {
      if (source) throw invalidArgument(`invalid --mount "${spec}": a tmpfs mount takes no source`);
      const options = ["nosuid", "nodev", "noexec"];
      const size = kv.get("tmpfs-size");
      if (size !== undefined) options.push(`size=${parseSize(size, "tmpfs-size")}`);
      const mode = kv.get("tmpfs-mode");
      if (mode !== undefined) {
        if (!/^[0-7]{1,4}$/.test(mode))
          throw invalidArgument(`invalid --mount "${spec}": tmpfs-mode "${mode}" is not an octal mode`);
        options.push(`mode=${mode}`);
      }
      return { type: "tmpfs", target: dst, readOnly, options };
    }
    default:
      throw invalidArgument(`invalid --mount "${spec}": type "${type}" is not one of bind, volume, tmpfs`);
  }
}

/** Parses one `--tmpfs /path[:opts]` value; Docker's defaults are noexec,nosuid,nodev. */
export function parseTmpfsFlag(spec: string): TmpfsMountRequest {
  const colon = spec.indexOf(":");
  const target = checkTarget(colon < 0 ? spec : spec.slice(0, colon), spec);
  const given =
    colon < 0
      ? []
      : spec
          .slice(colon + 1)
          .split(",")
          .filter((o) => o !== "");
  const allowed =
    /^(ro|rw|exec|noexec|suid|nosuid|dev|nodev|atime|noatime|relatime|strictatime|nodiratime|size=\d+[kmgKMG%]?|nr_inodes=\d+[kmgKMG]?|mode=[0-7]{1,4}|uid=\d+|gid=\d+)$/;
  for (const o of given)
    if (!allowed.test(o)) throw invalidArgument(`invalid --tmpfs "${spec}": option "${o}" is not allowed`);
  const has = (o: string) => given.includes(o);
  const options = [
    has("exec") ? "" : "noexec",
    has("suid") ? "" : "nosuid",
    has("dev") ? "" : "nodev",
  ].filter(Boolean);
  options.push(...given.filter((o) => o !== "ro" && o !== "rw" && !options.includes(o)));
  return { type: "tmpfs", target, readOnly: has("ro"), options };
}

/** Refuses two mounts on one container path (Docker: "Duplicate mount point"). */
export function checkDuplicateTargets(mounts: MountRequest[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target)) throw invalidArgument(`Duplicate mount point: ${m.target}`);
    seen.add(m.target);
  }
}

/** OCI options of a bind (and of a resolved volume, which is a bind of its _data directory). */
export function bindOptions(
  readOnly: boolean,
  propagation: Propagation = "rprivate",
  recursive = true,
): string[] {
  return [recursive ? "rbind" : "bind", propagation, ...(readOnly ? ["ro"] : [])];
}

export function tmpfsEntry(m: TmpfsMountRequest): OciMountEntry {
  return {
    destination: m.target,
    type: "tmpfs",
    source: "tmpfs",
    options: [...m.options, ...(m.readOnly ? ["ro"] : [])],
  };
}
