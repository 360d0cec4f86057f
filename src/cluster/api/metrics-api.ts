// metrics.k8s.io/v1beta1 as metrics-server serves it (NodeMetrics, PodMetrics), answered by
// the API server itself: each Node's kubelet is asked for its Summary API (GET /stats/summary
// over the same TLS path as logs and exec: pod-streams.ts), and its cpu rate (nanocores over
// the kubelet's window) and memory working set become the usage kubectl top prints. Nodes
// that do not answer are left out, as metrics-server leaves them out; a pod is listed once
// every one of its running containers has a cpu rate. When the APIService
// v1beta1.metrics.k8s.io names a Service (a real metrics-server was installed), the
// aggregation layer proxies the group there instead (server.ts asks the aggregator first).
import { request as httpsRequest } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "./authentication.ts";
import { errRequestForbidden, type RequestAuthorizer } from "./authorization.ts";
import { sendJson, type HandlerContext } from "./handlers.ts";
import type { KubeObject } from "./objects.ts";
import { kubeletIdentity, kubeletOf } from "./pod-streams.ts";
import { findResource } from "./resources.ts";
import { matchLabels, parseLabelSelector } from "./selectors.ts";
import { ApiError, errMethodNotAllowed, errPathNotFound } from "./status.ts";

export const METRICS_GROUP = "metrics.k8s.io";
export const METRICS_VERSION = "v1beta1";
const SUMMARY_TIMEOUT_MS = 10_000;

interface Usage {
  time: string;
  usageNanoCores?: number;
  workingSetBytes?: number;
}
interface Summary {
  node: { nodeName: string; cpu: Usage; memory: Usage; windowSeconds?: number };
  pods: { podRef: { name: string; namespace: string; uid: string }; containers: { name: string; cpu: Usage; memory: Usage; windowSeconds?: number }[] }[];
}

/** The quantities metrics-server writes: cpu in nanocores ("123456n"), memory in Ki ("1234Ki"). */
export const cpuQuantity = (nanoCores: number) => `${Math.max(0, Math.round(nanoCores))}n`;
export const memoryQuantity = (bytes: number) => `${Math.max(0, Math.floor(bytes / 1024))}Ki`;
const windowOf = (seconds: number | undefined) => `${(seconds ?? 0).toFixed(3).replace(/\.?0+$/, "")}s`;

