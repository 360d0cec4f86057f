// What a pod asks of a node, computed as Kubernetes' resource helpers do
// (k8s.io/component-helpers/resource PodRequests): the app containers' requests add up;
// an init container runs alone before them, so the pod needs the larger of that sum and
// the largest init container; a sidecar (an init container with restartPolicy Always) keeps
// running, so it adds to the sum and to every init container started after it; the pod's
// overhead (its RuntimeClass's cost) comes on top.
import { quantityMilliValue, quantityValue } from "../../common/quantity.ts";
import type { Container, Pod, ResourceList } from "./_types.ts";

/** Requests or capacity: cpu in millicores, memory and storage in bytes, extended resources as counts. */
export interface Resources {
  milliCpu: number;
  memory: number;
  ephemeralStorage: number;
  /** Extended resources (example.com/gpu, hugepages-2Mi, ...), by name. */
  scalar: Record<string, number>;
}

/** The resources NodeResourcesFit weighs when scoring, with their weights (the default scoring strategy's). */
export const SCORED_RESOURCES = [
  { name: "cpu", weight: 1 },
  { name: "memory", weight: 1 },
] as const;

/** What a container without a cpu or memory request counts as when scoring (pkg/scheduler/util DefaultMilliCPURequest, DefaultMemoryRequest). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

const NOT_SCALAR = new Set(["cpu", "memory", "ephemeral-storage", "pods", "storage"]);

export const emptyResources = (): Resources => ({ milliCpu: 0, memory: 0, ephemeralStorage: 0, scalar: {} });

/** A resource list (requests, allocatable) as numbers. */
export function toResources(list: ResourceList | undefined): Resources {
  const r = emptyResources();
  for (const [name, q] of Object.entries(list ?? {})) {
    if (name === "cpu") r.milliCpu = quantityMilliValue(q);
    else if (name === "memory") r.memory = quantityValue(q);
    else if (name === "ephemeral-storage") r.ephemeralStorage = quantityValue(q);
    else if (!NOT_SCALAR.has(name)) r.scalar[name] = quantityValue(q);
  }
  return r;
}

export function addResources(into: Resources, r: Resources, sign = 1): void {
  into.milliCpu += sign * r.milliCpu;
  into.memory += sign * r.memory;
  into.ephemeralStorage += sign * r.ephemeralStorage;
  for (const [k, v] of Object.entries(r.scalar)) into.scalar[k] = (into.scalar[k] ?? 0) + sign * v;
}

function maxResources(a: Resources, b: Resources): Resources {
  const scalar = { ...a.scalar };
  for (const [k, v] of Object.entries(b.scalar)) scalar[k] = Math.max(scalar[k] ?? 0, v);
  return { milliCpu: Math.max(a.milliCpu, b.milliCpu), memory: Math.max(a.memory, b.memory), ephemeralStorage: Math.max(a.ephemeralStorage, b.ephemeralStorage), scalar };
}

/** A container's requests; a resource with a limit and no request asks for its limit (the API's defaulting). */
function containerRequests(c: Container, nonZero: boolean): Resources {
  const requests = c.resources?.requests ?? {};
  const r = toResources({ ...(c.resources?.limits ?? {}), ...requests });
  if (nonZero) {
    const has = (name: string) => Object.hasOwn(requests, name) || Object.hasOwn(c.resources?.limits ?? {}, name);
    if (!has("cpu")) r.milliCpu = DEFAULT_MILLI_CPU_REQUEST;
    if (!has("memory")) r.memory = DEFAULT_MEMORY_REQUEST;
  }
  return r;
}

/**
 * The pod's requests. nonZero counts a container without a cpu or memory request as the
 * scheduler's defaults (100m, 200Mi): how scoring sees it, so that pods asking for
 * nothing still spread.
 */
export function podRequests(pod: Pod, opts: { nonZero?: boolean } = {}): Resources {
  const nonZero = opts.nonZero ?? false;
  const reqs = emptyResources();
  for (const c of pod.spec?.containers ?? []) addResources(reqs, containerRequests(c, nonZero));
  const sidecars = emptyResources();
  let initMax = emptyResources();
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c, nonZero);
    if (c.restartPolicy === "Always") {
      addResources(reqs, r);
      addResources(sidecars, r);
      initMax = maxResources(initMax, sidecars);
    } else {
      const withSidecars = emptyResources();
      addResources(withSidecars, r);
      addResources(withSidecars, sidecars);
      initMax = maxResources(initMax, withSidecars);
    }
  }
  const total = maxResources(reqs, initMax);
  if (pod.spec?.overhead) addResources(total, toResources(pod.spec.overhead));
  return total;
}
