// Image config → the pieces of an OCI runtime config the engine needs, by Docker's rules:
//   - args = Entrypoint + Cmd; `--entrypoint` replaces the entrypoint and drops the image's
//     Cmd; a Cmd given at run replaces the image's; nothing at all is an error;
//   - Env: image values, then run overrides by name ("NAME" alone unsets it); PATH gets
//     Docker's default when not named;
//   - WorkingDir defaults to "/" (a relative one is taken from "/");
//   - User "name", "uid", "name:group", "uid:gid" resolved against the image's /etc/passwd
//     and /etc/group (resolveUser);
//   - ExposedPorts "80/tcp", Volumes, Labels, StopSignal (default SIGTERM).
// Pure functions: unit-tested, and the engine calls them.
import { posix } from "node:path";
import { GantryError, invalidArgument } from "../common/errors.ts";
import { parseSignal, signalName } from "../common/signals.ts";
import type { ImageConfig } from "./spec.ts";
import { compareStrings } from "../common/compare.ts";

export const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RunOverrides {
  /** `--entrypoint`: [] (docker's --entrypoint "") clears it. */
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
}

export interface ExposedPort {
  port: number;
  protocol: "tcp" | "udp" | "sctp";
}

export interface RuntimeConfigPieces {
  args: string[];
  env: string[];
  cwd: string;
  /** The user as written ("" = root); resolve with resolveUser against the rootfs. */
  user: string;
  exposedPorts: ExposedPort[];
  volumes: string[];
  labels: Record<string, string>;
  stopSignal: string;
}

function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...overrides]) {
    const eq = e.indexOf("=");
    const key = eq < 0 ? e : e.slice(0, eq);
    if (key === "") throw invalidArgument(`invalid environment variable "${e}"`);
    // An entry without "=" stays as it is, in place of the image's value: the docker CLI
    // already took `-e NAME` from the caller's environment, so one reaching the API names a
    // variable to leave unset. dockerd keeps it in Config.Env and leaves it out of the
    // process's environment; so does the engine (it drops such entries at start).
    out.set(key, e);
  }
  if (!out.has("PATH")) out.set("PATH", defaultPath);
  return [...out.values()];
}

export function parseExposedPort(key: string): ExposedPort {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new GantryError("INVALID_SPEC", `invalid exposed port "${key}" in the image config`);
  return { port, protocol: (m[2]?.toLowerCase() ?? "tcp") as ExposedPort["protocol"] };
}

export function normalizeSignal(signal: string | undefined): string {
  if (!signal) return "SIGTERM";
  let n: number;
  try {
    n = parseSignal(signal);
  } catch {
    throw new GantryError("INVALID_SPEC", `unknown stop signal ${signal}`);
  }
  return signalName(n)!;
}

export function imageRuntimeConfig(image: ImageConfig, run: RunOverrides = {}): RuntimeConfigPieces {
  const c = image.config ?? {};
  const entrypoint = run.entrypoint ?? c.Entrypoint ?? [];
  const cmd = run.cmd ?? (run.entrypoint !== undefined ? [] : (c.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument("no command specified", { hint: "the image has no Entrypoint or Cmd: give a command after the image name" });
  const wd = run.workingDir ?? c.WorkingDir ?? "";
  return {
    args,
    env: mergeEnv(c.Env ?? [], run.env ?? []),
    cwd: posix.resolve("/", wd || "/"),
    user: run.user ?? c.User ?? "",
    exposedPorts: Object.keys(c.ExposedPorts ?? {})
      .map(parseExposedPort)
      .sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol)),
    volumes: Object.keys(c.Volumes ?? {}).sort(),
    labels: { ...(c.Labels ?? {}) },
    stopSignal: normalizeSignal(c.StopSignal),
  };
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** Resolves a Docker user spec against the image's passwd and group files (as text; either
 * may be missing). Numeric ids need no entry; names do. */
export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [userPart = "", groupPart] = spec.split(":");
  const users = (passwd ?? "").split("\n").map((l) => l.split(":")).filter((f) => f.length >= 7);
  const groups = (group ?? "").split("\n").map((l) => l.split(":")).filter((f) => f.length >= 4);
  let uid = 0;
  let gid = 0;
  let home = "/";
  let name: string | undefined;
  if (userPart === "") {
    const root = users.find((u) => u[2] === "0");
    name = root?.[0] ?? "root";
    home = root?.[5] ?? "/root";
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const u = users.find((f) => f[2] === userPart);
    gid = u ? Number(u[3]) : 0;
    home = u?.[5] ?? "/";
    name = u?.[0];
  } else {
    const u = users.find((f) => f[0] === userPart);
    if (!u) throw invalidArgument(`unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
    uid = Number(u[2]);
    gid = Number(u[3]);
    home = u[5] ?? "/";
    name = userPart;
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((f) => f[0] === groupPart);
      if (!g) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
      gid = Number(g[2]);
    }
  }
  const additionalGids =
    name === undefined
      ? []
      : groups
          .filter((g) => (g[3] ?? "").split(",").includes(name as string))
          .map((g) => Number(g[2]))
          .filter((g) => g !== gid);
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home };
}
