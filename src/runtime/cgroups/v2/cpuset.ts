// v2 cpuset controller: same values as v1; v2 falls back to the parent's set when empty.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "cpuset";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const cpu = resources?.cpu;
  const files: CgroupFile[] = [];
  if (cpu?.cpus) files.push({ file: "cpuset.cpus", value: cpu.cpus, field: "cpu.cpus" });
  if (cpu?.mems) files.push({ file: "cpuset.mems", value: cpu.mems, field: "cpu.mems" });
  return files;
}