function fetchSummary(ctx: HandlerContext, nodeName: string): Promise<Summary> {
  const k = ctx.kubelets;
  if (!k) return Promise.reject(new Error("this API server has no kubelet client credentials"));
  return kubeletOf(ctx, nodeName).then(
    (target) =>
      new Promise<Summary>((resolve, reject) => {
        const req = httpsRequest({ host: target.host, port: target.port, path: "/stats/summary", method: "GET", ca: k.caCert, cert: k.clientCert, key: k.clientKey, checkServerIdentity: kubeletIdentity(nodeName), timeout: SUMMARY_TIMEOUT_MS }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) return reject(new Error(`the kubelet answered ${res.statusCode}: ${text.slice(0, 200)}`));
            try {
              resolve(JSON.parse(text) as Summary);
            } catch (err) {
              reject(err as Error);
            }
          });
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${SUMMARY_TIMEOUT_MS / 1000}s`)));
        req.on("error", reject);
        req.end();
      }),
  );
}

/** The summary of each node (all, or those named) that could be had, by node name. */
async function summaries(ctx: HandlerContext, only?: Set<string>): Promise<Map<string, { node: KubeObject; summary: Summary }>> {
  const nodesType = findResource("", "v1", "nodes")!;
  const nodes = (await ctx.registry.list(nodesType, undefined)).items.filter((n) => !only || only.has(n.metadata.name!));
  const out = new Map<string, { node: KubeObject; summary: Summary }>();
  await Promise.all(
    nodes.map(async (node) => {
      const name = node.metadata.name!;
      try {
        out.set(name, { node, summary: await fetchSummary(ctx, name) });
      } catch (err) {
        ctx.log?.(`metrics: node ${name}: ${(err as Error).message}`);
      }
    }),
  );
  return out;
}

function nodeMetrics(node: KubeObject, s: Summary) {
  return {
    metadata: { name: node.metadata.name, creationTimestamp: new Date().toISOString(), ...(node.metadata.labels ? { labels: node.metadata.labels } : {}) },
    timestamp: s.node.cpu.time,
    window: windowOf(s.node.windowSeconds),
    usage: { cpu: cpuQuantity(s.node.cpu.usageNanoCores ?? 0), memory: memoryQuantity(s.node.memory.workingSetBytes ?? 0) },
  };
}

function podMetrics(pod: KubeObject, p: Summary["pods"][number]) {
  if (!p.containers.length || p.containers.some((c) => c.cpu.usageNanoCores === undefined)) return undefined;
  return {
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, creationTimestamp: new Date().toISOString(), ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}) },
    timestamp: p.containers[0]!.cpu.time,
    window: windowOf(p.containers[0]!.windowSeconds),
    containers: p.containers.map((c) => ({ name: c.name, usage: { cpu: cpuQuantity(c.cpu.usageNanoCores ?? 0), memory: memoryQuantity(c.memory.workingSetBytes ?? 0) } })),
  };
}

const list = (kind: string, items: unknown[]) => ({ kind: `${kind}List`, apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, metadata: {}, items });
const one = (kind: string, item: object) => ({ kind, apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, ...item });
const notFound = (what: string, name: string) => new ApiError("NOT_FOUND", 404, "NotFound", `${what}.${METRICS_GROUP} "${name}" not found`, { name, group: METRICS_GROUP, kind: what === "nodemetrics" ? "nodes" : "pods" });

/**
 * GET /apis/metrics.k8s.io/v1beta1/{nodes[/NAME] | pods | namespaces/NS/pods[/NAME]}
 * (`segs` after "apis/metrics.k8s.io/v1beta1"). Access is asked of the authorizer chain as for
 * any resource of the group (the admin may; others need an RBAC grant, as with metrics-server).
 */
export async function serveMetricsApi(ctx: HandlerContext, authorizer: RequestAuthorizer, user: UserInfo, req: IncomingMessage, res: ServerResponse, url: URL, segs: string[]): Promise<void> {
  let namespace: string | undefined;
  let rest = segs;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, ...extra] = rest;
  if ((resource !== "nodes" && resource !== "pods") || extra.length || (resource === "nodes" && namespace !== undefined)) throw errPathNotFound();
  const method = req.method ?? "GET";
  if (method !== "GET") throw errMethodNotAllowed(method, url.pathname);
  const verb = name === undefined ? "list" : "get";
  const attributes = { verb, group: METRICS_GROUP, resource, subresource: undefined, namespace, name };
  const decision = await authorizer.authorize(user, attributes);
  if (!decision.allowed) throw errRequestForbidden(user, attributes, decision.reason);
  const selector = parseLabelSelector(url.searchParams.get("labelSelector"));

  if (resource === "nodes") {
    if (name !== undefined) {
      const found = (await summaries(ctx, new Set([name]))).get(name);
      if (!found) throw notFound("nodemetrics", name);
      return sendJson(res, 200, one("NodeMetrics", nodeMetrics(found.node, found.summary)));
    }
    const all = [...(await summaries(ctx)).values()].filter((n) => matchLabels(selector, n.node.metadata.labels)).sort((a, b) => a.node.metadata.name!.localeCompare(b.node.metadata.name!));
    return sendJson(res, 200, list("NodeMetrics", all.map((n) => nodeMetrics(n.node, n.summary))));
  }

  const podsType = findResource("", "v1", "pods")!;
  const pods = name !== undefined ? [await ctx.registry.tryGet(podsType, namespace, name)].filter((p): p is KubeObject => !!p) : (await ctx.registry.list(podsType, namespace, { labelSelector: selector })).items;
  const byUid = new Map(pods.map((p) => [p.metadata.uid!, p]));
  const nodesOfPods = new Set(pods.map((p) => (p.spec as { nodeName?: string } | undefined)?.nodeName).filter((n): n is string => !!n));
  const items: NonNullable<ReturnType<typeof podMetrics>>[] = [];
  for (const { summary } of nodesOfPods.size ? (await summaries(ctx, nodesOfPods)).values() : []) {
    for (const p of summary.pods) {
      const pod = byUid.get(p.podRef.uid);
      const m = pod && podMetrics(pod, p);
      if (m) items.push(m);
    }
  }
  if (name !== undefined) {
    if (!items.length) throw notFound("podmetrics", `${namespace}/${name}`);
    return sendJson(res, 200, one("PodMetrics", items[0]!));
  }
  items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  return sendJson(res, 200, list("PodMetrics", items));
}
