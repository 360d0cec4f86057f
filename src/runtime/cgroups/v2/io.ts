// v2 io controller: io.weight and io.max (v1's blkio weights and throttles).
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";
import { unsupportedOnV2 } from "./unsupported.ts";

export const controller = "io";

/**
 * blkio weight (10..1000, default 500) to io.weight (1..10000, default 100), linearly as
 * runc does: 10 -> 1, 1000 -> 10000.  weight = 1 + (blkio - 10) * 9999 / 990
 */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

export function toFiles(resources: LinuxResources | undefined): CgroupFile[] {
  const b = resources?.blockIO;
  if (!b) return [];
  if (b.leafWeight || b.weightDevice?.some((d) => d.leafWeight)) throw unsupportedOnV2("blockIO.leafWeight", "v2 has no leaf weights");
  const files: CgroupFile[] = [];
  if (b.weight) files.push({ file: "io.weight", value: `default ${blkioToIoWeight(b.weight)}`, field: "blockIO.weight" });
  for (const d of b.weightDevice ?? []) {
    if (d.weight) files.push({ file: "io.weight", value: `${d.major}:${d.minor} ${blkioToIoWeight(d.weight)}`, field: "blockIO.weightDevice" });
  }
  // One io.max line per device carries all four throttles; 0 in OCI means "no limit" = "max".
  const keys = [
    ["throttleReadBpsDevice", "rbps"],
    ["throttleWriteBpsDevice", "wbps"],
    ["throttleReadIOPSDevice", "riops"],
    ["throttleWriteIOPSDevice", "wiops"],
  ] as const;
  const lines = new Map<string, string[]>();
  for (const [field, key] of keys) {
    for (const d of b[field] ?? []) {
      const dev = `${d.major}:${d.minor}`;
      const parts = lines.get(dev) ?? [];
      parts.push(`${key}=${d.rate === 0 ? "max" : d.rate}`);
      lines.set(dev, parts);
    }
  }
  for (const [dev, parts] of lines) files.push({ file: "io.max", value: `${dev} ${parts.join(" ")}`, field: "blockIO.throttle" });
  return files;
}
