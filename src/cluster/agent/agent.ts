// The node agent (Gantry's kubelet): it is this node's engine — it runs an Engine in-process
// and serves its Docker API socket, so images built or loaded with `gantry -H` (or the docker
// CLI) against that socket are the images pods run, the image store keeps one writer, and
// `docker ps` on the node shows the pods' containers — and it keeps the node's Node and Lease
// current and runs the pods bound to the node, one worker per pod. Its kubelet server
// (kubelet-server.ts) serves logs, exec, attach and port-forward to the API server only.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-file.ts";
import { realClock, type Clock } from "../../common/clock.ts";
import { Informer, StringInterner, stripManagedFields, type Client, type InformerFactory, type KubeObject } from "../client/index.ts";
import { ContainerClient, EngineClient, startDaemon, type Daemon, type EngineOptions } from "../../engine/index.ts";
import { PODS, SERVICES } from "./api-refs.ts";
import type { ServiceForEnv } from "./env.ts";
import { engineExecRunner } from "./engine-exec.ts";
import { EventRecorder } from "./events.ts";
import { LocalPathProvisioner } from "./local-path.ts";
import { NodeHeartbeat } from "./node-heartbeat.ts";
import { readNodeFacts, type NodeFacts } from "./node-facts.ts";
import { nodeAllocatable, type Reserve } from "./node-object.ts";
import { obtainServingCert } from "./kubelet-certificate.ts";
import { startKubeletServer, type KubeletServer } from "./kubelet-server.ts";
import type { ClusterDnsConfig } from "./pod-dns.ts";
import { PodRoutes } from "./pod-routes.ts";
import { PodWorkers } from "./pod-workers.ts";
import { QuietCollector } from "./quiet-gc.ts";
import type { Pod } from "./pod-types.ts";
import { servePortForward } from "./port-forward.ts";
import { runtimePods } from "./runtime-pods.ts";
import { renderMetrics } from "../../common/metrics.ts";
import { measureNode } from "./kubelet-metrics.ts";
import { ResourceStats } from "./resource-stats.ts";

/** The kubelet version the node reports: the API server's own (kubectl compares them). */
export const KUBELET_VERSION = "v1.32.4-gantry";
export const GANTRY_VERSION = "0.1.0";
/** The pods' network: the agent engine's default bridge, on the node's podCIDR (a /24 of the cluster CIDR). */
export const DEFAULT_POD_BRIDGE = "gantrypods0";
/** The subnet when the API server gave the node no podCIDR (the cluster CIDR is full). */
export const DEFAULT_POD_SUBNET = "10.42.0.0/24";
/** The API server's cluster CIDR (src/cluster/api/node-pod-cidrs.ts): pods reach it unmasqueraded. */
export const DEFAULT_CLUSTER_CIDR = "10.42.0.0/16";
/** The kubelet's port (its --port). */
export const DEFAULT_KUBELET_PORT = 10250;

export interface AgentOptions {
  client: Client;
  /**
   * A started informer factory the node's other loops share (proxy, DNS, NetworkPolicy): the
   * agent's Services come from it (one watch and one cache per node, as client-go's
   * SharedInformerFactory), its owner starts and stops it. Without it the agent watches its own.
   */
  informers?: InformerFactory;
  /**
   * The agent's pods come from `informers`' cluster-wide pod informer, filtered to this node,
   * instead of a watch of its own by field selector: for a node whose NetworkPolicy enforcer
   * caches every pod anyway (one watch and one copy of each pod instead of two).
   */
  sharedPods?: boolean;
  nodeName: string;
  /** The engine's state (images, containers, networks); its socket is <root>/engine.sock unless engineSocket says. */
  dataRoot: string;
  engineSocket?: string;
  execRoot?: string;
  /** The pods' bridge network: device, and subnet (default: the Node's podCIDR). */
  podBridge?: { bridge?: string; subnet?: string };
  /** Pod addresses reached without masquerade (default 10.42.0.0/16). */
  clusterCidr?: string;
  /** Route the other nodes' podCIDRs via their addresses (host-gw); default on. */
  podRoutes?: boolean;
  /** Node labels besides the well-known ones (the kubelet's --node-labels). */
  nodeLabels?: Record<string, string>;
  reserve?: Reserve;
  nodeIP?: string;
  cgroupRoot?: string;
  insecureRegistries?: string[];
  /** Engine options for tests (networking off, poll interval). */
  engine?: Partial<EngineOptions>;
  clock?: Clock;
  log?: (m: string) => void;
  /** Host facts (tests pass fixed ones); default: read from /proc, cgroups and statfs. */
  facts?: () => NodeFacts;
  /** The kubelet server's port; 0 picks a free one. Default 10250, or a free port when that one is taken. */
  kubeletPort?: number;
  /** Where the kubelet server listens (default every address). */
  kubeletAddress?: string;
  /** Cluster DNS for pods' resolv.conf (kubelet --cluster-dns, --cluster-domain); none: the node's resolvers. */
  clusterDNS?: ClusterDnsConfig;
  /** The node's resolv.conf (kubelet --resolv-conf), for dnsPolicy Default and the search path's tail. */
  resolvConf?: string;
}

