// v1 hugetlb controller: a limit per huge page size.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { checkPageSize } from "../hugepage-size.ts";

export const controller = "hugetlb";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  return (resources?.hugepageLimits ?? []).map((h) => ({
    file: `hugetlb.${checkPageSize(h.pageSize)}.limit_in_bytes`,
    value: String(h.limit),
    field: `hugepageLimits[${h.pageSize}]`,
  }));
}
