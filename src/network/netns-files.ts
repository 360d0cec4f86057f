// Network namespaces that no process holds: an nsfs bind mount on a file, as `ip netns add`
// makes under /run/netns, here in a directory of the network library's own (the warm pool of
// prepared namespaces, see networks.ts). The namespace lives until the file is unmounted and
// every process in it has left; the kernel then frees it, veth and all, on its own time.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runChecked, runCommand } from "./exec.ts";

/**
 * Makes a new network namespace bound to `path` (a file that must not exist yet), with `lo`
 * up: `ip` runs inside it, one process where the loopback plugin would be a second.
 */
export async function makeNetnsFile(path: string): Promise<void> {
  writeFileSync(path, "", { flag: "wx", mode: 0o444 });
  try {
    await runChecked("unshare", [`--net=${path}`, "ip", "link", "set", "dev", "lo", "up"]);
  } catch (err) {
    rmSync(path, { force: true });
    throw err;
  }
}

/** Unbinds and removes a namespace file; a file that is not (or no longer) a mount just goes. */
export async function removeNetnsFile(path: string): Promise<void> {
  if (mountedFiles([path]).length > 0) await runCommand("umount", [path]);
  rmSync(path, { force: true });
}

/** The namespace files in `dir` (bound or left half-made by a crash). */
export function netnsFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((f) => join(dir, f));
}

/** Which of `paths` are mount points now (/proc/self/mountinfo's fifth field). */
function mountedFiles(paths: string[]): string[] {
  const want = new Set(paths);
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const target = line.split(" ")[4]?.replace(/\\040/g, " ");
    if (target && want.has(target)) out.push(target);
  }
  return out;
}
