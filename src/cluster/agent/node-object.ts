// The Node object the agent registers and keeps current, built from the host's facts as the
// kubelet builds it (pkg/kubelet/nodestatus): labels, addresses, capacity and allocatable
// (capacity − --reserve − the hard eviction thresholds), nodeInfo and the four conditions.
// Pure, so the shapes are unit-tested.
import { invalidArgument } from "../../common/errors.ts";
import { parseQuantity, quantityMilliValue, quantityValue } from "../../common/quantity.ts";
import type { KubeObject } from "../client/index.ts";
import type { NodeFacts } from "./node-facts.ts";

export const MAX_PODS = 110;
/** The kubelet's default hard eviction thresholds: memory.available<100Mi, nodefs.available<10%. */
export const EVICTION_MEMORY_BYTES = 100 * 1024 * 1024;
export const EVICTION_STORAGE_FRACTION = 0.1;
export const EVICTION_PIDS_FRACTION = 0.1;

export interface Reserve {
  milliCpu: number;
  memoryBytes: number;
  storageBytes: number;
}

/** `--reserve cpu=500m,memory=1Gi,ephemeral-storage=10Gi` (kubelet's --system-reserved form). */
export function parseReserve(text: string | undefined): Reserve {
  const r: Reserve = { milliCpu: 0, memoryBytes: 0, storageBytes: 0 };
  for (const item of (text ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf("=");
    const [name, value] = eq < 0 ? [item, ""] : [item.slice(0, eq), item.slice(eq + 1)];
    if (!["cpu", "memory", "ephemeral-storage"].includes(name)) throw invalidArgument(`--reserve: unknown resource ${JSON.stringify(name)} (use cpu, memory or ephemeral-storage)`);
    if (!parseQuantity(value)) throw invalidArgument(`--reserve: ${JSON.stringify(item)} is not NAME=QUANTITY (e.g. cpu=500m,memory=1Gi)`);
    const amount = name === "cpu" ? quantityMilliValue(value) : quantityValue(value);
    if (name === "cpu") r.milliCpu = amount;
    else if (name === "memory") r.memoryBytes = amount;
    else r.storageBytes = amount;
  }
  return r;
}

const cpuQuantity = (milli: number) => (milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`);
const kiQuantity = (bytes: number) => `${Math.floor(bytes / 1024)}Ki`;

export interface NodeIdentity {
  name: string;
  /** "gantry://0.1.0" */
  runtimeVersion: string;
  kubeletVersion: string;
  /** The agent's streaming endpoint port (logs), 0 when it serves none. */
  daemonPort: number;
  /** Labels besides the well-known ones (the kubelet's --node-labels). */
  labels?: Record<string, string>;
  /** The pod range the node asks for at registration (the one its pod bridge already uses); else the server picks. */
  podCIDR?: string;
}

export function nodeCapacity(f: NodeFacts): Record<string, string> {
  return {
    cpu: cpuQuantity(f.milliCpu),
    memory: kiQuantity(f.memoryBytes),
    "ephemeral-storage": kiQuantity(f.storageBytes),
    pods: String(MAX_PODS),
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
  };
}

export function nodeAllocatable(f: NodeFacts, reserve: Reserve): Record<string, string> {
  const storage = Math.max(0, f.storageBytes - reserve.storageBytes - Math.floor(f.storageBytes * EVICTION_STORAGE_FRACTION));
  return {
    cpu: cpuQuantity(Math.max(0, f.milliCpu - reserve.milliCpu)),
    memory: kiQuantity(Math.max(0, f.memoryBytes - reserve.memoryBytes - EVICTION_MEMORY_BYTES)),
    "ephemeral-storage": String(storage),
    pods: String(MAX_PODS),
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
  };
}

export interface NodeCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/** The conditions as the kubelet sets them (reasons and messages are kubelet's), without times. */
export function nodeConditions(f: NodeFacts): NodeCondition[] {
  const memoryPressure = f.memoryAvailableBytes < EVICTION_MEMORY_BYTES;
  const diskPressure = f.storageBytes > 0 && f.storageAvailableBytes < f.storageBytes * EVICTION_STORAGE_FRACTION;
  const pidPressure = f.pidMax > 0 && f.pidMax - f.pidsInUse < f.pidMax * EVICTION_PIDS_FRACTION;
  return [
    memoryPressure
      ? { type: "MemoryPressure", status: "True", reason: "KubeletHasInsufficientMemory", message: "kubelet has insufficient memory available" }
      : { type: "MemoryPressure", status: "False", reason: "KubeletHasSufficientMemory", message: "kubelet has sufficient memory available" },
    diskPressure
      ? { type: "DiskPressure", status: "True", reason: "KubeletHasDiskPressure", message: "kubelet has disk pressure" }
      : { type: "DiskPressure", status: "False", reason: "KubeletHasNoDiskPressure", message: "kubelet has no disk pressure" },
    pidPressure
      ? { type: "PIDPressure", status: "True", reason: "KubeletHasInsufficientPID", message: "kubelet has insufficient PID available" }
      : { type: "PIDPressure", status: "False", reason: "KubeletHasSufficientPID", message: "kubelet has sufficient PID available" },
    { type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" },
  ];
}

/**
 * Stamps times on conditions: the heartbeat is now; the transition time is kept from the
 * previous condition of that type while its status is unchanged.
 */
export function stampConditions(next: NodeCondition[], prev: NodeCondition[] | undefined, now: string): NodeCondition[] {
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return { ...c, lastHeartbeatTime: now, lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now };
  });
}

export function nodeLabels(f: NodeFacts, id: NodeIdentity): Record<string, string> {
  return {
    "kubernetes.io/hostname": id.name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": f.architecture,
    "beta.kubernetes.io/os": "linux",
    "beta.kubernetes.io/arch": f.architecture,
    ...(id.labels ?? {}),
  };
}

/** The status the agent posts (conditions without times: see stampConditions). */
export function nodeStatus(f: NodeFacts, id: NodeIdentity, reserve: Reserve): Record<string, unknown> {
  return {
    capacity: nodeCapacity(f),
    allocatable: nodeAllocatable(f, reserve),
    conditions: nodeConditions(f),
    addresses: [
      { type: "InternalIP", address: f.internalIP },
      { type: "Hostname", address: id.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: id.daemonPort } },
    nodeInfo: {
      machineID: f.machineID,
      systemUUID: f.systemUUID,
      bootID: f.bootID,
      kernelVersion: f.kernelVersion,
      osImage: f.osImage,
      containerRuntimeVersion: id.runtimeVersion,
      kubeletVersion: id.kubeletVersion,
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: f.architecture,
    },
  };
}

/** The Node to create at registration. */
export function newNode(f: NodeFacts, id: NodeIdentity, reserve: Reserve, now: string): KubeObject {
  const status = nodeStatus(f, id, reserve);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: id.name, labels: nodeLabels(f, id), annotations: { "node.alpha.kubernetes.io/ttl": "0" } },
    spec: id.podCIDR ? { podCIDR: id.podCIDR, podCIDRs: [id.podCIDR] } : {},
    status: { ...status, conditions: stampConditions(status.conditions as NodeCondition[], undefined, now) },
  };
}
