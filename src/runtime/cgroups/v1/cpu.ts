// v1 cpu controller: CFS shares, bandwidth (quota/period/burst), realtime budget, idle.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "cpu";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const cpu = resources?.cpu;
  if (!cpu) return [];
  const files: CgroupFile[] = [];
  // 0 means "not set" for every field here, as in runc; the kernel clamps shares to [2, 262144].
  if (cpu.shares) files.push({ file: "cpu.shares", value: String(cpu.shares), field: "cpu.shares" });
  // Period before quota: the kernel checks the quota against the period in force.
  if (cpu.period) files.push({ file: "cpu.cfs_period_us", value: String(cpu.period), field: "cpu.period" });
  // Quota -1 is "no limit" in v1's own syntax, so it is written as is.
  if (cpu.quota) files.push({ file: "cpu.cfs_quota_us", value: String(cpu.quota), field: "cpu.quota" });
  // Burst must not exceed the quota, so it comes after it.
  if (cpu.burst !== undefined) files.push({ file: "cpu.cfs_burst_us", value: String(cpu.burst), field: "cpu.burst" });
  // The runtime must fit in the period, so the period goes first.
  if (cpu.realtimePeriod) files.push({ file: "cpu.rt_period_us", value: String(cpu.realtimePeriod), field: "cpu.realtimePeriod" });
  if (cpu.realtimeRuntime) files.push({ file: "cpu.rt_runtime_us", value: String(cpu.realtimeRuntime), field: "cpu.realtimeRuntime" });
  if (cpu.idle !== undefined) files.push({ file: "cpu.idle", value: String(cpu.idle), field: "cpu.idle" });
  return files;
}
