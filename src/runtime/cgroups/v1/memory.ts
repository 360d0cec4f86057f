// v1 memory controller: limit, memory+swap limit, soft limit, swappiness, OOM killer.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "memory";

/** What the writer knows about the cgroup right now; the write order depends on it. */
export interface MemoryHost {
  /** memory.limit_in_bytes as it reads now (v1 shows "no limit" as a huge number). */
  currentLimit: number;
  /** memory.memsw.* exists (the kernel does swap accounting). */
  swapAccounting: boolean;
}

export function toFiles(resources: LinuxResources | undefined, host: MemoryHost): CgroupFile[] {
  const mem = resources?.memory;
  if (!mem) return [];
  const files: CgroupFile[] = [];
  const limit = mem.limit ?? 0;
  let swap = mem.swap ?? 0;
  // "Memory unlimited" with no word on swap means both unlimited, as runc reads it; only
  // when the kernel accounts swap, else there is no file to write and nothing was asked.
  if (limit === -1 && swap === 0 && host.swapAccounting) swap = -1;

  // OCI swap is memory+swap, exactly what memory.memsw.limit_in_bytes holds, so no conversion.
  const limitFile: CgroupFile = { file: "memory.limit_in_bytes", value: String(limit), field: "memory.limit" };
  const swapFile: CgroupFile = { file: "memory.memsw.limit_in_bytes", value: String(swap), field: "memory.swap" };
  if (limit !== 0 && swap !== 0) {
    // The kernel keeps limit <= memsw at every moment. Raising (the new memsw is at least the
    // current limit): memsw first, then the limit fits under it. Lowering: the limit first.
    if (swap === -1 || host.currentLimit < swap) files.push(swapFile, limitFile);
    else files.push(limitFile, swapFile);
  } else if (limit !== 0) files.push(limitFile);
  else if (swap !== 0) files.push(swapFile);

  if (mem.reservation) files.push({ file: "memory.soft_limit_in_bytes", value: String(mem.reservation), field: "memory.reservation" });
  if (mem.swappiness !== undefined) files.push({ file: "memory.swappiness", value: String(mem.swappiness), field: "memory.swappiness" });
  if (mem.disableOOMKiller) files.push({ file: "memory.oom_control", value: "1", field: "memory.disableOOMKiller" });
  // memory.kernel is deliberately not written: kernel memory limits are deprecated since
  // Linux 5.4 and writes fail on 6.x; runc ignores the field too.
  if (mem.kernelTCP) files.push({ file: "memory.kmem.tcp.limit_in_bytes", value: String(mem.kernelTCP), field: "memory.kernelTCP" });
  return files;
}
