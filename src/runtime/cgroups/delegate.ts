// A user-namespaced container's cgroup handed to its root, as crun does and as the kernel's
// cgroup-v2 delegation rules describe (Documentation/admin-guide/cgroup-v2.rst, "Delegation"):
// the directory and the files that move processes and enable controllers. The limits stay the
// host's: their files are not given away, so the container cannot raise them.
import { chownSync } from "node:fs";
import { join } from "node:path";

const DELEGATED_FILES = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks"];

/** Chowns each container cgroup directory and its delegation files to uid:gid (files a hierarchy lacks are skipped). */
export function delegateCgroups(dirs: readonly string[], uid: number, gid: number): void {
  for (const dir of dirs) {
    chownSync(dir, uid, gid);
    for (const f of DELEGATED_FILES) {
      try {
        chownSync(join(dir, f), uid, gid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
  }
}
