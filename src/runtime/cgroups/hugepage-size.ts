// Huge page sizes as the kernel names them in hugetlb file names ("2MB", "1GB", "64KB").
import { GantryError } from "../../common/errors.ts";

/** Checks an OCI pageSize and returns it; it becomes part of a file name, so it must be exact. */
export function checkPageSize(pageSize: string): string {
  if (!/^[1-9][0-9]*[KMG]B$/.test(pageSize)) {
    throw new GantryError("INVALID_SPEC", `hugepageLimits pageSize ${JSON.stringify(pageSize)} is not a size like "2MB" or "1GB"`, {
      path: "linux.resources.hugepageLimits",
    });
  }
  return pageSize;
}
