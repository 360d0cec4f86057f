// Builders for the scheduler's pure tests: nodes and pods as the API would hold them, and a
// snapshot over them.
import type { Node, Pod, PodSpec, Taint } from "./_types.ts";
import type { Snapshot } from "./framework.ts";
import { NodeInfo, PodInfo } from "./node-info.ts";

export function node(name: string, o: { cpu?: string; memory?: string; pods?: number; labels?: Record<string, string>; taints?: Taint[]; unschedulable?: boolean; extra?: Record<string, string> } = {}): Node {
  const allocatable = { cpu: o.cpu ?? "4", memory: o.memory ?? "8Gi", pods: String(o.pods ?? 110), "ephemeral-storage": "100Gi", ...(o.extra ?? {}) };
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...(o.labels ?? {}) } },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: { allocatable, capacity: allocatable },
  };
}

export function pod(name: string, o: { cpu?: string; memory?: string; labels?: Record<string, string>; namespace?: string; priority?: number; nodeName?: string; start?: string } & Partial<PodSpec> = {}): Pod {
  const { cpu, memory, labels, namespace, start, ...spec } = o;
  const requests: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) requests.memory = memory;
  return {
    metadata: { name, namespace: namespace ?? "default", uid: `uid-${name}`, labels: labels ?? {}, creationTimestamp: start ?? "2025-01-01T00:00:00Z" },
    spec: { containers: [{ name: "c", resources: { requests } }], ...spec },
    status: { phase: "Running", startTime: start ?? "2025-01-01T00:00:00Z" },
  };
}

/** A snapshot of nodes with the bound pods (spec.nodeName) placed on theirs. */
export function snapshotOf(nodes: Node[], pods: Pod[] = [], extra: Partial<Snapshot> = {}): Snapshot & { infos: Map<string, NodeInfo> } {
  const infos = new Map(nodes.map((n) => [n.metadata.name!, new NodeInfo(n)]));
  for (const p of pods) infos.get(p.spec!.nodeName!)!.addPod(new PodInfo(p));
  const list = [...infos.values()];
  return { nodes: list, get: (n) => infos.get(n), infos, ...extra };
}