export interface RunningAgent {
  nodeName: string;
  daemon: Daemon;
  engineSocket: string;
  /** The pods' subnet on this node (its podCIDR). */
  podSubnet: string;
  workers: PodWorkers;
  /** The port the kubelet server (logs, exec, attach, port-forward) listens on. */
  kubeletPort: number;
  /** Stops following the API; pods keep running (their monitors own them) and are adopted at the next start. */
  stop(): Promise<void>;
}

export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const clock = o.clock ?? realClock;
  const log = o.log ?? ((m: string) => process.stderr.write(`gantry agent: ${m}\n`));
  const engineSocket = o.engineSocket ?? join(o.dataRoot, "engine.sock");
  const reserve = o.reserve ?? { milliCpu: 0, memoryBytes: 0, storageBytes: 0 };
  let facts = (o.facts ?? (() => readNodeFacts({ storageRoot: o.dataRoot, nodeIP: o.nodeIP })))();
  const readFacts = () => (facts = (o.facts ?? (() => readNodeFacts({ storageRoot: o.dataRoot, nodeIP: o.nodeIP })))());
  // The Node is registered before the engine starts: its podCIDR (allocated by the API server
  // at registration) is the pods' bridge subnet. The range this node's bridge already uses
  // (recorded, or given) is asked for, so it survives the Node being deleted. The kubelet
  // port, known once the engine runs, is posted with the status right after.
  const cidrFile = join(o.dataRoot, "pod-cidr");
  const knownCidr = o.podBridge?.subnet ?? readRecorded(cidrFile);
  const heartbeat = new NodeHeartbeat({
    client: o.client,
    identity: { name: o.nodeName, runtimeVersion: `gantry://${GANTRY_VERSION}`, kubeletVersion: KUBELET_VERSION, daemonPort: 0, labels: o.nodeLabels, podCIDR: knownCidr },
    reserve,
    clock,
    log,
    facts: readFacts,
  });
  await heartbeat.start();
  const podSubnet = knownCidr ?? heartbeat.podCIDR ?? DEFAULT_POD_SUBNET;
  if (!knownCidr && heartbeat.podCIDR) {
    mkdirSync(o.dataRoot, { recursive: true });
    writeFileAtomic(cidrFile, `${podSubnet}\n`);
  }
  if (!heartbeat.podCIDR) log(`node ${o.nodeName}: no podCIDR from the API server (the cluster CIDR is full?); pods use ${podSubnet}`);
  else if (heartbeat.podCIDR !== podSubnet) log(`node ${o.nodeName}: the Node's podCIDR ${heartbeat.podCIDR} is not the ${podSubnet} its pods use; other nodes route to the Node's`);
  let daemon: Daemon;
  try {
    daemon = await startDaemon({
      root: o.dataRoot,
      execRoot: o.execRoot ?? join(o.dataRoot, "run"),
      socket: engineSocket,
      defaultBridge: { bridge: o.podBridge?.bridge ?? DEFAULT_POD_BRIDGE, subnet: podSubnet, noMasqueradeTo: o.clusterCidr ?? DEFAULT_CLUSTER_CIDR },
      insecureRegistries: o.insecureRegistries,
      log: (m) => log(`engine: ${m}`),
      ...(o.engine ?? {}),
    });
  } catch (err) {
    heartbeat.stop();
    throw err;
  }
  // Cached without managedFields (no loop reads them; status is written by merge patch), with
  // one copy of each repeated string (images, mount paths, condition types, the node's name:
  // JSON.parse makes a fresh copy of each for every pod and every update).
  const strings = new StringInterner(4096);
  const cached = <T extends KubeObject>(obj: T): T => strings.internValues(stripManagedFields(obj));
  const ownPods = !(o.sharedPods && o.informers);
  const pods = ownPods ? new Informer<Pod>(o.client.resource<Pod>(PODS), { clock, log, fieldSelector: `spec.nodeName=${o.nodeName}`, transform: cached }) : o.informers!.informerFor<Pod>(PODS);
  const onNode = (p: Pod | undefined): p is Pod => p?.spec.nodeName === o.nodeName;
  // Services, for the containers' service env vars (the kubelet's service lister).
  const services = o.informers?.informerFor<ServiceForEnv & KubeObject>(SERVICES) ?? new Informer<ServiceForEnv & KubeObject>(o.client.resource<ServiceForEnv & KubeObject>(SERVICES), { clock, log, transform: cached });
  const ownServices = !o.informers;
  let kubelet: KubeletServer;
  try {
    kubelet = await startNodeKubeletServer(o, daemon, engineSocket, facts.internalIP, (namespace, name) => {
      const pod = pods.cache.get(`${namespace}/${name}`);
      return onNode(pod) ? pod : undefined;
    }, log);
  } catch (err) {
    heartbeat.stop();
    await daemon.close();
    throw err;
  }
  await heartbeat.setDaemonPort(kubelet.port);
  const routes = o.podRoutes === false ? undefined : new PodRoutes({ client: o.client, nodeName: o.nodeName, clock, log });
  const events = new EventRecorder(o.client, o.nodeName, clock, log);
  const quiet = new QuietCollector({ clock });
  const workers = new PodWorkers({
    engine: daemon.engine,
    client: o.client,
    nodeName: o.nodeName,
    hostIP: () => facts.internalIP,
    allocatable: () => {
      const a = nodeAllocatable(facts, reserve);
      return { cpu: a.cpu!, memory: a.memory!, "ephemeral-storage": a["ephemeral-storage"]! };
    },
    clock,
    events,
    log,
    exec: engineExecRunner(daemon, clock),
    podsRoot: join(o.dataRoot, "pods"),
    cgroupRoot: o.cgroupRoot,
    dns: { cluster: o.clusterDNS ?? { servers: [], domain: "cluster.local" }, resolvConf: o.resolvConf ?? "/etc/resolv.conf", dir: join(o.dataRoot, "pod-dns") },
    services: () => services.cache.list(),
    activity: quiet,
  });
  // A shared informer tells of every pod in the cluster; the field selector's, only of this
  // node's (a pod's nodeName never changes once set, so an update moving it away is a delete).
  pods.addHandlers({
    onAdd: (p) => onNode(p) && workers.update(p),
    onUpdate: (old, p) => (onNode(p) ? workers.update(p) : onNode(old) && workers.remove(old)),
    onDelete: (p) => onNode(p) && workers.remove(p),
  });
  const localPath = new LocalPathProvisioner({ client: o.client, nodeName: o.nodeName, storageRoot: join(o.dataRoot, "storage"), clock, log });
  try {
    await routes?.start();
    await localPath.start();
    if (ownServices) services.start();
    if (ownPods) pods.start();
    await services.whenSynced();
    await pods.whenSynced();
    workers.start();
  } catch (err) {
    heartbeat.stop();
    quiet.stop();
    await routes?.stop();
    await localPath.stop();
    if (ownPods) await pods.stop();
    if (ownServices) await services.stop();
    await kubelet.close();
    await daemon.close();
    throw err;
  }
  log(`node ${o.nodeName}: running pods on ${podSubnet} (engine socket unix://${engineSocket})`);
  return {
    nodeName: o.nodeName,
    daemon,
    engineSocket,
    podSubnet,
    workers,
    kubeletPort: kubelet.port,
    async stop() {
      heartbeat.stop();
      await routes?.stop();
      await kubelet.close();
      await localPath.stop();
      if (ownPods) await pods.stop();
      if (ownServices) await services.stop();
      await workers.stop();
      quiet.stop();
      await daemon.close();
    },
  };
}

