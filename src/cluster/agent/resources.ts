// A pod's resources as the kubelet turns them into cgroups (pkg/kubelet/cm, qos): the QoS
// class, the pod's cgroup under kubepods (cgroupfs layout: Guaranteed pods directly under
// kubepods, the others under kubepods/burstable or kubepods/besteffort), and each
// container's cpu shares, CFS quota and memory limit, and the pod cgroup's own limits. Pure.
import { quantityMilliValue, quantityValue } from "../../common/quantity.ts";
import type { HostConfig } from "../../engine/index.ts";
import type { LinuxResources } from "../../runtime/index.ts";
import { podQosClass } from "../client/index.ts";
import type { Container, Pod, QosClass } from "./pod-types.ts";

const MIN_SHARES = 2;
const SHARES_PER_CPU = 1024;
/** The CFS period the kubelet uses (100 ms, in µs). */
export const QUOTA_PERIOD = 100_000;
const MIN_QUOTA = 1000;

/** v1.qos GetPodQOS (the cluster client's one definition). */
export function qosClassOf(pod: Pod): QosClass {
  return podQosClass(pod.spec);
}

/** The pod's cgroup (absolute, cgroupfs): ROOT/pod<uid>, ROOT/burstable/pod<uid> or ROOT/besteffort/pod<uid>. */
export function podCgroupParent(pod: Pod, root = "/kubepods"): string {
  const qos = qosClassOf(pod);
  const tier = qos === "Guaranteed" ? "" : `/${qos.toLowerCase()}`;
  return `${root}${tier}/pod${pod.metadata.uid}`;
}

/** cm.MilliCPUToShares: 1024 per cpu, at least 2 (what a BestEffort container gets). */
export function milliCpuToShares(milli: number): number {
  if (milli === 0) return MIN_SHARES;
  return Math.max(MIN_SHARES, Math.floor((milli * SHARES_PER_CPU) / 1000));
}

/** cm.MilliCPUToQuota: the limit's share of the period, at least 1 ms; 0 means no limit. */
export function milliCpuToQuota(milli: number, period = QUOTA_PERIOD): number {
  if (milli === 0) return 0;
  return Math.max(MIN_QUOTA, Math.floor((milli * period) / 1000));
}

/** The engine's resource fields for one container: shares from the cpu request, quota
 * from the cpu limit, the memory limit with no swap on top (Kubernetes' NoSwap). */
export function containerResources(c: Container): Partial<HostConfig> {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuRequest = req.cpu ?? lim.cpu;
  const out: Partial<HostConfig> = { CpuShares: milliCpuToShares(cpuRequest === undefined ? 0 : quantityMilliValue(cpuRequest)) };
  if (lim.cpu !== undefined) {
    const quota = milliCpuToQuota(quantityMilliValue(lim.cpu));
    if (quota > 0) Object.assign(out, { CpuQuota: quota, CpuPeriod: QUOTA_PERIOD });
  }
  if (lim.memory !== undefined) {
    const bytes = quantityValue(lim.memory);
    if (bytes > 0) Object.assign(out, { Memory: bytes, MemorySwap: bytes });
  }
  return out;
}

/** A container's request (a limit alone requests the limit) or limit of cpu (milli) or memory (bytes); 0 when unset. */
function amount(c: Container, kind: "requests" | "limits", name: "cpu" | "memory"): number {
  const v = kind === "requests" ? (c.resources?.requests?.[name] ?? c.resources?.limits?.[name]) : c.resources?.limits?.[name];
  if (v === undefined) return 0;
  return name === "cpu" ? quantityMilliValue(v) : quantityValue(v);
}

/** The pod's effective amount (resource.PodRequests/PodLimits): the app containers' sum, or the largest init container's if more. */
function podAmount(pod: Pod, kind: "requests" | "limits", name: "cpu" | "memory"): number {
  const apps = pod.spec.containers.reduce((sum, c) => sum + amount(c, kind, name), 0);
  return Math.max(apps, ...(pod.spec.initContainers ?? []).map((c) => amount(c, kind, name)));
}

/**
 * The pod cgroup's limits, as the kubelet's ResourceConfigForPod sets them: cpu shares from
 * the summed cpu requests; a CFS quota from the summed cpu limits and a memory limit from the
 * summed memory limits, each only when every app container declares that limit (one without
 * it may use all the node has). A BestEffort pod gets the minimum shares and nothing else.
 */
export function podCgroupResources(pod: Pod): LinuxResources {
  if (qosClassOf(pod) === "BestEffort") return { cpu: { shares: MIN_SHARES } };
  const declared = (name: "cpu" | "memory") => pod.spec.containers.every((c) => amount(c, "limits", name) > 0);
  const out: LinuxResources = { cpu: { shares: milliCpuToShares(podAmount(pod, "requests", "cpu")) } };
  if (declared("cpu")) out.cpu = { ...out.cpu, quota: milliCpuToQuota(podAmount(pod, "limits", "cpu")), period: QUOTA_PERIOD };
  if (declared("memory")) out.memory = { limit: podAmount(pod, "limits", "memory") };
  return out;
}

/** A container's resource value for resourceFieldRef (downward API): limits.cpu in units of
 * the divisor (rounded up, as the kubelet does), requests.memory in bytes, and so on. A
 * limit that is not set is the node's allocatable. */
export function resourceFieldValue(c: Container, resource: string, divisor: string | undefined, allocatable: { cpu: string; memory: string; "ephemeral-storage": string }): string {
  const [kind, name] = resource.split(".") as ["limits" | "requests", string];
  const list = kind === "limits" ? c.resources?.limits : c.resources?.requests;
  let value = list?.[name] ?? (kind === "limits" ? allocatable[name as keyof typeof allocatable] : undefined) ?? "0";
  if (kind === "requests" && list?.[name] === undefined) value = c.resources?.limits?.[name] ?? "0";
  if (name === "cpu") {
    const div = quantityMilliValue(divisor ?? "1");
    return String(Math.ceil(quantityMilliValue(value) / (div || 1)));
  }
  const div = quantityValue(divisor ?? "1");
  return String(Math.ceil(quantityValue(value) / (div || 1)));
}
