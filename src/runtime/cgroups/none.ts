// No cgroups: what a rootless runtime gets where it cannot write the host's cgroup tree
// (cgroup v1 is never delegated to an unprivileged user; v2 without a systemd delegation).
// runc and crun do the same in rootless mode: the container runs, unlimited, and anything
// that needs a cgroup (limits, the freezer) is refused with the reason, never ignored.
import { readdirSync, readlinkSync } from "node:fs";
import { GantryError } from "../../common/errors.ts";
import type { LinuxResources } from "../spec/oci.ts";
import type { CgroupManager, CgroupStats } from "./types.ts";

export const NO_CGROUPS_REASON =
  "a rootless runtime cannot write this host's cgroups (cgroup v1 cannot be delegated to an unprivileged user)";

/** The resource fields that ask for a limit (device rules are not limits: the runtime's own defaults are always there). */
export function requestedLimits(resources: LinuxResources | undefined): string[] {
  if (!resources) return [];
  const asked: string[] = [];
  const has = (v: unknown): boolean =>
    v !== undefined && v !== null && (typeof v !== "object" || (Array.isArray(v) ? v.length > 0 : Object.values(v as object).some(has)));
  for (const [key, value] of Object.entries(resources)) {
    if (key === "devices") continue;
    if (has(value)) asked.push(`linux.resources.${key}`);
  }
  return asked;
}

function refused(what: string): GantryError {
  return new GantryError("UNSUPPORTED_OPTION", `${what} needs cgroups, and ${NO_CGROUPS_REASON}`, {
    hint: "run the container without resource limits, or run gantry as root (or on a cgroup v2 host with delegation)",
  });
}

/** Processes in the pid namespace of `initPid` (the container's own, when it has one); else the init alone. */
function pidsSharingPidNamespace(initPid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  if (ns === readlinkSync("/proc/self/ns/pid")) return [initPid];
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

function zeroStats(pids: number): CgroupStats {
  const mem = { limit: 0, usage: 0, max: 0, failcnt: 0 };
  return {
    cpu: { usage: { total: 0, kernel: 0, user: 0 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
    memory: { cache: 0, usage: mem, swap: { ...mem }, raw: {} },
    pids: { current: pids, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
    oomKillCount: 0,
  };
}

/** A manager with no cgroup behind it; `initPid` finds the container's processes instead. */
export function noCgroups(initPid: () => number): CgroupManager {
  return {
    version: 1,
    paths: {},
    createdDirs: [],
    procsFiles: () => [],
    apply(resources) {
      const asked = requestedLimits(resources);
      if (asked.length) throw refused(asked.join(", "));
    },
    deviceFilter: () => undefined,
    freeze: () => Promise.reject(refused("pause (the freezer)")),
    thaw: () => Promise.reject(refused("unpause (the freezer)")),
    isFrozen: () => false,
    pids: () => pidsSharingPidNamespace(initPid()),
    stats: () => zeroStats(pidsSharingPidNamespace(initPid()).length),
    oomKillCount: () => 0,
    destroy: () => Promise.resolve(true),
  };
}
