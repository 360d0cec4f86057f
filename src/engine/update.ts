// `docker update` (POST /containers/{id}/update): the request checked and merged into a
// container's HostConfig the way dockerd does it (moby daemon/update.go and
// container.UpdateContainer): only fields the request sets (non-zero; PidsLimit when present)
// change, the request's own values are checked like create's (resources.ts, 400), and what
// conflicts with the container's settings is refused (409, dockerd's words). Pure, so
// unit-tested; the engine writes the result into the cgroups and the record.
import { conflict, invalidArgument } from "../common/errors.ts";
import type { LinuxResources } from "../runtime/index.ts";
import type { HostConfig, RestartPolicy } from "./api-types.ts";
import { toLinuxResources, verifyResources, type HostFacts } from "./resources.ts";
import { checkRestartPolicy } from "./restart-policy.ts";

/** The resource fields `docker update` can change (moby container.UpdateContainer). */
const NUMERIC_FIELDS = [
  "BlkioWeight",
  "CpuShares",
  "NanoCpus",
  "CpuPeriod",
  "CpuQuota",
  "Memory",
  "MemorySwap",
  "MemoryReservation",
  "KernelMemory",
  "CpuRealtimePeriod",
  "CpuRealtimeRuntime",
] as const;

/** The body of POST /containers/{id}/update: Docker's Resources plus RestartPolicy. */
export type UpdateBody = Pick<HostConfig, (typeof NUMERIC_FIELDS)[number] | "CpusetCpus" | "CpusetMems" | "PidsLimit" | "MemorySwappiness"> & {
  RestartPolicy?: RestartPolicy;
  [key: string]: unknown;
};

export interface PlannedUpdate {
  hostConfig: HostConfig;
  warnings: string[];
  /** The cgroup limits to write now when the container runs; undefined when no limit changed. */
  resources: LinuxResources | undefined;
}

/**
 * The new HostConfig for `body` over `current`. Throws INVALID_ARGUMENT for a bad value
 * (dockerd's 400s) and CONFLICT for one that clashes with what the container has (409).
 */
export function planUpdate(current: HostConfig, body: UpdateBody, host: HostFacts): PlannedUpdate {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidArgument("the request body must be a JSON object");
  // The request's own values, checked as create checks them (minus create-only rules).
  const asked: HostConfig = {};
  for (const f of NUMERIC_FIELDS) if (body[f] !== undefined && body[f] !== null) asked[f] = body[f];
  if (body.CpusetCpus) asked.CpusetCpus = body.CpusetCpus;
  if (body.CpusetMems) asked.CpusetMems = body.CpusetMems;
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) asked.PidsLimit = body.PidsLimit;
  const warnings = verifyResources(asked, host, { update: true });
  if ((asked.KernelMemory ?? 0) !== 0) warnings.push("Specifying a kernel memory limit is deprecated and will be removed in a future release.");
  const policy = body.RestartPolicy?.Name ? body.RestartPolicy : undefined;
  if (policy) checkRestartPolicy(policy);

  const was = current;
  const next: HostConfig = { ...current };
  const set = (n: number | undefined) => (n ?? 0) !== 0;
  // --cpus sets the CFS period and quota itself, so once one way is used the other is refused.
  if (set(asked.NanoCpus) && set(was.CpuPeriod)) throw conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  if (set(asked.NanoCpus) && set(was.CpuQuota)) throw conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
  if (set(asked.CpuPeriod) && set(was.NanoCpus)) throw conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if (set(asked.CpuQuota) && set(was.NanoCpus)) throw conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  // dockerd compares with the swap limit as stored: a container made without --memory has 0
  // there (and -1 for unlimited), so a memory limit alone is refused until swap comes with it.
  if (set(asked.Memory) && (asked.Memory ?? 0) > (was.MemorySwap ?? 0) && !set(asked.MemorySwap)) {
    throw conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
  }
  for (const f of NUMERIC_FIELDS) if (set(asked[f])) next[f] = asked[f];
  if (asked.CpusetCpus) next.CpusetCpus = asked.CpusetCpus;
  if (asked.CpusetMems) next.CpusetMems = asked.CpusetMems;
  // -1 (and 0) is "unlimited"; stored as 0, which inspect shows as dockerd does.
  if (asked.PidsLimit !== undefined) next.PidsLimit = (asked.PidsLimit ?? 0) > 0 ? asked.PidsLimit : 0;
  if (policy) {
    if (policy.Name !== "no" && was.AutoRemove) throw conflict("Restart policy cannot be updated because AutoRemove is enabled for the container");
    next.RestartPolicy = { Name: policy.Name, MaximumRetryCount: policy.MaximumRetryCount ?? 0 };
  }

  const limitsChanged =
    NUMERIC_FIELDS.some((f) => f !== "KernelMemory" && set(asked[f])) || !!asked.CpusetCpus || !!asked.CpusetMems || asked.PidsLimit !== undefined;
  let resources: LinuxResources | undefined;
  if (limitsChanged) {
    resources = toLinuxResources(next);
    // An unlimited pids count has no OCI field of its own in create's mapping: say it, or the
    // old pids.max would stay.
    if (asked.PidsLimit !== undefined && !resources.pids) resources.pids = { limit: -1 };
  }
  return { hostConfig: next, warnings, resources };
}
