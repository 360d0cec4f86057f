// Hollow nodes, as kubemark's: Nodes that register with a chosen capacity, renew their
// Leases in kube-node-lease like a kubelet, and report the pods bound to them Running (a
// pod IP, Ready conditions, running container statuses) without running anything — so a
// scheduler or controller can be driven with 1,000 nodes from one small machine. One
// process holds many hollow nodes behind one pod informer and one status queue.
import { realClock, type Clock, type Timer } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { Informer, isAlreadyExists, isConflict, isNotFound, stripManagedFields, WorkQueue, type Client, type KubeObject } from "../client/index.ts";

export interface HollowNodeOptions {
  /** Node names are PREFIX-0, PREFIX-1, ... */
  namePrefix?: string;
  count: number;
  capacity?: { cpu?: string; memory?: string; pods?: string; "ephemeral-storage"?: string };
  /** Extra labels per node (index given), e.g. a zone. */
  labels?: (index: number) => Record<string, string>;
  taints?: (index: number) => { key: string; value?: string; effect: string }[];
  /** Lease renewal period (the kubelet's 10 s). */
  leaseRenewMs?: number;
  /** Pod status writes in flight at once. */
  workers?: number;
  clock?: Clock;
  log?: (message: string) => void;
}

export interface HollowNodes {
  readonly names: string[];
  /** Pods reported Running so far. */
  readonly running: () => number;
  /**
   * The fleet's pod informer: bound pods only (`spec.nodeName!=`), managedFields stripped. A
   * caller may add handlers to it rather than decode every pod event a second time (the
   * scheduler bench times bindings this way).
   */
  readonly pods: Informer;
  stop(): Promise<void>;
}

const NODES = { group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false };
const LEASES = { group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true };
const PODS = { group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true };

const stamp = (clock: Clock) => new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");

function nodeObject(name: string, index: number, opts: HollowNodeOptions, clock: Clock): KubeObject {
  const capacity = { cpu: "4", memory: "16Gi", pods: "110", "ephemeral-storage": "100Gi", ...(opts.capacity ?? {}) };
  const now = stamp(clock);
  const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "gantry.dev/hollow": "true", ...(opts.labels?.(index) ?? {}) } },
    spec: { podCIDR: `10.244.${index % 256}.0/24`, ...(opts.taints ? { taints: opts.taints(index) } : {}) },
    status: {
      capacity,
      allocatable: capacity,
      conditions: [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      ],
      addresses: [
        { type: "InternalIP", address: `10.250.${Math.floor(index / 250)}.${(index % 250) + 1}` },
        { type: "Hostname", address: name },
      ],
      nodeInfo: { kubeletVersion: "v1.32.0-hollow", kubeProxyVersion: "v1.32.0-hollow", containerRuntimeVersion: "hollow://1.0", operatingSystem: "linux", architecture: "amd64", osImage: "hollow", kernelVersion: "hollow", machineID: "", systemUUID: "", bootID: "" },
    },
  };
}

