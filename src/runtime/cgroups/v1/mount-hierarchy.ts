// Mounting a v1 hierarchy nobody mounted. The dev hosts have net_cls and net_prio in the
// kernel (/proc/cgroups) but no mount for them; a config asking for network.classID gets
// the hierarchy mounted beside the others, as a distribution's init would have done.
import { childProcess } from "../../../common/lazy-builtins.ts";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GantryError } from "../../../common/errors.ts";
import type { V1Hierarchy } from "../hierarchy.ts";

/** Controllers the kernel has and has enabled, from /proc/cgroups. */
export function kernelControllers(text = readFileSync("/proc/cgroups", "utf8")): Set<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [name, , , enabled] = line.split(/\s+/);
    if (name && enabled === "1") out.add(name);
  }
  return out;
}

/** Where a new hierarchy goes: next to the existing v1 mounts, else /sys/fs/cgroup. */
export function hierarchyBase(existing: readonly V1Hierarchy[]): string {
  const first = existing.find((h) => !h.controllers.some((c) => c.startsWith("name=")));
  return first ? dirname(first.mountPoint) : "/sys/fs/cgroup";
}

export function mountV1Hierarchy(controller: string, base: string): string {
  if (!kernelControllers().has(controller)) {
    throw new GantryError("KERNEL_FEATURE_MISSING", `the ${controller} cgroup controller is not in this kernel (/proc/cgroups)`, {
      path: "/proc/cgroups",
      hint: `use a kernel built with the ${controller} cgroup controller`,
    });
  }
  const target = join(base, controller);
  try {
    // /sys/fs/cgroup is a tmpfs on v1 hosts, so the mount point can be made there.
    if (!existsSync(target)) mkdirSync(target);
    childProcess().execFileSync("mount", ["-t", "cgroup", "-o", controller, "cgroup", target], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new GantryError("SYSCALL_FAILED", `mount the ${controller} cgroup hierarchy at ${target}: ${stderr || (err as Error).message}`, {
      path: target,
      step: "cgroup mount",
      hint: `mount it yourself: mount -t cgroup -o ${controller} cgroup ${target}`,
      cause: err,
    });
  }
  return target;
}
