// The Engine API's mount fields of a container create (what the docker CLI sends for -v,
// --mount and --tmpfs) and the image's VOLUME list, into the library's mount requests:
//   HostConfig.Binds   ["name:/ctr:ro", "/host:/ctr"]        (-v)
//   HostConfig.Mounts  [{Type, Source, Target, ReadOnly, BindOptions, VolumeOptions, TmpfsOptions}] (--mount)
//   HostConfig.Tmpfs   {"/run": "size=64m"}                  (--tmpfs)
//   Config.Volumes     {"/data": {}}                         (image VOLUME: anonymous unless mounted)
import { GantryError, invalidArgument } from "../common/errors.ts";
import {
  VOLUME_NAME_RE,
  checkDuplicateTargets,
  checkTarget,
  parseTmpfsFlag,
  parseVolumeFlag,
} from "./mount-spec.ts";
import type { MountRequest, Propagation } from "./mount-spec.ts";

export interface DockerMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean } | null;
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    DriverConfig?: { Name?: string; Options?: Record<string, string> } | null;
    Subpath?: string;
  } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] } | null;
}

export interface DockerMountFields {
  Binds?: string[] | null;
  Mounts?: DockerMount[] | null;
  Tmpfs?: Record<string, string> | null;
}

function fromDockerMount(m: DockerMount, i: number): MountRequest {
  const where = `HostConfig.Mounts[${i}]`;
  if (!m.Target) throw invalidArgument(`${where}: Target is required`);
  const target = m.Target;
  const readOnly = m.ReadOnly === true;
  switch (m.Type) {
    case "bind": {
      if (!m.Source || !m.Source.startsWith("/"))
        throw invalidArgument(`${where}: a bind needs an absolute Source`);
      const prop = m.BindOptions?.Propagation || "rprivate";
      if (!["private", "rprivate", "shared", "rshared", "slave", "rslave"].includes(prop))
        throw invalidArgument(`${where}: invalid propagation "${prop}"`);
      return checkedTarget(
        {
          type: "bind",
          source: m.Source,
          target,
          readOnly,
          propagation: prop as Propagation,
          createSource: m.BindOptions?.CreateMountpoint === true,
          nonRecursive: m.BindOptions?.NonRecursive === true,
        },
        where,
      );
    }
    case "volume": {
      if (m.Source && !VOLUME_NAME_RE.test(m.Source))
        throw invalidArgument(`${where}: "${m.Source}" is not a valid volume name`);
      const driver = m.VolumeOptions?.DriverConfig?.Name;
      if (driver && driver !== "local")
        throw new GantryError("UNSUPPORTED_OPTION", `volume driver "${driver}" is not supported`);
      if (m.VolumeOptions?.Subpath)
        throw new GantryError("UNSUPPORTED_OPTION", `${where}: volume subpaths are not supported`);
      return checkedTarget(
        {
          type: "volume",
          ...(m.Source ? { name: m.Source } : {}),
          target,
          readOnly,
          noCopy: m.VolumeOptions?.NoCopy === true,
          labels: { ...(m.VolumeOptions?.Labels ?? {}) },
          driverOpts: { ...(m.VolumeOptions?.DriverConfig?.Options ?? {}) },
        },
        where,
      );
    }
    case "tmpfs": {
      if (m.Source) throw invalidArgument(`${where}: a tmpfs mount takes no Source`);
      const opts: string[] = [];
      if (m.TmpfsOptions?.SizeBytes !== undefined) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode !== undefined) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      for (const o of m.TmpfsOptions?.Options ?? []) opts.push(o.join("="));
      const req = parseTmpfsFlag(opts.length > 0 ? `${target}:${opts.join(",")}` : target);
      return { ...req, readOnly: readOnly || req.readOnly };
    }
    default:
      throw new GantryError(
        "UNSUPPORTED_OPTION",
        `${where}: mount type "${String(m.Type)}" is not supported`,
        { hint: "use bind, volume or tmpfs" },
      );
  }
}

function checkedTarget<T extends MountRequest>(m: T, where: string): T {
  return { ...m, target: checkTarget(m.target, where) };
}

