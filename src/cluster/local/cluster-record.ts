// What `gantry cluster create` made, recorded so that `list`, `load` and `delete` (later CLI
// runs, after the creating one exited) find every piece: one JSON file per cluster,
// STATE_DIR/NAME/cluster.json, written atomically before anything it names is made, so a
// crash half-way through leaves a record `delete` can clean up from.
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { invalidArgument, notFound } from "../../common/errors.ts";
import { readJsonIfExists, writeJsonAtomic } from "../../common/atomic-file.ts";

export const DEFAULT_STATE_DIR = "/var/lib/gantry/clusters";
export const API_PORT = 6443;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 32;
export const MAX_NODES = 50;
/** An HA cluster's servers: etcd wants an odd count, and 7 is its own upper advice. */
export const MAX_SERVERS = 7;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Under /run: short paths for the node engines' sockets (108 bytes at most), gone at reboot as the namespaces are. */
export const EXEC_ROOT_BASE = "/run/gantry-clusters";

export interface NodeRecord {
  /** The Node's name: NAME-worker, NAME-worker2, … (kind's names). */
  name: string;
  /** Named network namespace (/run/netns/<netns>). */
  netns: string;
  /** The host end of the node's veth (its end in the namespace is eth0). */
  hostVeth: string;
  /** The node's address on the cluster bridge (its InternalIP). */
  address: string;
  /** The agent's data root (engine state, images, pods). */
  dataRoot: string;
  /** The agent engine's exec root, short (/run/gantry-clusters/<id>/<i>): the runtime's unix sockets live there. */
  execRoot: string;
  /** The agent's --cgroup-root: pods go under CGROUP_ROOT/kubepods. */
  cgroupRoot: string;
  tokenFile: string;
}

/** One API server of an HA cluster (--servers N > 1), with the etcd member beside it (kubeadm's stacked etcd). */
export interface ServerRecord {
  /** NAME-server1, NAME-server2, … (also the etcd member's name). */
  name: string;
  /** Its own network namespace, on the cluster bridge as a node is. */
  netns: string;
  hostVeth: string;
  address: string;
  /** Its API server's URL (https://ADDRESS:6443). */
  url: string;
  dataDir: string;
  /** The etcd member's data directory and client/peer URLs. */
  etcdDataDir: string;
  etcdClientUrl: string;
  etcdPeerUrl: string;
}

export interface ClusterRecord {
  name: string;
  /** STATE_DIR/NAME: everything of the cluster on disk. */
  dir: string;
  /** Short hash of dir: names of host objects (bridge, veths, nft table, cgroups) carry it. */
  id: string;
  bridge: string;
  /** The cluster bridge's subnet (a /24) and the host's address on it, where the API server listens. */
  subnet: string;
  gateway: string;
  /** The API server (one server), or the loopback balancer in front of the servers (HA). */
  serverUrl: string;
  /** The (first) server's data directory: the cluster's CA is DATA_DIR/tls/ca.crt. */
  serverDataDir: string;
  kubeconfig: string;
  /** HA clusters: the API servers, each with its etcd member; absent for one server on the bridge's gateway. */
  servers?: ServerRecord[];
  /** The nft table (ip family) with the masquerade of the nodes' traffic leaving the bridge. */
  nftTable: string;
  /** Parent of every node's cgroup root. */
  cgroupParent: string;
  nodes: NodeRecord[];
  /** Registries (host:port) the nodes may pull from over plain HTTP (the agents' --insecure-registry). */
  insecureRegistries?: string[];
  created: string;
  /** The supervisor process (pid and /proc start time), which runs and restarts the server and agents. */
  supervisor?: { pid: number; startTime: number };
}

export function validateClusterName(name: string): void {
  if (!NAME.test(name) || name.length > MAX_NAME) throw invalidArgument(`cluster name "${name}" must be a lowercase DNS label of at most ${MAX_NAME} characters (a-z, 0-9, '-')`);
}

export const clusterDir = (stateDir: string, name: string) => join(stateDir, name);
const recordPath = (dir: string) => join(dir, "cluster.json");

