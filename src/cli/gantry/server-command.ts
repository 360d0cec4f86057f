// `gantry server`: runs the Kubernetes-compatible API server (the control plane) until
// SIGINT/SIGTERM. State and credentials live in --data-dir; the admin kubeconfig is
// written to DATA_DIR/admin.kubeconfig on every start. `gantry server token ...` manages
// node join tokens (server-token-command.ts).
import type { Command } from "commander";
import { hostname } from "node:os";
import { invalidArgument } from "../../common/errors.ts";
import { nodeUser, startApiServer } from "../../cluster/api/index.ts";
import { Client } from "../../cluster/client/index.ts";
import { addNodeOptions, startServerAgent, untilSignal, type NodeFlags } from "./agent-command.ts";
import { allControllers, DEFAULT_NODE_MONITOR_GRACE_SECONDS, startControllerManager, type ControllerFlags } from "../../cluster/controllers/index.ts";
import { startScheduler } from "../../cluster/scheduler/index.ts";
import type { ApiTransport } from "../../cluster/client/index.ts";
import { registerServerTokenCommands } from "./server-token-command.ts";

export const DEFAULT_DATA_DIR = "/var/lib/gantry/server";
export const DEFAULT_LISTEN = "127.0.0.1:6443";

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument(`--listen must be HOST:PORT (e.g. ${DEFAULT_LISTEN}), not "${text}"`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

/** The controller manager and the scheduler, sharing one informer per kind (k3s's one process). */
export async function startControlLoops(transport: ApiTransport, log: (m: string) => void, flags: ControllerFlags = {}): Promise<{ stop(): Promise<void> }> {
  const controllers = await startControllerManager(transport, { log, controllers: (ctx) => allControllers(ctx, flags) });
  const scheduler = await startScheduler(transport, { informers: controllers.informers, log });
  return {
    async stop() {
      await scheduler.stop();
      await controllers.stop();
    },
  };
}

export function registerServerCommand(program: Command): void {
  const server = program
    .command("server")
    .description("Run the cluster control plane: a Kubernetes-compatible API server (kubectl works against it)")
    .option("--data-dir <dir>", "state, TLS material, admin token and admin.kubeconfig", DEFAULT_DATA_DIR)
    .option("--listen <host:port>", "address to serve HTTPS on", DEFAULT_LISTEN)
    .option("--etcd-endpoints <urls>", "keep state in etcd (comma-separated client URLs) instead of DATA_DIR/state.db")
    .option("--etcd-prefix <prefix>", "key prefix in etcd, to share one etcd between clusters", "")
    .option("--node-monitor-grace-period <seconds>", "how long a node may go without renewing its Lease before it is marked NotReady and tainted unreachable", String(DEFAULT_NODE_MONITOR_GRACE_SECONDS))
    .option("--no-agent", "run only the control plane: no node agent for this host (pods need `gantry agent` nodes)");
  addNodeOptions(server, "DATA_DIR/agent");
  server.action(async (opts: NodeFlags & { dataDir: string; listen: string; etcdEndpoints?: string; etcdPrefix: string; agent: boolean; nodeMonitorGracePeriod: string }) => {
    const { host, port } = parseListen(opts.listen);
    const endpoints = opts.etcdEndpoints?.split(",").map((e) => e.trim()).filter(Boolean);
    if (opts.etcdEndpoints !== undefined && !endpoints?.length) throw invalidArgument("--etcd-endpoints needs at least one URL");
    const gracePeriodSeconds = Number(opts.nodeMonitorGracePeriod);
    if (!(gracePeriodSeconds > 0)) throw invalidArgument(`--node-monitor-grace-period must be a positive number of seconds, not "${opts.nodeMonitorGracePeriod}"`);
    const storeSpec = endpoints ? { kind: "etcd" as const, endpoints, prefix: opts.etcdPrefix } : undefined;
    const log = (m: string) => console.error(m);
    const running = await startApiServer({ dataDir: opts.dataDir, host, port, storeSpec, log, startControllers: (transport) => startControlLoops(transport, log, { nodeLifecycle: { gracePeriodSeconds } }) });
    console.log(`gantry server: listening on ${running.url}`);
    console.log(`gantry server: export KUBECONFIG=${running.kubeconfigPath}`);
    // The host's own node (k3s's server does the same): it reaches the API in-process, as
    // system:node:NAME, so it needs no token and is held to what any node may do.
    let agent: Awaited<ReturnType<typeof startServerAgent>> | undefined;
    if (opts.agent) {
      const name = (opts.name ?? hostname()).toLowerCase();
      try {
        agent = await startServerAgent({ ...opts, name }, new Client(running.inProcessTransport(nodeUser(name)), { fieldManager: "gantry-agent" }), opts.dataDir);
        console.log(`gantry server: node ${agent.nodeName} runs pods; its engine: unix://${agent.engineSocket}`);
      } catch (err) {
        await running.close();
        throw err;
      }
    }
    await untilSignal();
    await agent?.stop();
    await running.close();
    process.exit(0);
  });
  registerServerTokenCommands(server);
}
