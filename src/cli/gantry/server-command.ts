// `gantry server`: runs the Kubernetes-compatible API server (the control plane) until
// SIGINT/SIGTERM. State and credentials live in --data-dir; the admin kubeconfig is
// written to DATA_DIR/admin.kubeconfig on every start. `gantry server token ...` manages
// node join tokens (server-token-command.ts).
import type { Command } from "commander";
import { hostname } from "node:os";
import { invalidArgument } from "../../common/errors.ts";
import { loadServingCertificate } from "../../common/certificates.ts";
import { ensureDashboardCertificate, nodeUser, startApiServer } from "../../cluster/api/index.ts";
import { randomUUID } from "node:crypto";
import { Client, isAlreadyExists, isInvalid, isNotFound, startLeaderElection } from "../../cluster/client/index.ts";
import { clusterDnsOf, KUBE_DNS, podGateway } from "./node-services.ts";
import { addNodeOptions, startServerAgent, untilSignal, type NodeFlags } from "./agent-command.ts";
import { allControllers, DEFAULT_NODE_MONITOR_GRACE_SECONDS, startControllerManager, type ControllerFlags } from "../../cluster/controllers/index.ts";
import { startScheduler } from "../../cluster/scheduler/index.ts";
import type { ApiTransport } from "../../cluster/client/index.ts";
import { registerServerTokenCommands } from "./server-token-command.ts";
import { registerServerSnapshotCommands } from "./server-snapshot-command.ts";
import { startDashboard } from "../../dashboard/index.ts";

export const DEFAULT_DATA_DIR = "/var/lib/gantry/server";
export const DEFAULT_LISTEN = "127.0.0.1:6443";

