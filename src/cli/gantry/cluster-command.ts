// `gantry cluster create|list|load|delete`: local multi-node clusters (src/cluster/local), as
// kind and k3d make them; `_supervise` (hidden) is the per-cluster process `create` starts.
import type { Command } from "commander";
import { invalidArgument } from "../../common/errors.ts";
import { createCluster, DEFAULT_STATE_DIR, deleteCluster, listClusters, loadIntoCluster, readClusterRecord, superviseCluster, type SelfCommand } from "../../cluster/local/index.ts";
import { DEFAULT_HOST } from "../../engine/index.ts";

/** This same gantry: bin/gantry when it launched us (it picks the agent's lean entry and flags), else node, its loader flags (tsx in a checkout), the entry script. */
const selfCommand = (): SelfCommand => (process.env.GANTRY_BIN ? [process.env.GANTRY_BIN] : [process.execPath, ...process.execArgv, process.argv[1]!]);

const stateDirOf = (cmd: Command) => cmd.optsWithGlobals<{ stateDir: string }>().stateDir;

export function registerClusterCommands(program: Command): void {
  const cluster = program
    .command("cluster")
    .description("Local multi-node clusters (as kind/k3d): a control plane and N nodes, each node a network namespace on the cluster's own bridge")
    .option("--state-dir <dir>", "where clusters live (records, node data roots, logs, kubeconfigs)", DEFAULT_STATE_DIR);

  cluster
    .command("create")
    .description("Create a cluster: the API server on the cluster bridge and N agent nodes; waits until every node is Ready")
    .argument("<name>", "the cluster's name (a DNS label)")
    .option("--nodes <n>", "how many nodes (agents) run pods", "1")
    .option("--servers <n>", "API servers: 1 on the host, or 3 (5, 7) for a highly available control plane — each server in its own namespace with an etcd member, kubectl through a loopback balancer", "1")
    .option("--kubeconfig <file>", "also write the admin kubeconfig to this file")
    .option("--wait <seconds>", "how long to wait for the nodes to be Ready", "180")
    .option("--insecure-registry <host:port>", "a registry the nodes may pull from over plain HTTP, e.g. one on the host at the bridge address (repeatable)", (v: string, prev: string[]) => [...prev, v], [])
    .action(async (name: string, opts: { nodes: string; servers: string; kubeconfig?: string; wait: string; insecureRegistry: string[] }, cmd: Command) => {
      const nodes = Number(opts.nodes);
      const servers = Number(opts.servers);
      const wait = Number(opts.wait);
      if (!(wait > 0)) throw invalidArgument(`--wait must be a positive number of seconds, not "${opts.wait}"`);
      const rec = await createCluster({ stateDir: stateDirOf(cmd), name, nodes, servers, self: selfCommand(), kubeconfig: opts.kubeconfig, insecureRegistries: opts.insecureRegistry, timeoutMs: wait * 1000, log: (m) => console.error(`gantry cluster: ${m}`) });
      console.log(`cluster ${rec.name}: ${rec.nodes.length} node(s) Ready (${rec.nodes.map((n) => `${n.name} ${n.address}`).join(", ")})`);
      console.log(`API server: ${rec.serverUrl}`);
      if (rec.servers) console.log(`behind it: ${rec.servers.map((s) => `${s.name} ${s.url}`).join(", ")}`);
      console.log(`export KUBECONFIG=${opts.kubeconfig ?? rec.kubeconfig}`);
    });

  cluster
    .command("list")
    .description("List clusters: name, servers, nodes, whether its processes run, API server, kubeconfig")
    .action((_opts: unknown, cmd: Command) => {
      const rows = [["NAME", "SERVERS", "NODES", "STATUS", "SERVER", "KUBECONFIG"], ...listClusters(stateDirOf(cmd)).map((c) => [c.name, String(c.servers), String(c.nodes), c.running ? "running" : "stopped", c.server, c.kubeconfig])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join(""));
    });

  cluster
    .command("load")
    .description("Put an image into every node's store: an archive (docker save output), else an image of the host engine (-H, GANTRY_HOST)")
    .argument("<name>", "the cluster")
    .argument("<source>", "ARCHIVE file, or IMAGE name on the host engine")
    .action(async (name: string, source: string, _opts: unknown, cmd: Command) => {
      const host = cmd.optsWithGlobals<{ host?: string }>().host || process.env.GANTRY_HOST || DEFAULT_HOST;
      if (!host.startsWith("unix://")) throw invalidArgument(`the host engine must be a unix socket (unix://PATH), not ${host}`);
      const loaded = await loadIntoCluster(readClusterRecord(stateDirOf(cmd), name), source, host.slice("unix://".length));
      for (const [node, lines] of loaded) console.log(`${node}: ${lines.join("; ") || "loaded"}`);
    });

  cluster
    .command("delete")
    .description("Delete a cluster: its processes, pods, namespaces, links, routes, tables, cgroups, mounts and files")
    .argument("<name>", "the cluster")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await deleteCluster(stateDirOf(cmd), name);
      console.log(`cluster ${name} deleted`);
    });

  cluster
    .command("_supervise", { hidden: true })
    .argument("<name>")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const rec = readClusterRecord(stateDirOf(cmd), name);
      await superviseCluster(rec, selfCommand(), (m) => console.error(`${new Date().toISOString()} supervisor: ${m}`));
      process.exit(0);
    });
}
