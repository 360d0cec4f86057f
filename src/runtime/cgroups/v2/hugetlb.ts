// v2 hugetlb controller: hugetlb.<size>.max.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { checkPageSize } from "../hugepage-size.ts";

export const controller = "hugetlb";

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  return (resources?.hugepageLimits ?? []).map((h) => ({
    file: `hugetlb.${checkPageSize(h.pageSize)}.max`,
    value: String(h.limit),
    field: `hugepageLimits[${h.pageSize}]`,
  }));
}
