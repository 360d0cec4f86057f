// A container's volumeMounts → the engine's HostConfig.Mounts (binds of the volumes' host
// paths), as the kubelet's makeMounts does: subPath (or subPathExpr, $(VAR) expanded with the
// container's env) binds a path inside the volume, made as a directory when missing and
// refused when it resolves outside the volume (a symlink escape); readOnly, or a volume that
// is read-only for everyone (configMap, secret, downwardAPI, projected), binds read-only;
// mountPropagation None/HostToContainer/Bidirectional → rprivate/rslave/rshared.
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import type { DockerMount } from "../../engine/index.ts";
import { expand } from "./env.ts";
import type { Container, VolumeMount } from "./pod-types.ts";
import { VolumeSetUpError, type MountedVolume } from "./pod-volumes.ts";

const PROPAGATION: Record<string, string> = { None: "rprivate", HostToContainer: "rslave", Bidirectional: "rshared" };

export function containerMounts(c: Container, volumes: Map<string, MountedVolume>, env: string[]): DockerMount[] {
  const vars = new Map(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] as [string, string]));
  return (c.volumeMounts ?? []).map((m) => {
    const v = volumes.get(m.name);
    if (!v) throw new VolumeSetUpError(`volumeMount ${m.name}: no volume of that name in the pod`);
    const source = m.subPath || m.subPathExpr ? subPathSource(v.path, m, vars) : v.path;
    if (m.mountPropagation === "Bidirectional" && !c.securityContext?.privileged) throw new VolumeSetUpError(`volumeMount ${m.name}: Bidirectional mount propagation is only for privileged containers`);
    return {
      Type: "bind",
      Source: source,
      Target: m.mountPath,
      ReadOnly: m.readOnly === true || v.readOnly,
      BindOptions: { Propagation: PROPAGATION[m.mountPropagation ?? "None"] ?? "rprivate" },
    };
  });
}

function subPathSource(volumePath: string, m: VolumeMount, vars: Map<string, string>): string {
  const sub = m.subPathExpr ? expand(m.subPathExpr, vars) : m.subPath!;
  if (sub.startsWith("/") || sub.split("/").includes("..")) throw new VolumeSetUpError(`subPath ${sub} must be a relative path without '..'`);
  const path = join(volumePath, sub);
  if (!existsSync(path)) mkdirSync(path, { recursive: true, mode: 0o755 });
  const root = realpathSync(volumePath);
  const real = realpathSync(path);
  if (real !== root && !real.startsWith(root + sep)) throw new VolumeSetUpError(`subpath "${sub}" not within volume path "${volumePath}"`);
  return real;
}
