// v2 pids controller: same file and values as v1.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "pids";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const pids = resources?.pids;
  if (!pids) return [];
  // OCI: 0 or -1 means no limit, which the kernel spells "max".
  return [{ file: "pids.max", value: pids.limit > 0 ? String(pids.limit) : "max", field: "pids.limit" }];
}
