// A real API server (SQLite store) with chosen controllers on the in-process transport and
// time on a fake clock, for the workload controllers' tests: run to quiet, then look.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../src/common/clock.ts";
import { startApiServer, type RunningApiServer } from "../../src/cluster/api/server.ts";
import { Client, isNotFound, type ApiRequest, type ApiTransport, type KubeObject, type ResourceRef } from "../../src/cluster/client/index.ts";
import { startControllerManager, type Controller, type ControllerContext, type RunningControllerManager } from "../../src/cluster/controllers/index.ts";

const ref = (group: string, resource: string, kind: string, namespaced = true): ResourceRef => ({ group, version: "v1", resource, kind, namespaced });
export const PODS = ref("", "pods", "Pod");
export const NODES = ref("", "nodes", "Node", false);
export const NAMESPACES = ref("", "namespaces", "Namespace", false);
export const SERVICES = ref("", "services", "Service");
export const ENDPOINTS = ref("", "endpoints", "Endpoints");
export const SERVICE_ACCOUNTS = ref("", "serviceaccounts", "ServiceAccount");
export const EVENTS = ref("", "events", "Event");
export const REPLICASETS = ref("apps", "replicasets", "ReplicaSet");
export const DEPLOYMENTS = ref("apps", "deployments", "Deployment");
export const ENDPOINT_SLICES = ref("discovery.k8s.io", "endpointslices", "EndpointSlice");

export interface Harness {
  server: RunningApiServer;
  manager: RunningControllerManager;
  client: Client;
  clock: FakeClock;
  logs: string[];
  /**
   * Lets events and requests run until no controller has work (completing graceful pod
   * deletions, as a node agent would), moving the fake clock over
   * whatever is due within horizonMs (back-offs; a longer wait, such as a progress deadline,
   * is passed only when a test asks for it).
   */
  runToQuiet(horizonMs?: number): Promise<void>;
  get(r: ResourceRef, ns: string | undefined, name: string): Promise<KubeObject | undefined>;
  list(r: ResourceRef, ns: string, labelSelector?: string): Promise<KubeObject[]>;
  /** Marks a pod as a kubelet would: bound to node, Running with an IP, Ready (or not) since now. */
  setPodRunning(pod: KubeObject, o?: { ready?: boolean; ip?: string; node?: string }): Promise<KubeObject>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  wrapTransport?: (t: ApiTransport) => ApiTransport;
  /** A clock to go on from (a restarted server keeps the time it had). */
  clock?: FakeClock;
  /** A data dir to keep after stop (to start another server over the same store); by default a temporary one, removed. */
  dataDir?: string;
}

export async function startHarness(controllers: (ctx: ControllerContext) => Controller[], opts: HarnessOptions = {}): Promise<Harness> {
  const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "gantry-workloads-"));
  const clock = opts.clock ?? new FakeClock();
  const logs: string[] = [];
  let manager: RunningControllerManager | undefined;
  const server = await startApiServer({
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    historyMs: 0,
    startControllers: async (transport) => (manager = await startControllerManager(opts.wrapTransport ? opts.wrapTransport(transport) : transport, { clock, log: (m) => logs.push(m), controllers })),
  });
  const client = new Client(server.inProcessTransport(), { fieldManager: "test" });
  let ipSeq = 2;
  // No node agent runs these pods: a deleted pod bound to a node waits for one (graceful
  // deletion), so the harness does what an agent does once the containers stopped.
  const finishPodDeletions = async (): Promise<boolean> => {
    let any = false;
    for (const p of (await client.resource(PODS).list(undefined)).items) {
      if (!p.metadata.deletionTimestamp || !p.metadata.deletionGracePeriodSeconds) continue;
      await client
        .resource(PODS)
        .delete(p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      any = true;
    }
    return any;
  };
  const h: Harness = {
    server,
    manager: manager!,
    client,
    clock,
    logs,
    async runToQuiet(horizonMs = 10_000) {
      const until = clock.now() + horizonMs;
      for (let round = 0; round < 500; round++) {
        let idleTurns = 0;
        for (let turn = 0; idleTurns < 20 && turn < 100_000; turn++) {
          await new Promise((r) => setImmediate(r));
          idleTurns = manager!.isIdle() ? idleTurns + 1 : 0;
        }
        if (await finishPodDeletions()) continue;
        const due = clock.nextDue();
        if (due === undefined || due > until) return;
        await clock.advanceToNext();
      }
      throw new Error(`the controllers did not become quiet:\n${logs.join("\n")}`);
    },
    async get(r, ns, name) {
      return client
        .resource(r)
        .get(ns, name)
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
    },
    async list(r, ns, labelSelector) {
      return (await client.resource(r).list(ns, { labelSelector })).items;
    },
    async setPodRunning(pod, o = {}) {
      const { namespace, name } = pod.metadata;
      const node = o.node ?? "n1";
      const cur = await client.resource(PODS).get(namespace, name!);
      if (!(cur.spec as { nodeName?: string }).nodeName) {
        await client.resource(PODS).createSubresource(namespace, name!, "binding", { apiVersion: "v1", kind: "Binding", metadata: { name, namespace }, target: { kind: "Node", name: node } });
      }
      const now = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
      const ip = o.ip ?? `10.42.0.${ipSeq++}`;
      const ready = o.ready ?? true;
      const status = {
        phase: "Running",
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: now },
          { type: "PodScheduled", status: "True", lastTransitionTime: now },
        ],
      };
      return client.resource(PODS).patch(namespace, name!, "merge", { status }, { subresource: "status" });
    },
    async stop() {
      await server.close();
      if (!opts.dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/**
 * A transport that passes everything through until a write matching `after` has succeeded,
 * then refuses every write, as a controller manager killed at that point would have left
 * things. Reads and open watches go on (a dead process would not look, but looking changes nothing).
 */
export function crashingTransport(after: (req: ApiRequest) => boolean): { wrap: (t: ApiTransport) => ApiTransport; readonly crashed: boolean } {
  let crashed = false;
  return {
    get crashed() {
      return crashed;
    },
    wrap: (t) => ({
      server: t.server,
      async request(req) {
        if (crashed && req.method !== "GET") throw new Error(`crashed before ${req.method} ${req.path}`);
        const res = await t.request(req);
        if (res.status < 300 && after(req)) crashed = true;
        return res;
      },
      stream: (req, onLine, onEnd) => t.stream(req, onLine, onEnd),
    }),
  };
}
