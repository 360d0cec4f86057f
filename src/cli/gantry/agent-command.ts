// `gantry agent`: joins this host to a cluster as a node — its engine runs the pods bound to
// it (src/cluster/agent). The options that shape a node are shared with `gantry server`,
// which runs the same agent in-process for its own host unless --no-agent.
import type { Command } from "commander";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import { Client, HttpsTransport } from "../../cluster/client/index.ts";
import { parseReserve, type AgentOptions, type RunningAgent } from "../../cluster/agent/index.ts";
import { DEFAULT_CLUSTER_CIDR } from "../../cluster/proxy/index.ts";
import { DEFAULT_CLUSTER_DNS, DEFAULT_CLUSTER_DOMAIN } from "../../cluster/dns/index.ts";
import { clusterDnsOf, startNode, type NodeServiceFlags } from "./node-services.ts";
import { startHollowAgent, type HollowFlags } from "./hollow-agent.ts";

export const DEFAULT_AGENT_ROOT = "/var/lib/gantry/agent";

export interface NodeFlags extends NodeServiceFlags {
  name?: string;
  dataRoot?: string;
  engineSocket?: string;
  reserve?: string;
  nodeIp?: string;
  podSubnet?: string;
  podBridge?: string;
  kubeletPort?: string;
  nodeLabels?: string;
  cgroupRoot?: string;
  execRoot?: string;
  insecureRegistry: string[];
}