/** A bound pod's status as a kubelet reports it once its containers run. */
function runningStatus(pod: KubeObject, podIP: string, hostIP: string, now: string): Record<string, unknown> {
  const containers = ((pod.spec as { containers?: { name: string; image?: string }[] } | undefined)?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? "",
    imageID: "",
    containerID: `hollow://${pod.metadata.uid}/${c.name}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: now } },
  }));
  const cond = (type: string) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: now });
  return {
    phase: "Running",
    podIP,
    podIPs: [{ ip: podIP }],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    startTime: now,
    conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map(cond),
    containerStatuses: containers,
  };
}

export async function startHollowNodes(client: Client, opts: HollowNodeOptions): Promise<HollowNodes> {
  const clock = opts.clock ?? realClock;
  const log = opts.log ?? (() => {});
  const prefix = opts.namePrefix ?? "hollow";
  const names = Array.from({ length: opts.count }, (_, i) => `${prefix}-${i}`);
  const index = new Map(names.map((n, i) => [n, i]));
  const nodes = client.resource(NODES);
  const leases = client.resource(LEASES);
  const pods = client.resource(PODS);
  const timers: Timer[] = [];
  let running = 0;

  // Register (a node left from an earlier run gets its status posted again).
  const registerOne = async (name: string, i: number) => {
    const node = nodeObject(name, i, opts, clock);
    try {
      await nodes.create(undefined, node);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await nodes.patch(undefined, name, "merge", { status: node.status }, { subresource: "status" });
    }
  };
  for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n, j) => registerOne(n, i + j)));

  // Leases: created at once, renewed every leaseRenewMs, spread over the period.
  const renewMs = opts.leaseRenewMs ?? 10_000;
  const renew = async (name: string) => {
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date(clock.now()).toISOString().replace("Z", "000Z") };
    try {
      await leases.patch("kube-node-lease", name, "merge", { spec });
    } catch (err) {
      if (!isNotFound(err)) return log(`hollow: lease ${name}: ${describeError(err)}`);
      await leases.create("kube-node-lease", { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace: "kube-node-lease" }, spec }).catch((e: unknown) => {
        if (!isAlreadyExists(e)) log(`hollow: lease ${name}: ${describeError(e)}`);
      });
    }
  };
  for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map(renew));
  names.forEach((name, i) => {
    timers.push(clock.after(Math.floor((renewMs * i) / names.length), () => timers.push(clock.every(renewMs, () => void renew(name)))));
  });

  // Pods bound to a hollow node and not yet Running are reported Running; one being deleted
  // (graceful deletion waits for its node) is deleted at once with grace 0, as a kubelet does
  // once its containers stopped — a hollow node has none to stop. Pods not yet bound are not
  // watched at all (the server sends a pod as ADDED when it gets a node), as a kubelet watches
  // only its own; no handler reads managedFields.
  const informer = new Informer(pods, { clock, log, fieldSelector: "spec.nodeName!=", transform: stripManagedFields });
  const queue = new WorkQueue({ clock });
  const ours = (p: KubeObject) => {
    const node = (p.spec as { nodeName?: string } | undefined)?.nodeName;
    return node !== undefined && index.has(node);
  };
  const terminating = (p: KubeObject) => ours(p) && !!p.metadata.deletionTimestamp;
  const wanted = (p: KubeObject) => {
    const phase = (p.status as { phase?: string } | undefined)?.phase;
    return terminating(p) || (ours(p) && !p.metadata.deletionTimestamp && (phase === undefined || phase === "Pending"));
  };
  const key = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;
  informer.addHandlers({ onAdd: (p) => wanted(p) && queue.add(key(p)), onUpdate: (_o, p) => wanted(p) && queue.add(key(p)) });
  const ipCount = new Map<string, number>();
  const report = async (k: string) => {
    const pod = informer.cache.get(k);
    if (!pod || !wanted(pod)) return;
    if (terminating(pod)) {
      await pods.delete(pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }).catch((err: unknown) => {
        if (!isConflict(err)) throw err; // a new pod of that name: not ours to delete
      });
      return;
    }
    const node = (pod.spec as { nodeName: string }).nodeName;
    const i = index.get(node)!;
    const n = (ipCount.get(node) ?? 0) + 1;
    ipCount.set(node, n);
    const podIP = `10.${64 + Math.floor(i / 256)}.${i % 256}.${(n % 253) + 1}`;
    const hostIP = `10.250.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    await pods.patch(pod.metadata.namespace, pod.metadata.name!, "strategic", { status: runningStatus(pod, podIP, hostIP, stamp(clock)) }, { subresource: "status" });
    running++;
  };
  const workers = Array.from({ length: opts.workers ?? 8 }, async () => {
    for (let k = await queue.get(); k !== undefined; k = await queue.get()) {
      try {
        await report(k);
        queue.forget(k);
      } catch (err) {
        if (!isNotFound(err)) {
          log(`hollow: pod ${k}: ${describeError(err)}`);
          queue.addRateLimited(k);
        }
      } finally {
        queue.done(k);
      }
    }
  });
  informer.start();
  await informer.whenSynced();

  return {
    names,
    running: () => running,
    pods: informer,
    async stop() {
      for (const t of timers) t.cancel();
      queue.shutDown();
      await Promise.all(workers);
      await informer.stop();
    },
  };
}
