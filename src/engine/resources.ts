// Docker's HostConfig resource flags → OCI linux.resources, with Docker's checks and error
// messages (moby daemon/daemon_unix.go verifyPlatformContainerResources) for values the
// host cannot honour. Pure: the host's facts come in as HostFacts, so it is unit-tested.
import { GantryError, invalidArgument } from "../common/errors.ts";
import type { LinuxResources } from "../runtime/index.ts";
import type { HostConfig } from "./api-types.ts";

export interface HostFacts {
  ncpu: number;
  /** Cpuset list the engine may use, e.g. "0-1" (the root cpuset / online CPUs). */
  cpus: string;
  mems: string;
  cgroupVersion: 1 | 2;
  /** memory.swappiness exists (cgroup v1 only). */
  swappiness: boolean;
  swapLimit: boolean;
  /** The kernel takes a blkio weight (v1 blkio.weight or BFQ's, v2 io.weight); absent: yes. */
  blkioWeight?: boolean;
  /** The capabilities in the daemon's bounding set: what "ALL" and --privileged can give. */
  boundingCaps?: string[];
  /** Why this daemon can set no cgroup limit at all (a rootless daemon on cgroup v1); absent: it can. */
  noCgroups?: string;
}

/** HostConfig's resource fields, each with the docker flag that sets it (for refusals that name the flag). */
const RESOURCE_FLAGS: [keyof HostConfig, string][] = [
  ["Memory", "--memory"],
  ["MemorySwap", "--memory-swap"],
  ["MemoryReservation", "--memory-reservation"],
  ["MemorySwappiness", "--memory-swappiness"],
  ["KernelMemory", "--kernel-memory"],
  ["OomKillDisable", "--oom-kill-disable"],
  ["CpuShares", "--cpu-shares"],
  ["NanoCpus", "--cpus"],
  ["CpuPeriod", "--cpu-period"],
  ["CpuQuota", "--cpu-quota"],
  ["CpuRealtimePeriod", "--cpu-rt-period"],
  ["CpuRealtimeRuntime", "--cpu-rt-runtime"],
  ["CpusetCpus", "--cpuset-cpus"],
  ["CpusetMems", "--cpuset-mems"],
  ["PidsLimit", "--pids-limit"],
  ["BlkioWeight", "--blkio-weight"],
  ["BlkioWeightDevice", "--blkio-weight-device"],
  ["BlkioDeviceReadBps", "--device-read-bps"],
  ["BlkioDeviceWriteBps", "--device-write-bps"],
  ["BlkioDeviceReadIOps", "--device-read-iops"],
  ["BlkioDeviceWriteIOps", "--device-write-iops"],
  ["DeviceCgroupRules", "--device-cgroup-rule"],
];

/** A daemon without cgroups (rootless on v1) refuses every resource flag, naming them and why; never drops one silently. */
export function refuseLimitsWithoutCgroups(hc: HostConfig, host: HostFacts): void {
  if (!host.noCgroups) return;
  const flags = requestedResourceFlags(hc);
  if (flags.length) {
    throw new GantryError("UNSUPPORTED_OPTION", `${flags.join(", ")}: resource limits need cgroups, and ${host.noCgroups}`, {
      hint: "run the container without resource flags, or use a root daemon for limits",
    });
  }
}

/** The docker flags of the limits `hc` asks for (unset, zero, empty and "unlimited" values ask for none). */
export function requestedResourceFlags(hc: HostConfig): string[] {
  const asks = (key: keyof HostConfig, v: unknown): boolean => {
    if (v === undefined || v === null || v === false || v === "" || v === 0) return false;
    if (Array.isArray(v)) return v.length > 0;
    if (key === "MemorySwappiness" || key === "PidsLimit" || key === "MemorySwap") return typeof v === "number" && v > 0;
    return true;
  };
  return RESOURCE_FLAGS.filter(([key]) => asks(key, hc[key])).map(([, flag]) => flag);
}

const MIN_MEMORY = 6 * 1024 * 1024;

/** Parses a cpuset list "0-2,5" into a set of numbers; undefined when malformed. */
export function parseCpuset(list: string): Set<number> | undefined {
  const out = new Set<number>();
  if (list.trim() === "") return out;
  for (const part of list.split(",")) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 4096) return undefined;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return out;
}

function checkCpuset(requested: string, available: string, what: "cpus" | "mems"): void {
  const want = parseCpuset(requested);
  if (!want) throw invalidArgument(`Invalid value ${requested} for cpuset ${what}`);
  const have = parseCpuset(available) ?? new Set<number>();
  for (const n of want) {
    if (!have.has(n)) {
      throw invalidArgument(
        what === "cpus"
          ? `Requested CPUs are not available - requested ${requested}, available: ${available}`
          : `Requested memory nodes are not available - requested ${requested}, available: ${available}`,
      );
    }
  }
}

/** Docker's defaulting (adaptContainerSettings): with a memory limit and no swap limit, the
 * swap limit is twice the memory limit. Mutates and returns the HostConfig. */
export function adaptHostConfig(hc: HostConfig, host: HostFacts): HostConfig {
  if ((hc.Memory ?? 0) > 0 && (hc.MemorySwap ?? 0) === 0 && host.swapLimit) hc.MemorySwap = (hc.Memory ?? 0) * 2;
  if (hc.MemorySwappiness === undefined || hc.MemorySwappiness === null) hc.MemorySwappiness = -1;
  return hc;
}