export function parseListen(text: string, flag = "--listen"): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument(`${flag} must be HOST:PORT (e.g. ${DEFAULT_LISTEN}), not "${text}"`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * The names the dashboard's certificate gives (besides loopback): the address it listens on,
 * or this host's name when that is every address.
 */
export function dashboardNames(host: string): string[] {
  return host === "0.0.0.0" || host === "::" ? [hostname()] : [host];
}

export const DASHBOARD_CERT_HELP = "the dashboard's serving certificate, PEM (a chain may follow it), instead of one this host's own CA signs; with --dashboard-key";
export const DASHBOARD_KEY_HELP = "the private key of --dashboard-cert, PEM, unencrypted";

/**
 * --dashboard-cert/--dashboard-key, checked at start (before anything runs): undefined when
 * not given, so the dashboard gets a certificate this host's CA signs.
 */
export function dashboardCertificateFlags(
  o: { dashboardCert?: string; dashboardKey?: string },
  listening: boolean,
  log: (m: string) => void,
): { cert: string; key: string } | undefined {
  const own = loadServingCertificate(o.dashboardCert, o.dashboardKey, { cert: "--dashboard-cert", key: "--dashboard-key" });
  if (!own) return undefined;
  if (!listening) throw invalidArgument("--dashboard-cert and --dashboard-key are for the dashboard: give --dashboard-listen too");
  if (own.validTo.getTime() < Date.now()) log(`warning: the dashboard's certificate (${own.subject}) expired on ${own.validTo.toISOString()}; browsers will refuse it`);
  return { cert: own.cert, key: own.key };
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

/** Leader election settings (kube-controller-manager's --leader-elect-* flags, in ms). */
export interface LeaderElectionFlags {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const LEADER_LEASE = { namespace: "kube-system", name: "gantry-controller-manager" };

/**
 * The control loops behind leader election on the Lease kube-system/gantry-controller-manager:
 * of several servers on one store only the one holding it runs controllers and the scheduler;
 * another takes over when it stops renewing (killed) or gives the Lease up (stopped).
 */
export function startElectedControlLoops(transport: ApiTransport, log: (m: string) => void, flags: ControllerFlags, election: LeaderElectionFlags): { stop(): Promise<void> } {
  const client = new Client(transport, { fieldManager: "gantry-leader-election" });
  return startLeaderElection(client, {
    ...LEADER_LEASE,
    identity: `${hostname()}_${randomUUID()}`,
    leaseDurationMs: election.leaseDurationMs,
    renewDeadlineMs: election.renewDeadlineMs,
    retryPeriodMs: election.retryPeriodMs,
    log,
    onStartedLeading: () => startControlLoops(transport, log, flags),
  });
}

/** "15s", "500ms", "1m" or a number of seconds, in ms. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000) : NaN;
  if (!(ms > 0)) throw invalidArgument(`${flag} must be a duration such as 15s or 500ms, not "${text}"`);
  return ms;
}

/**
 * The cluster DNS Service, as k3s and kubeadm create it: kube-system/kube-dns at the address
 * pods are told to use (10.43.0.10), without a selector — every node answers it itself (the
 * proxy maps it to the node's own resolver). Left alone when it exists.
 */
async function ensureKubeDnsService(client: Client, clusterIP: string, log: (m: string) => void): Promise<void> {
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { ...KUBE_DNS, labels: { "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS" } },
    spec: {
      clusterIP,
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
      ],
    },
  };
  const services = client.resource({ group: "", version: "v1", resource: "services", kind: "Service", namespaced: true });
  // Get first: on a restart the create would be refused for the address (422) before the name.
  if (await services.get(KUBE_DNS.namespace, KUBE_DNS.name).then(() => true, (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)))) return;
  await services.create(KUBE_DNS.namespace, service).catch((err: unknown) => {
    if (isAlreadyExists(err)) return; // another server made it meanwhile
    if (isInvalid(err)) {
      // The address is another Service's: pods' nameserver then reaches that one, so say so.
      log(`cluster DNS: cannot create ${KUBE_DNS.namespace}/${KUBE_DNS.name} at ${clusterIP}: ${(err as Error).message}`);
      return;
    }
    throw err;
  });
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
    .option("--dashboard-listen <host:port>", "serve the web dashboard here (off unless given); it logs in with a bearer token and every request goes through this API, so RBAC decides")
    .option("--dashboard-cert <file>", DASHBOARD_CERT_HELP)
    .option("--dashboard-key <file>", DASHBOARD_KEY_HELP)
    .option("--token-auth-file <file>", "static bearer tokens for users, one a line: token,user,uid,\"group1,group2\" (kube-apiserver's flag)")
    .option("--no-agent", "run only the control plane: no node agent for this host (pods need `gantry agent` nodes)")
    .option("--no-leader-elect", "run controllers and the scheduler without holding the Lease kube-system/gantry-controller-manager (only for a server that is alone on its store)")
    .option("--leader-elect-lease-duration <duration>", "how long other servers wait, after the leader stops renewing, before taking over", "15s")
    .option("--leader-elect-renew-deadline <duration>", "how long the leader keeps trying to renew before it stops its control loops", "10s")
    .option("--leader-elect-retry-period <duration>", "how often candidates try to take, and the leader to renew, the Lease", "2s")
    .option("--horizontal-pod-autoscaler-sync-period <duration>", "how often each HorizontalPodAutoscaler is looked at", "15s")
    .option("--horizontal-pod-autoscaler-downscale-stabilization <duration>", "how far back the highest recommendation holds a scale-down (when an HPA's behavior sets no window)", "5m");
  addNodeOptions(server, "DATA_DIR/agent");
  server.action(async (opts: NodeFlags & { dataDir: string; listen: string; etcdEndpoints?: string; etcdPrefix: string; tokenAuthFile?: string; dashboardListen?: string; dashboardCert?: string; dashboardKey?: string; agent: boolean; nodeMonitorGracePeriod: string; leaderElect: boolean; leaderElectLeaseDuration: string; leaderElectRenewDeadline: string; leaderElectRetryPeriod: string; horizontalPodAutoscalerSyncPeriod: string; horizontalPodAutoscalerDownscaleStabilization: string }) => {
    const { host, port } = parseListen(opts.listen);
    const dashboardAt = opts.dashboardListen === undefined ? undefined : parseListen(opts.dashboardListen, "--dashboard-listen");
    const ownDashboardCert = dashboardCertificateFlags(opts, dashboardAt !== undefined, (m) => console.error(`gantry server: ${m}`));
    const endpoints = opts.etcdEndpoints?.split(",").map((e) => e.trim()).filter(Boolean);
    if (opts.etcdEndpoints !== undefined && !endpoints?.length) throw invalidArgument("--etcd-endpoints needs at least one URL");
    const gracePeriodSeconds = Number(opts.nodeMonitorGracePeriod);
    if (!(gracePeriodSeconds > 0)) throw invalidArgument(`--node-monitor-grace-period must be a positive number of seconds, not "${opts.nodeMonitorGracePeriod}"`);
    const storeSpec = endpoints ? { kind: "etcd" as const, endpoints, prefix: opts.etcdPrefix } : undefined;
    const log = (m: string) => console.error(m);
    const election = {
      leaseDurationMs: parseDuration("--leader-elect-lease-duration", opts.leaderElectLeaseDuration),
      renewDeadlineMs: parseDuration("--leader-elect-renew-deadline", opts.leaderElectRenewDeadline),
      retryPeriodMs: parseDuration("--leader-elect-retry-period", opts.leaderElectRetryPeriod),
    };
    if (!(election.renewDeadlineMs < election.leaseDurationMs)) throw invalidArgument("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration (the leader must stop before another may start)");
    if (!(election.retryPeriodMs < election.renewDeadlineMs)) throw invalidArgument("--leader-elect-retry-period must be shorter than --leader-elect-renew-deadline");
    const horizontalPodAutoscaler = {
      syncPeriodMs: parseDuration("--horizontal-pod-autoscaler-sync-period", opts.horizontalPodAutoscalerSyncPeriod),
      downscaleStabilizationMs: parseDuration("--horizontal-pod-autoscaler-downscale-stabilization", opts.horizontalPodAutoscalerDownscaleStabilization),
    };
    const flags: ControllerFlags = { nodeLifecycle: { gracePeriodSeconds }, horizontalPodAutoscaler };
    const startControllers = opts.leaderElect
      ? async (transport: ApiTransport) => startElectedControlLoops(transport, log, flags, election)
      : (transport: ApiTransport) => startControlLoops(transport, log, flags);
    const running = await startApiServer({ dataDir: opts.dataDir, host, port, storeSpec, log, startControllers, tokenAuthFile: opts.tokenAuthFile });
    try {
      await ensureKubeDnsService(new Client(running.inProcessTransport(), { fieldManager: "gantry-server" }), clusterDnsOf(opts).servers[0]!, log);
    } catch (err) {
      await running.close();
      throw err;
    }
    console.log(`gantry server: listening on ${running.url}`);
    console.log(`gantry server: export KUBECONFIG=${running.kubeconfigPath}`);
    let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
    if (dashboardAt) {
      try {
        // HTTPS with the user's certificate, or one the cluster's CA signs: the CA the kubeconfig carries
        const tls = ownDashboardCert ?? ensureDashboardCertificate(opts.dataDir, dashboardNames(dashboardAt.host));
        dashboard = await startDashboard({ ...dashboardAt, tls, upstream: { kind: "cluster", url: running.url, caCert: running.caCert }, log });
      } catch (err) {
        await running.close();
        throw err;
      }
      console.log(`gantry server: dashboard on ${dashboard.url} (${ownDashboardCert ? `its certificate is ${opts.dashboardCert}` : `its certificate is signed by the cluster's CA, ${opts.dataDir}/tls/ca.crt`})`);
    }
    // The host's own node (k3s's server does the same): it reaches the API in-process, as
    // system:node:NAME, so it needs no token and is held to what any node may do.
    let agent: Awaited<ReturnType<typeof startServerAgent>> | undefined;
    if (opts.agent) {
      const name = (opts.name ?? hostname()).toLowerCase();
      try {
        agent = await startServerAgent({ ...opts, name }, new Client(running.inProcessTransport(nodeUser(name)), { fieldManager: "gantry-agent" }), opts.dataDir);
        // Pods reach the API through the `kubernetes` Service at the node's pod bridge address.
        await running.advertise(podGateway(agent.podSubnet)).catch((err: unknown) => log(`api: pods cannot reach the API: ${(err as Error).message}`));
        console.log(`gantry server: node ${agent.nodeName} runs pods; its engine: unix://${agent.engineSocket}`);
      } catch (err) {
        await running.close();
        throw err;
      }
    }
    await untilSignal();
    await dashboard?.close();
    await agent?.stop();
    await running.close();
    process.exit(0);
  });
  registerServerTokenCommands(server);
  registerServerSnapshotCommands(server);
}
