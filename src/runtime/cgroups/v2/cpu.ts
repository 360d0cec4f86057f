// v2 cpu controller: weight, bandwidth (cpu.max, cpu.max.burst), idle.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { unsupportedOnV2 } from "./unsupported.ts";

export const controller = "cpu";

/**
 * v1 cpu.shares (2..262144, default 1024) to v2 cpu.weight (1..10000, default 100), by
 * runc's linear map: shares 2 -> weight 1 and shares 262144 -> weight 10000, integer
 * division, so 1024 -> 39 (not 100: the two defaults do not line up on this line).
 *   weight = 1 + ((shares - 2) * 9999) / 262142
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const cpu = resources?.cpu;
  if (!cpu) return [];
  if (cpu.realtimeRuntime || cpu.realtimePeriod) {
    throw unsupportedOnV2("cpu.realtimeRuntime", "v2 has no realtime group scheduling");
  }
  const files: CgroupFile[] = [];
  if (cpu.shares) {
    const shares = Math.min(Math.max(cpu.shares, 2), 262144); // the range v1 clamps to
    files.push({ file: "cpu.weight", value: String(sharesToWeight(shares)), field: "cpu.shares" });
  }
  if (cpu.quota || cpu.period) {
    // cpu.max is "QUOTA PERIOD" in one file; a quota <= 0 (or absent) is "max", no limit.
    // Without a period the kernel keeps the one in force, so only the quota is written.
    const quota = cpu.quota && cpu.quota > 0 ? String(cpu.quota) : "max";
    const value = cpu.period ? `${quota} ${cpu.period}` : quota;
    files.push({ file: "cpu.max", value, field: cpu.quota ? "cpu.quota" : "cpu.period" });
  }
  if (cpu.burst !== undefined) files.push({ file: "cpu.max.burst", value: String(cpu.burst), field: "cpu.burst" });
  if (cpu.idle !== undefined) files.push({ file: "cpu.idle", value: String(cpu.idle), field: "cpu.idle" });
  return files;
}
