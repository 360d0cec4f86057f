// v2 memory controller: memory.max, memory.swap.max, memory.low, memory.oom.group.
import { GantryError } from "../../../common/errors.ts";
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { unsupportedOnV2 } from "./unsupported.ts";

export const controller = "memory";

const bytesOrMax = (n: number): string => (n === -1 ? "max" : String(n));

/**
 * OCI swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone, so
 * swap.max = swap - limit. -1 stays "max"; memory unlimited with swap unset means both
 * unlimited, as v1 reads it. Returns undefined when swap is not to be written.
 */
export function swapMax(limit: number, swap: number): string | undefined {
  if (limit === -1 && swap === 0) return "max";
  if (swap === 0) return undefined;
  if (swap === -1) return "max";
  if (limit === 0 || limit === -1) {
    throw new GantryError("INVALID_SPEC", "linux.resources.memory.swap needs memory.limit on cgroup v2 (swap.max = swap - limit)", {
      path: "linux.resources.memory.swap",
    });
  }
  if (swap < limit) {
    throw new GantryError("INVALID_SPEC", `linux.resources.memory.swap ${swap} is below memory.limit ${limit} (OCI swap counts memory plus swap)`, {
      path: "linux.resources.memory.swap",
    });
  }
  return String(swap - limit);
}

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const mem = resources?.memory;
  if (!mem) return [];
  if (mem.swappiness !== undefined) throw unsupportedOnV2("memory.swappiness", "v2 has no per-cgroup swappiness");
  if (mem.disableOOMKiller) throw unsupportedOnV2("memory.disableOOMKiller", "v2 cannot turn the OOM killer off for a cgroup");
  const files: CgroupFile[] = [];
  const limit = mem.limit ?? 0;
  // Swap first: memory.swap.max is independent of memory.max in v2, and a too-small swap
  // value is an input error we want before any limit changed.
  const swap = swapMax(limit, mem.swap ?? 0);
  if (swap !== undefined) files.push({ file: "memory.swap.max", value: swap, field: "memory.swap" });
  if (limit !== 0) files.push({ file: "memory.max", value: bytesOrMax(limit), field: "memory.limit" });
  // The soft limit of v1 is closest to v2's best-effort protection memory.low.
  if (mem.reservation) files.push({ file: "memory.low", value: bytesOrMax(mem.reservation), field: "memory.reservation" });
  // An OOM kill takes the whole container down, as a v1 container's init dying would:
  // half a container (a killed worker, a live supervisor) is harder to notice than none.
  if (limit !== 0) files.push({ file: "memory.oom.group", value: "1", field: "memory.limit" });
  // kernel and kernelTCP: v2 accounts kernel memory inside memory.max and has no separate
  // limit; runc ignores both there too.
  return files;
}
