// linux.resources.unified: raw v2 "file": "value" pairs, written as given.
import { GantryError } from "../../../common/errors.ts";
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

/** Interface files that move processes or change the tree; they are not limits. */
const refused = new Set(["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.freeze", "cgroup.kill", "cgroup.type"]);

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const files: CgroupFile[] = [];
  for (const [key, value] of Object.entries(resources?.unified ?? {})) {
    // The key becomes a file name in the container's cgroup: no path tricks.
    if (!/^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$/.test(key) || key.includes("..") || refused.has(key)) {
      throw new GantryError("INVALID_SPEC", `linux.resources.unified key ${JSON.stringify(key)} is not a cgroup v2 limit file`, {
        path: `linux.resources.unified.${key}`,
      });
    }
    files.push({ file: key, value, field: `unified.${key}` });
  }
  return files;
}

/** "memory.max" -> "memory": the controller that must be enabled for the file to exist. */
export function controllerOf(file: string): string {
  return file.slice(0, file.indexOf("."));
}
