// linux.resources.memory.checkBeforeUpdate: refuse a new limit below what the container
// already uses, instead of letting the kernel reclaim hard or OOM-kill on `update`.
import { join } from "node:path";
import { GantryError } from "../../common/errors.ts";
import type { LinuxResources } from "../spec/oci.ts";
import { readNumber } from "./cgroup-fs.ts";

/** `usageFile` is memory.usage_in_bytes (v1) or memory.current (v2), inside `dir`. */
export function checkMemoryBeforeUpdate(resources: LinuxResources | undefined, dir: string | undefined, usageFile: string): void {
  const mem = resources?.memory;
  if (!mem?.checkBeforeUpdate || !mem.limit || mem.limit <= 0 || !dir) return;
  const usage = readNumber(join(dir, usageFile));
  if (usage > mem.limit) {
    throw new GantryError("CONFLICT", `memory.limit ${mem.limit} is below the container's current usage ${usage} (checkBeforeUpdate is set)`, {
      path: join(dir, usageFile),
      hint: "raise the limit or free memory in the container first",
    });
  }
}
