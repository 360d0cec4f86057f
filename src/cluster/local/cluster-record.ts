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
  serverUrl: string;
  serverDataDir: string;
  kubeconfig: string;
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

/** The record of a cluster about to be made: names only, nothing exists yet. */
export function planCluster(stateDir: string, name: string, nodeCount: number, subnet: string): ClusterRecord {
  const dir = clusterDir(stateDir, name);
  const id = createHash("sha256").update(dir).digest("hex").slice(0, 8);
  const base = subnet.replace(/\.0\/24$/, ".");
  const gateway = `${base}1`;
  const nodes: NodeRecord[] = Array.from({ length: nodeCount }, (_, i) => {
    const nodeName = `${name}-worker${i === 0 ? "" : i + 1}`;
    const nodeDir = join(dir, "nodes", nodeName);
    return {
      name: nodeName,
      netns: `gantry-${id}-${i + 1}`,
      hostVeth: `gc${id.slice(0, 6)}-${i + 1}`,
      address: `${base}${i + 2}`,
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
    serverUrl: `https://${gateway}:${API_PORT}`,
    serverDataDir: join(dir, "server"),
    kubeconfig: join(dir, "server", "admin.kubeconfig"),
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