/** Checks the resource flags the way dockerd does; returns the warnings Docker would give.
 * `update`: the values of a `docker update`, where swap may come without memory. */
export function verifyResources(hc: HostConfig, host: HostFacts, opts: { update?: boolean } = {}): string[] {
  const warnings: string[] = [];
  refuseLimitsWithoutCgroups(hc, host);
  const num = (v: unknown, name: string): number => {
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isFinite(v)) throw invalidArgument(`HostConfig.${name} must be a number`);
    return v;
  };
  const memory = num(hc.Memory, "Memory");
  const swap = num(hc.MemorySwap, "MemorySwap");
  const reservation = num(hc.MemoryReservation, "MemoryReservation");
  const swappiness = hc.MemorySwappiness ?? -1;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalidArgument("Minimum memory limit allowed is 6MB");
  if (memory > 0 && swap > 0 && swap < memory) throw invalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (memory === 0 && swap > 0 && !opts.update) throw invalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (typeof swappiness !== "number" || swappiness < -1 || swappiness > 100) {
    throw invalidArgument(`Invalid value: ${String(swappiness)}, valid memory swappiness range is 0-100`);
  }
  if (swappiness !== -1 && !host.swappiness) {
    warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.");
    hc.MemorySwappiness = -1;
  }
  if (reservation !== 0 && reservation < MIN_MEMORY) throw invalidArgument("Minimum memory reservation allowed is 6MB");
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw invalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  const nano = num(hc.NanoCpus, "NanoCpus");
  const period = num(hc.CpuPeriod, "CpuPeriod");
  const quota = num(hc.CpuQuota, "CpuQuota");
  if (nano > 0 && period > 0) throw invalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && quota > 0) throw invalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (nano < 0 || nano > host.ncpu * 1e9) {
    throw invalidArgument(`range of CPUs is from 0.01 to ${host.ncpu}.00, as there are only ${host.ncpu} CPUs available`);
  }
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw invalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  }
  if (quota > 0 && quota < 1000) throw invalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  const shares = num(hc.CpuShares, "CpuShares");
  if (shares < 0) throw invalidArgument(`invalid CPU shares ${shares}: must not be negative`);
  if (hc.CpusetCpus) checkCpuset(hc.CpusetCpus, host.cpus, "cpus");
  if (hc.CpusetMems) checkCpuset(hc.CpusetMems, host.mems, "mems");
  const blkio = num(hc.BlkioWeight, "BlkioWeight");
  if (blkio > 0 && host.blkioWeight === false) {
    // dockerd drops it with a warning rather than fail (the kernel has no weight file).
    warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
    hc.BlkioWeight = 0;
  } else if (blkio > 0 && (blkio < 10 || blkio > 1000)) throw invalidArgument("Range of blkio weight is from 10 to 1000");
  const oom = num(hc.OomScoreAdj, "OomScoreAdj");
  if (oom < -1000 || oom > 1000) throw invalidArgument(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  return warnings;
}

/** HostConfig → linux.resources, as moby's oci_linux.go / daemon_unix.go getResources map it. */
export function toLinuxResources(hc: HostConfig): LinuxResources {
  const r: LinuxResources = {};
  const memory: NonNullable<LinuxResources["memory"]> = {};
  if ((hc.Memory ?? 0) > 0) memory.limit = hc.Memory;
  // OCI swap, like Docker's MemorySwap and v1's memsw, is memory + swap; -1 is unlimited.
  if ((hc.MemorySwap ?? 0) !== 0) memory.swap = hc.MemorySwap;
  if ((hc.MemoryReservation ?? 0) > 0) memory.reservation = hc.MemoryReservation;
  if (typeof hc.MemorySwappiness === "number" && hc.MemorySwappiness >= 0) memory.swappiness = hc.MemorySwappiness;
  if (hc.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) r.memory = memory;

  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if ((hc.CpuShares ?? 0) > 0) cpu.shares = hc.CpuShares;
  if ((hc.NanoCpus ?? 0) > 0) {
    // --cpus N: Docker fixes the CFS period at 100ms and gives N periods' worth of quota.
    cpu.period = 100_000;
    cpu.quota = Math.round(((hc.NanoCpus ?? 0) * 100_000) / 1e9);
  }
  if ((hc.CpuPeriod ?? 0) > 0) cpu.period = hc.CpuPeriod;
  if ((hc.CpuQuota ?? 0) !== 0) cpu.quota = hc.CpuQuota;
  if ((hc.CpuRealtimePeriod ?? 0) > 0) cpu.realtimePeriod = hc.CpuRealtimePeriod;
  if ((hc.CpuRealtimeRuntime ?? 0) > 0) cpu.realtimeRuntime = hc.CpuRealtimeRuntime;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;

  // PidsLimit: >0 is a limit; 0 and -1 mean unlimited (Docker sends -1 for --pids-limit -1).
  if (typeof hc.PidsLimit === "number" && hc.PidsLimit > 0) r.pids = { limit: hc.PidsLimit };
  if ((hc.BlkioWeight ?? 0) > 0) r.blockIO = { weight: hc.BlkioWeight };
  return r;
}
