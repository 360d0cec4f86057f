// `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image, with
// optional Dockerfile-style --change instructions for its config (as `docker import -c`).
import { GantryError } from "../common/errors.ts";
import { commitImage, storeLayer } from "./commit.ts";
import type { Digest } from "./digest.ts";
import { defaultPlatform } from "./pull.ts";
import type { ContainerConfig } from "./spec.ts";
import type { ImageStore } from "./store.ts";
import { parseHealthcheck } from "./build/healthcheck.ts";

function jsonOrShell(instruction: string, rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith("[")) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new GantryError("INVALID_ARGUMENT", `${instruction}: invalid JSON array ${t}`);
    }
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw new GantryError("INVALID_ARGUMENT", `${instruction}: expected a JSON array of strings`);
    return v as string[];
  }
  return ["/bin/sh", "-c", t];
}

function keyValues(instruction: string, rest: string): [string, string][] {
  const t = rest.trim();
  const pairs: [string, string][] = [];
  if (!t.includes("=")) {
    const sp = t.search(/\s/);
    if (sp < 0) throw new GantryError("INVALID_ARGUMENT", `${instruction} needs a value: ${t}`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  for (const m of t.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = m[2] ?? "";
    pairs.push([m[1] as string, raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return pairs;
}

/** Applies Dockerfile instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL,
 * VOLUME, STOPSIGNAL, HEALTHCHECK) to a container config. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(change);
    if (!m) throw new GantryError("INVALID_ARGUMENT", `invalid change "${change}"`);
    const instruction = (m[1] as string).toUpperCase();
    const rest = m[2] as string;
    switch (instruction) {
      case "CMD":
        c.Cmd = jsonOrShell(instruction, rest);
        break;
      case "ENTRYPOINT":
        c.Entrypoint = jsonOrShell(instruction, rest);
        break;
      case "ENV": {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of keyValues(instruction, rest)) {
          const i = env.findIndex((e) => e.startsWith(`${k}=`));
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case "LABEL":
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(keyValues(instruction, rest)) };
        break;
      case "WORKDIR":
        c.WorkingDir = rest.trim();
        break;
      case "USER":
        c.User = rest.trim();
        break;
      case "STOPSIGNAL":
        c.StopSignal = rest.trim();
        break;
      case "HEALTHCHECK":
        c.Healthcheck = parseHealthcheck(rest.trim(), `--change "${change}"`);
        break;
      case "EXPOSE":
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of rest.trim().split(/\s+/)) c.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
        break;
      case "VOLUME": {
        c.Volumes = { ...(c.Volumes ?? {}) };
        const t = rest.trim();
        const vols = t.startsWith("[") ? (JSON.parse(t) as string[]) : t.split(/\s+/);
        for (const v of vols) c.Volumes[v] = {};
        break;
      }
      default:
        throw new GantryError("UNSUPPORTED_OPTION", `${instruction} is not supported in --change`, {
          hint: "use CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR",
        });
    }
  }
  return c;
}

export interface ImportOptions {
  name?: string;
  changes?: string[];
  message?: string;
  platform?: { os: string; architecture: string };
}

export async function importRootfs(store: ImageStore, tarPath: string, opts: ImportOptions = {}): Promise<{ id: Digest; manifestDigest: Digest; name?: string }> {
  return store.withLease(async (lease) => {
    const layer = await storeLayer(store, { path: tarPath });
    lease.add(layer.descriptor.digest);
    const created = new Date().toISOString();
    const platform = opts.platform ?? defaultPlatform();
    const r = await commitImage(store, {
      name: opts.name,
      layers: [layer],
      config: applyChanges({}, opts.changes ?? []),
      architecture: platform.architecture,
      os: platform.os,
      created,
      history: [{ created, created_by: "gantry import", ...(opts.message ? { comment: opts.message } : {}) }],
    });
    return { id: r.configDigest, manifestDigest: r.manifestDigest, name: r.name };
  });
}
