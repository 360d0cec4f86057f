// What the host offers, read once at daemon start: CPUs, memory nodes, cgroup version and the
// memory controller's files (for Docker's swappiness and swap-limit warnings).
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { detectCgroupVersion } from "../runtime/index.ts";
import { ALL_CAPS } from "./oci-spec.ts";
import type { HostFacts } from "./resources.ts";

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

export function readHostFacts(): HostFacts {
  let version: 1 | 2 = 1;
  try {
    version = detectCgroupVersion() === 2 ? 2 : 1;
  } catch {
    version = existsSync("/sys/fs/cgroup/cgroup.controllers") ? 2 : 1;
  }
  const cpus =
    (version === 1 ? readTrim("/sys/fs/cgroup/cpuset/cpuset.cpus") : readTrim("/sys/fs/cgroup/cpuset.cpus.effective")) ??
    readTrim("/sys/devices/system/cpu/online") ??
    `0-${availableParallelism() - 1}`;
  const mems = (version === 1 ? readTrim("/sys/fs/cgroup/cpuset/cpuset.mems") : readTrim("/sys/fs/cgroup/cpuset.mems.effective")) ?? "0";
  return {
    ncpu: availableParallelism(),
    cpus,
    mems,
    cgroupVersion: version,
    swappiness: version === 1 && existsSync("/sys/fs/cgroup/memory/memory.swappiness"),
    swapLimit: version === 1 ? existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") : true,
    blkioWeight: blkioWeightSupported(version),
    boundingCaps: boundingCapabilities(),
  };
}

/** Whether a blkio weight can be set: CFQ's or BFQ's weight file on v1, the io controller on v2. */
function blkioWeightSupported(version: 1 | 2): boolean {
  if (version === 2) return (readTrim("/sys/fs/cgroup/cgroup.controllers") ?? "").split(" ").includes("io");
  return existsSync("/sys/fs/cgroup/blkio/blkio.weight") || existsSync("/sys/fs/cgroup/blkio/blkio.bfq.weight");
}

/** The daemon's CapBnd: a daemon in a container may lack some capabilities (often
 * SYS_RESOURCE or SYS_MODULE), and asking the kernel for them makes capset fail. ALL_CAPS is
 * in capability-number order. */
export function boundingCapabilities(): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readTrim("/proc/self/status") ?? "");
  if (!m) return [...ALL_CAPS];
  const mask = BigInt(`0x${m[1]}`);
  return ALL_CAPS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}
