// Table responses for `kubectl get` (meta.k8s.io/v1 Table). Columns follow Kubernetes'
// printers (pkg/printers/internalversion/printers.go); priority 1 columns show with -o wide.
// The server computes the Age cell.
import { getPath, humanAge, isPlainObject, type KubeObject } from "./objects.ts";
import type { ResourceType } from "./resources.ts";

interface Column {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: KubeObject) => unknown;
}

type R = Record<string, unknown>;
const spec = (o: KubeObject) => (isPlainObject(o.spec) ? o.spec : {}) as R;
const status = (o: KubeObject) => (isPlainObject(o.status) ? o.status : {}) as R;
const num = (v: unknown) => (typeof v === "number" ? v : 0);
const arr = (v: unknown) => (Array.isArray(v) ? (v as R[]) : []);
const none = (v: unknown) => (v === undefined || v === null || v === "" ? "<none>" : String(v));

const name: Column = { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", cell: (o) => o.metadata.name };
const age: Column = { name: "Age", type: "string", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", cell: (o) => humanAge(o.metadata.creationTimestamp) };

function containers(o: KubeObject, path: string[]): R[] {
  return arr(getPath(o, path));
}

function selectorText(sel: unknown): string {
  if (!isPlainObject(sel)) return "<none>";
  const parts = Object.entries((sel.matchLabels ?? {}) as R).map(([k, v]) => `${k}=${v}`);
  for (const e of arr(sel.matchExpressions)) {
    const values = arr(e.values).join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${values})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${values})`);
    else if (e.operator === "Exists") parts.push(String(e.key));
    else parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(",") : "<none>";
}

const workloadWide = (path: string[]): Column[] => [
  { name: "Containers", type: "string", priority: 1, cell: (o) => containers(o, path).map((c) => c.name).join(",") },
  { name: "Images", type: "string", priority: 1, cell: (o) => containers(o, path).map((c) => c.image).join(",") },
  { name: "Selector", type: "string", priority: 1, cell: (o) => selectorText(spec(o).selector) },
];

function podStatusReason(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return "Terminating";
  const st = status(o);
  for (const cs of arr(st.containerStatuses)) {
    const state = (cs.state ?? {}) as R;
    const waiting = state.waiting as R | undefined;
    if (waiting?.reason) return String(waiting.reason);
    const term = state.terminated as R | undefined;
    if (term?.reason) return String(term.reason);
  }
  return String(st.reason ?? st.phase ?? "Pending");
}

const columnsByKind: Record<string, Column[]> = {
  Namespace: [name, { name: "Status", type: "string", cell: (o) => status(o).phase ?? "Active" }, age],
  Pod: [
    name,
    { name: "Ready", type: "string", cell: (o) => `${arr(status(o).containerStatuses).filter((c) => c.ready).length}/${arr(spec(o).containers).length}` },
    { name: "Status", type: "string", cell: podStatusReason },
    { name: "Restarts", type: "string", cell: (o) => String(arr(status(o).containerStatuses).reduce((n, c) => n + num(c.restartCount), 0)) },
    age,
    { name: "IP", type: "string", priority: 1, cell: (o) => none(status(o).podIP) },
    { name: "Node", type: "string", priority: 1, cell: (o) => none(spec(o).nodeName) },
    { name: "Nominated Node", type: "string", priority: 1, cell: (o) => none(status(o).nominatedNodeName) },
    { name: "Readiness Gates", type: "string", priority: 1, cell: (o) => (arr(spec(o).readinessGates).length ? `0/${arr(spec(o).readinessGates).length}` : "<none>") },
  ],
  Service: [
    name,
    { name: "Type", type: "string", cell: (o) => spec(o).type ?? "ClusterIP" },
    { name: "Cluster-IP", type: "string", cell: (o) => none(spec(o).clusterIP) },
    { name: "External-IP", type: "string", cell: (o) => (arr(spec(o).externalIPs).length ? arr(spec(o).externalIPs).join(",") : "<none>") },
    { name: "Port(s)", type: "string", cell: (o) => arr(spec(o).ports).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",") || "<none>" },
    age,
    { name: "Selector", type: "string", priority: 1, cell: (o) => (isPlainObject(spec(o).selector) ? Object.entries(spec(o).selector as R).map(([k, v]) => `${k}=${v}`).join(",") : "<none>") },
  ],
  Endpoints: [
    name,
    { name: "Endpoints", type: "string", cell: (o) => arr(o.subsets).flatMap((s) => arr(s.addresses).flatMap((a) => (arr(s.ports).length ? arr(s.ports).map((p) => `${a.ip}:${p.port}`) : [String(a.ip)]))).join(",") || "<none>" },
    age,
  ],
  ConfigMap: [name, { name: "Data", type: "integer", cell: (o) => Object.keys((o.data ?? {}) as R).length + Object.keys((o.binaryData ?? {}) as R).length }, age],
  Secret: [name, { name: "Type", type: "string", cell: (o) => o.type ?? "Opaque" }, { name: "Data", type: "integer", cell: (o) => Object.keys((o.data ?? {}) as R).length }, age],
  Node: [
    name,
    { name: "Status", type: "string", cell: (o) => (arr(status(o).conditions).find((c) => c.type === "Ready")?.status === "True" ? "Ready" : "NotReady") + (spec(o).unschedulable ? ",SchedulingDisabled" : "") },
    { name: "Roles", type: "string", cell: (o) => Object.keys(o.metadata.labels ?? {}).filter((l) => l.startsWith("node-role.kubernetes.io/")).map((l) => l.slice(24)).join(",") || "<none>" },
    age,
    { name: "Version", type: "string", cell: (o) => getPath(o, ["status", "nodeInfo", "kubeletVersion"]) ?? "" },
    { name: "Internal-IP", type: "string", priority: 1, cell: (o) => none(arr(status(o).addresses).find((a) => a.type === "InternalIP")?.address) },
  ],
  Event: [
    { name: "Last Seen", type: "string", cell: (o) => humanAge((o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp) as string) },
    { name: "Type", type: "string", cell: (o) => o.type ?? "" },
    { name: "Reason", type: "string", cell: (o) => o.reason ?? "" },
    { name: "Object", type: "string", cell: (o) => `${String(getPath(o, ["involvedObject", "kind"]) ?? "").toLowerCase()}/${getPath(o, ["involvedObject", "name"]) ?? ""}` },
    { name: "Message", type: "string", cell: (o) => o.message ?? "" },
  ],
  ServiceAccount: [name, { name: "Secrets", type: "integer", cell: (o) => arr(o.secrets).length }, age],
  PersistentVolume: [
    name,
    { name: "Capacity", type: "string", cell: (o) => getPath(o, ["spec", "capacity", "storage"]) ?? "" },
    { name: "Access Modes", type: "string", cell: (o) => arr(spec(o).accessModes).map((m) => String(m).replace("ReadWriteOnce", "RWO").replace("ReadOnlyMany", "ROX").replace("ReadWriteMany", "RWX").replace("ReadWriteOncePod", "RWOP")).join(",") },
    { name: "Reclaim Policy", type: "string", cell: (o) => spec(o).persistentVolumeReclaimPolicy ?? "" },
    { name: "Status", type: "string", cell: (o) => status(o).phase ?? "" },
    { name: "Claim", type: "string", cell: (o) => (isPlainObject(spec(o).claimRef) ? `${(spec(o).claimRef as R).namespace}/${(spec(o).claimRef as R).name}` : "") },
    { name: "StorageClass", type: "string", cell: (o) => spec(o).storageClassName ?? "" },
    age,
  ],
  PersistentVolumeClaim: [
    name,
    { name: "Status", type: "string", cell: (o) => status(o).phase ?? "" },
    { name: "Volume", type: "string", cell: (o) => spec(o).volumeName ?? "" },
    { name: "Capacity", type: "string", cell: (o) => getPath(o, ["status", "capacity", "storage"]) ?? "" },
    { name: "Access Modes", type: "string", cell: (o) => arr(status(o).accessModes).join(",") },
    { name: "StorageClass", type: "string", cell: (o) => spec(o).storageClassName ?? "" },
    age,
  ],
  Deployment: [
    name,
    { name: "Ready", type: "string", cell: (o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}` },
    { name: "Up-to-date", type: "integer", cell: (o) => num(status(o).updatedReplicas) },
    { name: "Available", type: "integer", cell: (o) => num(status(o).availableReplicas) },
    age,
    ...workloadWide(["spec", "template", "spec", "containers"]),
  ],
  ReplicaSet: [
    name,
    { name: "Desired", type: "integer", cell: (o) => num(spec(o).replicas) },
    { name: "Current", type: "integer", cell: (o) => num(status(o).replicas) },
    { name: "Ready", type: "integer", cell: (o) => num(status(o).readyReplicas) },
    age,
    ...workloadWide(["spec", "template", "spec", "containers"]),
  ],
  DaemonSet: [
    name,
    { name: "Desired", type: "integer", cell: (o) => num(status(o).desiredNumberScheduled) },
    { name: "Current", type: "integer", cell: (o) => num(status(o).currentNumberScheduled) },
    { name: "Ready", type: "integer", cell: (o) => num(status(o).numberReady) },
    { name: "Up-to-date", type: "integer", cell: (o) => num(status(o).updatedNumberScheduled) },
    { name: "Available", type: "integer", cell: (o) => num(status(o).numberAvailable) },
    { name: "Node Selector", type: "string", cell: (o) => Object.entries((getPath(o, ["spec", "template", "spec", "nodeSelector"]) ?? {}) as R).map(([k, v]) => `${k}=${v}`).join(",") || "<none>" },
    age,
    ...workloadWide(["spec", "template", "spec", "containers"]),
  ],
  StatefulSet: [
    name,
    { name: "Ready", type: "string", cell: (o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}` },
    age,
    ...workloadWide(["spec", "template", "spec", "containers"]).slice(0, 2),
  ],
  Job: [
    name,
    { name: "Status", type: "string", cell: (o) => (arr(status(o).conditions).find((c) => c.type === "Complete" && c.status === "True") ? "Complete" : arr(status(o).conditions).find((c) => c.type === "Failed" && c.status === "True") ? "Failed" : spec(o).suspend ? "Suspended" : "Running") },
    { name: "Completions", type: "string", cell: (o) => `${num(status(o).succeeded)}/${spec(o).completions ?? 1}` },
    { name: "Duration", type: "string", cell: (o) => (status(o).startTime ? humanAge(status(o).startTime as string, status(o).completionTime ? Date.parse(status(o).completionTime as string) : Date.now()) : "") },
    age,
    ...workloadWide(["spec", "template", "spec", "containers"]),
  ],
  CronJob: [
    name,
    { name: "Schedule", type: "string", cell: (o) => spec(o).schedule ?? "" },
    { name: "Timezone", type: "string", cell: (o) => none(spec(o).timeZone) },
    { name: "Suspend", type: "boolean", cell: (o) => Boolean(spec(o).suspend) },
    { name: "Active", type: "integer", cell: (o) => arr(status(o).active).length },
    { name: "Last Schedule", type: "string", cell: (o) => (status(o).lastScheduleTime ? humanAge(status(o).lastScheduleTime as string) : "<none>") },
    age,
    ...workloadWide(["spec", "jobTemplate", "spec", "template", "spec", "containers"]).slice(0, 2),
  ],
  NetworkPolicy: [name, { name: "Pod-Selector", type: "string", cell: (o) => (selectorText(spec(o).podSelector) === "<none>" ? "<none>" : selectorText(spec(o).podSelector)) }, age],
  Lease: [name, { name: "Holder", type: "string", cell: (o) => spec(o).holderIdentity ?? "" }, age],
  EndpointSlice: [
    name,
    { name: "AddressType", type: "string", cell: (o) => o.addressType ?? "" },
    { name: "Ports", type: "string", cell: (o) => arr(o.ports).map((p) => p.port).join(",") || "<unset>" },
    { name: "Endpoints", type: "string", cell: (o) => arr(o.endpoints).flatMap((e) => arr(e.addresses)).join(",") || "<unset>" },
    age,
  ],
};

function columnsFor(rt: ResourceType): Column[] {
  return columnsByKind[rt.kind] ?? [name, age];
}

/** A Table of objects; each row's object is PartialObjectMetadata, as `includeObject=Metadata` (the default). */
export function toTable(rt: ResourceType, objects: KubeObject[], listMeta: Record<string, unknown>) {
  const cols = columnsFor(rt);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? "", description: c.description ?? "", priority: c.priority ?? 0 })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