/**
 * The kubelet server, with a serving certificate the API server signed for this node's
 * address. The default port falls back to a free one when taken (another node's agent on
 * this host); the Node reports the port it got, which is where the API server dials.
 */
async function startNodeKubeletServer(o: AgentOptions, daemon: Daemon, engineSocket: string, nodeIP: string, pod: (namespace: string, name: string) => Pod | undefined, log: (m: string) => void): Promise<KubeletServer> {
  const tls = await obtainServingCert(o.client, join(o.dataRoot, "kubelet-tls"), o.nodeName, [nodeIP]);
  const containers = new ContainerClient(new EngineClient(`unix://${engineSocket}`));
  const stats = new ResourceStats(daemon.engine, o.nodeName);
  const serve = (port: number) =>
    startKubeletServer({
      tls,
      port,
      address: o.kubeletAddress,
      containers,
      pod,
      runtimePod: (uid) => runtimePods(daemon.engine).get(uid),
      statsSummary: () => stats.summary(),
      metrics: renderMetrics,
      portForward: (req, socket, head, pod, runtime) => servePortForward(req, socket, head, pod, runtime?.sandboxes.find((s) => s.record.State.Status === "running")?.record.State.Pid, log),
      log: (m) => log(`kubelet server: ${m}`),
    });
  // This node's pods and containers count in the process's /metrics while its server runs.
  const unmeasure = measureNode(daemon.engine);
  const withUnmeasure = (server: KubeletServer): KubeletServer => ({ ...server, close: () => (unmeasure(), server.close()) });
  try {
    return withUnmeasure(await serve(o.kubeletPort ?? DEFAULT_KUBELET_PORT));
  } catch (err) {
    if (o.kubeletPort !== undefined || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") {
      unmeasure();
      throw err;
    }
    const server = await serve(0);
    log(`kubelet port ${DEFAULT_KUBELET_PORT} is taken: the kubelet server listens on ${server.port}`);
    return withUnmeasure(server);
  }
}

function readRecorded(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
