// Enabling v2 controllers. A controller's files appear in a cgroup only when every
// ancestor lists it in cgroup.subtree_control, so each level from the root down to the
// container's parent must say "+memory" etc.
import { join, relative } from "node:path";
import { GantryError } from "../../../common/errors.ts";
import { readOptional, writeCgroupValue } from "../cgroup-fs.ts";

/** The directories whose subtree_control governs `dir`: mountPoint, then each level above `dir`. */
export function ancestorsOf(mountPoint: string, dir: string): string[] {
  const parts = relative(mountPoint, dir).split("/").filter(Boolean);
  const out = [mountPoint];
  for (let i = 1; i < parts.length; i++) out.push(join(mountPoint, ...parts.slice(0, i)));
  return out;
}

const words = (text: string | undefined): string[] => (text ?? "").split(/\s+/).filter(Boolean);

/**
 * Makes `controllers` available in `dir`. With `required`, a controller the kernel or a
 * parent does not offer is KERNEL_FEATURE_MISSING naming it; otherwise it is skipped (used
 * when enabling everything available for stats). A cgroup with processes of its own cannot
 * enable controllers for its children (the "no internal processes" rule): that is EBUSY.
 */
export function enableControllers(mountPoint: string, dir: string, controllers: readonly string[], required: boolean): void {
  for (const level of ancestorsOf(mountPoint, dir)) {
    const available = words(readOptional(join(level, "cgroup.controllers")));
    const enabled = new Set(words(readOptional(join(level, "cgroup.subtree_control"))));
    for (const c of controllers) {
      if (enabled.has(c)) continue;
      if (!available.includes(c)) {
        if (!required) continue;
        throw new GantryError(
          "KERNEL_FEATURE_MISSING",
          `the cgroup v2 ${c} controller is not available in ${level} (cgroup.controllers: ${available.join(" ") || "empty"})`,
          { path: join(level, "cgroup.controllers"), hint: `enable ${c} in the parent's cgroup.subtree_control or use a kernel with it` },
        );
      }
      try {
        writeCgroupValue(join(level, "cgroup.subtree_control"), `+${c}`, `the ${c} controller`);
      } catch (err) {
        if (required) throw err;
      }
    }
  }
}