/** The default options every tmpfs gets (and --mount's tmpfs cannot turn off), left out of
 * TmpfsOptions.Options since the daemon adds them again. */
const TMPFS_DEFAULTS = new Set(["nosuid", "nodev", "noexec"]);

/**
 * A parsed `--mount` back into the Engine API's HostConfig.Mounts item, as the docker CLI
 * sends it: the daemon parses it again with fromDockerMount, into the same request.
 */
export function toDockerMount(m: MountRequest): DockerMount {
  switch (m.type) {
    case "bind":
      return {
        Type: "bind",
        Source: m.source,
        Target: m.target,
        ReadOnly: m.readOnly,
        BindOptions: { Propagation: m.propagation, NonRecursive: m.nonRecursive, CreateMountpoint: m.createSource },
      };
    case "volume":
      return {
        Type: "volume",
        ...(m.name ? { Source: m.name } : {}),
        Target: m.target,
        ReadOnly: m.readOnly,
        VolumeOptions: { NoCopy: m.noCopy, Labels: { ...m.labels }, DriverConfig: { Options: { ...m.driverOpts } } },
      };
    case "tmpfs": {
      const tmpfs: NonNullable<DockerMount["TmpfsOptions"]> = {};
      const rest: string[][] = [];
      for (const o of m.options) {
        const [key = "", value] = o.split("=");
        if (key === "size" && value !== undefined && /^\d+$/.test(value)) tmpfs.SizeBytes = Number(value);
        else if (key === "mode" && value !== undefined) tmpfs.Mode = parseInt(value, 8);
        else if (!TMPFS_DEFAULTS.has(o)) rest.push(value === undefined ? [key] : [key, value]);
      }
      if (rest.length > 0) tmpfs.Options = rest;
      return { Type: "tmpfs", Target: m.target, ReadOnly: m.readOnly, TmpfsOptions: tmpfs };
    }
  }
}

/**
 * All of a container's mounts from its create body. The image's VOLUME paths become
 * anonymous volumes unless a mount already covers that path.
 */
export function fromDockerMountFields(
  fields: DockerMountFields,
  imageVolumes?: Record<string, unknown> | null,
): MountRequest[] {
  const out: MountRequest[] = [];
  for (const b of fields.Binds ?? []) out.push(parseVolumeFlag(b));
  (fields.Mounts ?? []).forEach((m, i) => out.push(fromDockerMount(m, i)));
  for (const [path, opts] of Object.entries(fields.Tmpfs ?? {}))
    out.push(parseTmpfsFlag(opts ? `${path}:${opts}` : path));
  checkDuplicateTargets(out);
  const covered = new Set(out.map((m) => m.target));
  for (const path of Object.keys(imageVolumes ?? {})) {
    const req = parseVolumeFlag(path);
    if (!covered.has(req.target)) {
      out.push(req);
      covered.add(req.target);
    }
  }
  return out;
}

/** POST /volumes/create body into create options. */
export function fromDockerVolumeCreate(body: {
  Name?: unknown;
  Driver?: unknown;
  DriverOpts?: unknown;
  Labels?: unknown;
}): {
  name?: string;
  driver?: string;
  labels: Record<string, string>;
  driverOpts: Record<string, string>;
} {
  if (typeof body !== "object" || body === null)
    throw invalidArgument("volume create body must be a JSON object");
  const map = (v: unknown, what: string): Record<string, string> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string"))
      throw invalidArgument(`${what} must be an object of strings`);
    return { ...(v as Record<string, string>) };
  };
  if (body.Name !== undefined && typeof body.Name !== "string")
    throw invalidArgument("Name must be a string");
  if (body.Driver !== undefined && typeof body.Driver !== "string")
    throw invalidArgument("Driver must be a string");
  return {
    ...(body.Name ? { name: body.Name as string } : {}),
    ...(body.Driver ? { driver: body.Driver as string } : {}),
    labels: map(body.Labels, "Labels"),
    driverOpts: map(body.DriverOpts, "DriverOpts"),
  };
}
