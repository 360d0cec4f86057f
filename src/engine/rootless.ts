// A rootless daemon: `gantry daemon` run by an ordinary user, as rootless Docker and Podman
// run. The daemon cannot unshare itself (Node is multithreaded), so like rootlesskit it
// re-executes itself inside a new user namespace and mount namespace: util-linux's `unshare`
// makes them, and its `--map-users`/`--map-groups` run Debian's setuid newuidmap/newgidmap
// with the user's /etc/subuid and /etc/subgid range, before the daemon's program is executed:
//
//   launcher (the user, host namespaces)            child (root of the new user namespace)
//   spawn unshare --user --mount --map-root-user …  ─> exec node gantry daemon (ROOTLESS_ENV=1)
//   forwards SIGINT/SIGTERM, exits with the child    0 ↦ the user's uid, 1..N ↦ the subuid range
//
// The child keeps the host's network namespace (containers reach the network through
// slirp4netns) and its mounts (the overlay root filesystems) stay in its own mount namespace.
// State lives where the user may write it: $XDG_DATA_HOME/gantry (~/.local/share/gantry), the
// runtime state and socket under $XDG_RUNTIME_DIR, where the gantry CLI looks for them too.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { GantryError } from "../common/errors.ts";
import { inUserNamespace } from "../runtime/index.ts";
import { parseSubordinateIds, type IdRange } from "./userns.ts";

/** Set in the child's environment: this process is the rootless daemon inside its namespace. */
export const ROOTLESS_ENV = "GANTRY_ROOTLESS";

/** Why resource flags are refused by a rootless daemon on this host's cgroups. */
export const ROOTLESS_CGROUPS_REASON = "this daemon is rootless and the host's cgroups are v1, which cannot be delegated to an unprivileged user";

export interface RootlessPaths {
  dataRoot: string;
  execRoot: string;
  socket: string;
}

/** Where a user's daemon keeps its state and socket; XDG_RUNTIME_DIR is needed (as rootless dockerd needs it). */
export function rootlessPaths(env: NodeJS.ProcessEnv = process.env, home = env.HOME || homedir()): RootlessPaths {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (!runtimeDir) {
    throw new GantryError("INVALID_ARGUMENT", "a rootless gantry daemon needs XDG_RUNTIME_DIR (the user's runtime directory) for its socket and runtime state", {
      hint: "log in through a session that sets it (systemd --user does: /run/user/$UID), or export XDG_RUNTIME_DIR=DIR (a directory of yours, mode 0700)",
    });
  }
  const dataHome = env.XDG_DATA_HOME || join(home, ".local", "share");
  return { dataRoot: join(dataHome, "gantry"), execRoot: join(runtimeDir, "gantry"), socket: join(runtimeDir, "gantry.sock") };
}

/** The socket a non-root client uses by default: the user's rootless daemon's, when XDG_RUNTIME_DIR is set. */
export function defaultClientSocket(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string | undefined {
  if (uid === 0 || !env.XDG_RUNTIME_DIR) return undefined;
  return join(env.XDG_RUNTIME_DIR, "gantry.sock");
}

/** The first subordinate uid and gid range of the user (by name or number), or a clear error naming the file and the fix. */
export function subordinateRanges(user: { name: string; uid: number; gid: number }, files = { subuid: "/etc/subuid", subgid: "/etc/subgid" }): { uid: IdRange; gid: IdRange } {
  const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
  const names = [user.name, String(user.uid)];
  const uid = parseSubordinateIds(read(files.subuid), names)[0];
  const gid = parseSubordinateIds(read(files.subgid), names)[0];
  const missing = !uid ? ["uid", files.subuid] : !gid ? ["gid", files.subgid] : undefined;
  if (missing || !uid || !gid) {
    throw new GantryError("INVALID_ARGUMENT", `a rootless gantry daemon needs subordinate ${missing?.[0]}s: ${user.name} has no range in ${missing?.[1]}`, {
      hint: `as root: usermod --add-subuids 200000-265535 --add-subgids 200000-265535 ${user.name}`,
    });
  }
  return { uid, gid };
}

/** unshare(1)'s arguments: new user and mount namespaces, 0 ↦ the user, 1..count ↦ the ranges (through newuidmap/newgidmap). */
export function unshareArgs(ranges: { uid: IdRange; gid: IdRange }): string[] {
  return [
    "--user",
    "--mount",
    "--propagation",
    "private",
    "--map-root-user",
    `--map-users=${ranges.uid.start},1,${ranges.uid.count}`,
    `--map-groups=${ranges.gid.start},1,${ranges.gid.count}`,
    "--",
  ];
}

/** Everything the re-executed daemon needs that an ordinary user may lack, said before anything starts. */
export function checkRootlessPrerequisites(): void {
  for (const tool of ["unshare", "newuidmap", "newgidmap"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      throw new GantryError("KERNEL_FEATURE_MISSING", `a rootless gantry daemon needs ${tool}`, { hint: "apt-get install uidmap util-linux" });
    }
  }
  const max = existsSync("/proc/sys/user/max_user_namespaces") ? Number(readFileSync("/proc/sys/user/max_user_namespaces", "utf8")) : 1;
  if (max === 0) {
    throw new GantryError("KERNEL_FEATURE_MISSING", "user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)", {
      hint: "as root: sysctl user.max_user_namespaces=28633",
    });
  }
}

/**
 * Runs `argv` (this program again) as root of a new user namespace; resolves with its exit
 * code. SIGINT/SIGTERM to the launcher go to the daemon, which stops as a root daemon does.
 */
export function reexecInUserNamespace(argv: string[]): Promise<number> {
  checkRootlessPrerequisites();
  const me = userInfo();
  const ranges = subordinateRanges({ name: me.username, uid: me.uid, gid: me.gid });
  const child = spawn("unshare", [...unshareArgs(ranges), ...argv], { stdio: "inherit", env: { ...process.env, [ROOTLESS_ENV]: "1" } });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** True in the re-executed daemon: the launcher's marker and a user namespace that is not the host's. */
export function isRootlessChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[ROOTLESS_ENV] === "1" && inUserNamespace();
}
