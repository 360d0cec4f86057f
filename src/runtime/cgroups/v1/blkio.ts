// v1 blkio controller: proportional weights and per-device throttles.
import type { LinuxResources } from "../../spec/oci.ts";
import type { CgroupFile } from "../types.ts";

export const controller = "blkio";

export interface BlkioHost {
  /**
   * Weights live in blkio.weight under CFQ (gone since Linux 5.0) and in blkio.bfq.weight
   * under BFQ; both take 1..1000 (CFQ 10..1000), so the value is written unchanged.
   */
  weightPrefix: "blkio." | "blkio.bfq.";
}

export function toFiles(resources: LinuxResources | undefined, host: BlkioHost): CgroupFile[] {
  const b = resources?.blockIO;
  if (!b) return [];
  const files: CgroupFile[] = [];
  const w = host.weightPrefix;
  if (b.weight) files.push({ file: `${w}weight`, value: String(b.weight), field: "blockIO.weight" });
  // Leaf weights were a CFQ-only feature; BFQ has no file for them.
  if (b.leafWeight) files.push({ file: "blkio.leaf_weight", value: String(b.leafWeight), field: "blockIO.leafWeight" });
  for (const d of b.weightDevice ?? []) {
    if (d.weight) files.push({ file: `${w}weight_device`, value: `${d.major}:${d.minor} ${d.weight}`, field: "blockIO.weightDevice" });
    if (d.leafWeight) files.push({ file: "blkio.leaf_weight_device", value: `${d.major}:${d.minor} ${d.leafWeight}`, field: "blockIO.weightDevice.leafWeight" });
  }
  // One write per device: the kernel parses a single "MAJ:MIN rate" per write; rate 0 removes the limit.
  const throttles = [
    ["throttleReadBpsDevice", "blkio.throttle.read_bps_device"],
    ["throttleWriteBpsDevice", "blkio.throttle.write_bps_device"],
    ["throttleReadIOPSDevice", "blkio.throttle.read_iops_device"],
    ["throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"],
  ] as const;
  for (const [key, file] of throttles) {
    for (const d of b[key] ?? []) files.push({ file, value: `${d.major}:${d.minor} ${d.rate}`, field: `blockIO.${key}` });
  }
  return files;
}