/** --node-labels a=b,c=d (the kubelet's flag). */
export function parseNodeLabels(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  const out: Record<string, string> = {};
  for (const part of text.split(",").filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw invalidArgument(`--node-labels takes key=value pairs separated by commas, not "${part}"`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The node's flags, on `agent` and on `server`. */
export function addNodeOptions(cmd: Command, defaultRoot: string): Command {
  return cmd
    .option("--name <node>", "the node's name (default: the name the token was made for, else the host name)")
    .option("--data-root <dir>", `the node engine's state: images, containers, pod networks (default ${defaultRoot})`)
    .option("--engine-socket <path>", "where the node's engine serves the Docker API (default DATA_ROOT/engine.sock): gantry -H / docker -H against it loads images pods run and lists their containers")
    .option("--reserve <list>", "resources kept from pods, e.g. cpu=500m,memory=1Gi,ephemeral-storage=10Gi")
    .option("--node-ip <ip>", "the node's InternalIP (default: the address of the default route's interface)")
    .option("--pod-subnet <cidr>", "the pods' bridge subnet on this node (default: the Node's podCIDR, a /24 of 10.42.0.0/16 the API server allocates)")
    .option("--pod-bridge <dev>", "the pods' bridge device (default gantrypods0)")
    .option("--kubelet-port <port>", "the port of the node's kubelet server, which the API server reaches for logs, exec, attach and port-forward (default 10250; 0 picks a free one)")
    .option("--node-labels <list>", "labels the Node registers with, e.g. node-role.kubernetes.io/worker=,zone=a")
    .option("--exec-root <dir>", "the node engine's runtime state and sockets (default DATA_ROOT/run; unix socket paths must stay under 108 bytes)")
    .option("--cgroup-root <path>", "the cgroup the node's pods go under (default /: /kubepods/...)")
    .option("--insecure-registry <host>", "a registry pod images may be pulled from over plain HTTP (repeatable)", (v: string, prev: string[]) => [...prev, v], [])
    .option("--cluster-cidr <cidrs>", `the pods' addresses, comma-separated: traffic from elsewhere to a Service is masqueraded (default ${DEFAULT_CLUSTER_CIDR})`)
    .option("--no-service-proxy", "do not program Services (ClusterIP, NodePort) into this node's nftables (kube-proxy's job), nor answer cluster DNS")
    .option("--no-network-policy", "do not enforce NetworkPolicies on this node's pods (another agent or a CNI plugin does, or none is wanted)")
    .option("--cluster-dns <ip>", `the kube-dns Service's address, pods' nameserver (default ${DEFAULT_CLUSTER_DNS})`)
    .option("--cluster-domain <domain>", `the cluster's DNS domain (default ${DEFAULT_CLUSTER_DOMAIN})`)
    .option("--dns-upstream <ip[:port]>", "where cluster DNS sends names outside the cluster (repeatable; default: the node's resolv.conf servers)", (v: string, prev: string[]) => [...prev, v], []);
}

export function agentOptions(flags: NodeFlags, client: Client, nodeName: string, defaultRoot: string): AgentOptions {
  const dataRoot = flags.dataRoot ?? defaultRoot;
  return {
    client,
    nodeName,
    dataRoot,
    ...(flags.engineSocket ? { engineSocket: flags.engineSocket.replace(/^unix:\/\//, "") } : {}),
    reserve: parseReserve(flags.reserve),
    ...(flags.nodeIp ? { nodeIP: flags.nodeIp } : {}),
    podBridge: { ...(flags.podBridge ? { bridge: flags.podBridge } : {}), ...(flags.podSubnet ? { subnet: flags.podSubnet } : {}) },
    insecureRegistries: flags.insecureRegistry,
    ...(flags.clusterCidr ? { clusterCidr: flags.clusterCidr.split(",").map((c) => c.trim()).filter(Boolean).join(", ") } : {}),
    ...(flags.nodeLabels ? { nodeLabels: parseNodeLabels(flags.nodeLabels) } : {}),
    ...(flags.execRoot ? { execRoot: flags.execRoot } : {}),
    // The kubelet's --cgroup-root: the parent of kubepods.
    ...(flags.cgroupRoot ? { cgroupRoot: `${flags.cgroupRoot.replace(/\/+$/, "")}/kubepods` } : {}),
    ...(flags.kubeletPort !== undefined ? { kubeletPort: parsePort(flags.kubeletPort) } : {}),
    ...(flags.serviceProxy ? { clusterDNS: clusterDnsOf(flags) } : {}),
    log: (m) => console.error(`gantry agent: ${m}`),
  };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw invalidArgument(`--kubelet-port must be a port number (0-65535), not "${v}"`);
  return n;
}

/** The node a token names, from the server's SelfSubjectReview (`kubectl auth whoami`). */
async function nodeNameOfToken(client: Client): Promise<string | undefined> {
  const review = await client.send<{ status?: { userInfo?: { username?: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
  const m = /^system:node:(.+)$/.exec(review.status?.userInfo?.username ?? "");
  return m?.[1];
}

/** --server: one URL or several (an HA control plane), comma-separated; each an https:// URL. */
export function serverList(flag: string): { server: string; servers: string[] } {
  const servers = flag.split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of servers) {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== "https:") throw invalidArgument(`--server takes https:// URLs, comma-separated, not "${s}"`);
  }
  if (!servers.length) throw invalidArgument("--server needs at least one https:// URL");
  return { server: servers[0]!, servers };
}

export async function untilSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

export function registerAgentCommand(program: Command): void {
  const cmd = program
    .command("agent")
    .description("Join this host to a cluster as a node: its engine runs the pods the cluster binds to it")
    .option("--server <urls>", "the API server, e.g. https://10.0.0.1:6443, or several of an HA control plane, comma-separated: requests move to the next when one cannot be reached (required unless --kubeconfig)")
    .option("--token-file <file>", "a node token from `gantry server token create --node NAME` (required unless --kubeconfig)")
    .option("--ca-file <file>", "the cluster's CA certificate (the server's DATA_DIR/tls/ca.crt)")
    .option("--hollow", "kubemark's hollow nodes: register --count Nodes that report their pods Running and run nothing (for scale tests; needs admin credentials)")
    .option("--kubeconfig <file>", "credentials for --hollow, e.g. the server's DATA_DIR/admin.kubeconfig")
    .option("--count <n>", "with --hollow: how many nodes", "1")
    .option("--cpu <quantity>", "with --hollow: each node's cpu capacity", "4")
    .option("--memory <quantity>", "with --hollow: each node's memory capacity", "16Gi")
    .option("--pods <n>", "with --hollow: each node's pod capacity", "110")
    .option("--name-prefix <prefix>", "with --hollow: nodes are named PREFIX-0, PREFIX-1, …", "hollow")
    .option("--lease-renew-ms <ms>", "with --hollow: how often each node renews its Lease (the kubelet's 10 s)");
  addNodeOptions(cmd, DEFAULT_AGENT_ROOT).action(async (flags: NodeFlags & HollowFlags & { server?: string; tokenFile?: string; caFile?: string; hollow?: boolean; kubeconfig?: string }) => {
    if (flags.hollow) return runHollow(flags);
    if (!flags.server || !flags.tokenFile) throw invalidArgument("gantry agent needs --server and --token-file (a node token from gantry server token create --node NAME)");
    const token = readToken(flags.tokenFile);
    let caCert: string | undefined;
    if (flags.caFile) {
      try {
        caCert = readFileSync(flags.caFile, "utf8");
      } catch (err) {
        throw invalidArgument(`cannot read --ca-file ${flags.caFile}: ${(err as Error).message}`);
      }
    }
    const client = new Client(HttpsTransport.fromTarget({ ...serverList(flags.server), token, caCert, onSwitch: (from, to, why) => console.error(`gantry agent: API server ${from} failed (${why}); now using ${to}`) }), { fieldManager: "gantry-agent" });
    const tokenNode = await nodeNameOfToken(client);
    if (!tokenNode) throw new GantryError("UNAUTHORIZED", `the token in ${flags.tokenFile} is not a node token`, { hint: "make one with gantry server token create --node NAME" });
    if (flags.name && flags.name !== tokenNode) throw invalidArgument(`--name ${flags.name} does not match the node the token was made for (${tokenNode})`);
    const agent = await startNode(flags, client, agentOptions(flags, client, tokenNode, DEFAULT_AGENT_ROOT));
    console.error(`gantry agent: node ${agent.nodeName} joined ${client.server}; engine on unix://${agent.engineSocket}`);
    await untilSignal();
    await agent.stop();
    process.exit(0);
  });
}

/** `gantry agent --hollow`: until SIGINT/SIGTERM, then the nodes stop renewing (the node lifecycle controller marks them NotReady). */
async function runHollow(flags: HollowFlags & { server?: string; tokenFile?: string; caFile?: string; kubeconfig?: string }): Promise<void> {
  let client: Client;
  if (flags.kubeconfig) client = Client.fromKubeconfig(flags.kubeconfig, { fieldManager: "gantry-hollow" });
  else if (flags.server && flags.tokenFile) client = new Client(HttpsTransport.fromTarget({ ...serverList(flags.server), token: readToken(flags.tokenFile), caCert: flags.caFile ? readFileSync(flags.caFile, "utf8") : undefined }), { fieldManager: "gantry-hollow" });
  else throw invalidArgument("gantry agent --hollow needs --kubeconfig (e.g. the server's admin.kubeconfig), or --server and --token-file");
  const fleet = await startHollowAgent(client, flags, (m) => console.error(`gantry agent: ${m}`));
  console.error(`gantry agent: ${fleet.names.length} hollow nodes ${fleet.names[0]}…${fleet.names[fleet.names.length - 1]} joined ${client.server}`);
  await untilSignal();
  await fleet.stop();
  process.exit(0);
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw invalidArgument(`cannot read --token-file ${file}: ${(err as Error).message}`);
  }
  if (!token) throw invalidArgument(`--token-file ${file} is empty`);
  return token;
}

/** For `gantry server`: the host's node, run in-process with the server's in-process transport. */
export async function startServerAgent(flags: NodeFlags, client: Client, dataDir: string): Promise<RunningAgent> {
  const name = (flags.name ?? hostname()).toLowerCase();
  // The node's data root is inside the server's: pods with hostUsers: false run as other ids,
  // which must pass through it (o+x, no listing; its secrets stay 0600), as dockerd's 0711.
  const mode = statSync(dataDir).mode & 0o7777;
  if (!(mode & 0o001)) chmodSync(dataDir, mode | 0o011);
  return startNode(flags, client, agentOptions(flags, client, name, join(dataDir, "agent")));
}