/** Every network namespace of the cluster: the HA servers' and the nodes'. */
export const namespacesOf = (rec: ClusterRecord): { netns: string; hostVeth: string; address: string }[] => [...(rec.servers ?? []), ...rec.nodes];

/**
 * The record of a cluster about to be made: names only, nothing exists yet. One server runs
 * on the host at the bridge's gateway address; several (HA, serverCount > 1) take the first
 * addresses after it, each in its own namespace with an etcd member, and the nodes follow.
 * balancerPort: the HA cluster's loopback balancer, which its kubeconfig names.
 */
export function planCluster(stateDir: string, name: string, nodeCount: number, subnet: string, ha?: { servers: number; balancerPort: number }): ClusterRecord {
  const dir = clusterDir(stateDir, name);
  const id = createHash("sha256").update(dir).digest("hex").slice(0, 8);
  const base = subnet.replace(/\.0\/24$/, ".");
  const gateway = `${base}1`;
  const servers: ServerRecord[] = Array.from({ length: ha?.servers ?? 0 }, (_, i) => {
    const address = `${base}${i + 2}`;
    return {
      name: `${name}-server${i + 1}`,
      netns: `gantry-${id}-s${i + 1}`,
      hostVeth: `gc${id.slice(0, 6)}-s${i + 1}`,
      address,
      url: `https://${address}:${API_PORT}`,
      dataDir: join(dir, "servers", `server${i + 1}`),
      etcdDataDir: join(dir, "servers", `server${i + 1}`, "etcd"),
      etcdClientUrl: `http://${address}:${ETCD_CLIENT_PORT}`,
      etcdPeerUrl: `http://${address}:${ETCD_PEER_PORT}`,
    };
  });
  const nodes: NodeRecord[] = Array.from({ length: nodeCount }, (_, i) => {
    const nodeName = `${name}-worker${i === 0 ? "" : i + 1}`;
    const nodeDir = join(dir, "nodes", nodeName);
    return {
      name: nodeName,
      netns: `gantry-${id}-${i + 1}`,
      hostVeth: `gc${id.slice(0, 6)}-${i + 1}`,
      address: `${base}${servers.length + i + 2}`,
      dataRoot: join(nodeDir, "root"),
      execRoot: join(EXEC_ROOT_BASE, id, String(i + 1)),
      cgroupRoot: `/gantry-clusters/${id}/${nodeName}`,
      tokenFile: join(nodeDir, "token"),
    };
  });
  return {
    name,
    dir,
    id,
    bridge: `gc-${id}`,
    subnet,
    gateway,
    serverUrl: ha ? `https://127.0.0.1:${ha.balancerPort}` : `https://${gateway}:${API_PORT}`,
    serverDataDir: servers[0]?.dataDir ?? join(dir, "server"),
    kubeconfig: ha ? join(dir, "admin.kubeconfig") : join(dir, "server", "admin.kubeconfig"),
    ...(ha ? { servers } : {}),
    nftTable: `gantry-cluster-${id}`,
    cgroupParent: `/gantry-clusters/${id}`,
    nodes,
    created: new Date().toISOString(),
  };
}

export function writeClusterRecord(rec: ClusterRecord): void {
  writeJsonAtomic(recordPath(rec.dir), rec, 0o600);
}

export function readClusterRecord(stateDir: string, name: string): ClusterRecord {
  validateClusterName(name);
  const rec = readJsonIfExists<ClusterRecord>(recordPath(clusterDir(stateDir, name)));
  if (!rec) throw notFound(`no cluster "${name}" in ${stateDir}`, { hint: "gantry cluster list shows the clusters" });
  return rec;
}

export function listClusterRecords(stateDir: string): ClusterRecord[] {
  if (!existsSync(stateDir)) return [];
  const out: ClusterRecord[] = [];
  for (const e of readdirSync(stateDir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const rec = readJsonIfExists<ClusterRecord>(recordPath(join(stateDir, e.name)));
    if (rec) out.push(rec);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
