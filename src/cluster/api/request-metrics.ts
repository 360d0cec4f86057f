// kube-apiserver's request metrics (staging/src/k8s.io/apiserver/pkg/endpoints/metrics):
// every request is counted by verb, group, version, resource, subresource, scope, component
// and code when it ends; short requests are timed; watches and connects are long-running —
// counted in apiserver_longrunning_requests while open, and not timed. The verb is
// Kubernetes' reported verb: GET, LIST, WATCH, POST, PUT, PATCH, APPLY (server-side apply),
// DELETE, DELETECOLLECTION, CONNECT; a path outside /api and /apis is a non-resource request
// with empty resource labels (its path is not a label: that keeps the series bounded).
import type { IncomingMessage, ServerResponse } from "node:http";
import { counter, gauge, histogram, REQUEST_DURATION_BUCKETS, renderMetrics, secondsSince } from "../../common/metrics.ts";
import type { UserInfo } from "./authentication.ts";
import type { RequestAuthorizer } from "./authorization.ts";
import { errForbidden, errMethodNotAllowed } from "./status.ts";

const LABELS = ["verb", "group", "version", "resource", "subresource", "scope", "component"] as const;
type Labels = Record<(typeof LABELS)[number], string>;

const requestsMetric = counter({ name: "apiserver_request_total", help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.", labelNames: [...LABELS, "dry_run", "code"] });
const durationMetric = histogram({ name: "apiserver_request_duration_seconds", help: "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.", labelNames: [...LABELS, "dry_run"], buckets: REQUEST_DURATION_BUCKETS });
const longRunningMetric = gauge({ name: "apiserver_longrunning_requests", help: "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.", labelNames: LABELS });

export interface RequestInfo extends Labels {
  longRunning: boolean;
  dryRun: string;
}

/** The labels Kubernetes' RequestInfoResolver and CleanVerb give a request. */
export function requestInfo(method: string, rawUrl: string, contentType: string | undefined): RequestInfo {
  const url = new URL(rawUrl, "https://gantry.invalid");
  const segs = url.pathname.split("/").filter(Boolean);
  const none = { group: "", version: "", resource: "", subresource: "", scope: "", component: "apiserver", dryRun: "" };
  const q = url.searchParams;
  const dryRun = q.getAll("dryRun").join(",");
  if (segs[0] !== "api" && segs[0] !== "apis") return { ...none, verb: method, longRunning: false };
  const core = segs[0] === "api";
  const group = core ? "" : (segs[1] ?? "");
  const version = (core ? segs[1] : segs[2]) ?? "";
  let rest = segs.slice(core ? 2 : 3);
  if (!version || rest.length === 0) return { ...none, group, version, verb: method, longRunning: false };
  // The legacy /watch/ prefix.
  let watch = ["true", "1"].includes(q.get("watch") ?? "");
  if (rest[0] === "watch") {
    watch = true;
    rest = rest.slice(1);
  }
  let namespaced = false;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespaced = true;
    rest = rest.slice(2);
  }
  const [resource = "", name, subresource = ""] = rest;
  const scope = name !== undefined ? "resource" : namespaced ? "namespace" : "cluster";
  let verb: string;
  switch (method) {
    case "GET":
    case "HEAD":
      verb = watch ? "WATCH" : name === undefined ? "LIST" : "GET";
      break;
    case "PATCH":
      verb = contentType?.startsWith("application/apply-patch") ? "APPLY" : "PATCH";
      break;
    case "DELETE":
      verb = name === undefined ? "DELETECOLLECTION" : "DELETE";
      break;
    default:
      verb = method;
  }
  const connect = resource === "pods" && ["exec", "attach", "portforward", "proxy"].includes(subresource);
  if (connect) verb = "CONNECT";
  // pods/log with follow streams too, but Kubernetes counts it as a short GET.
  return { verb, group, version, resource, subresource, scope, component: "apiserver", dryRun, longRunning: verb === "WATCH" || connect };
}

/** Measures one request from now until its response closes (finished, or the client went away). */
export function measureRequest(req: Pick<IncomingMessage, "method" | "url" | "headers">, res: Pick<ServerResponse, "once" | "statusCode">): void {
  const info = requestInfo(req.method ?? "GET", req.url ?? "/", req.headers["content-type"]);
  const labels: Labels = { verb: info.verb, group: info.group, version: info.version, resource: info.resource, subresource: info.subresource, scope: info.scope, component: info.component };
  const started = performance.now();
  if (info.longRunning) longRunningMetric.inc(labels);
  res.once("close", () => {
    if (info.longRunning) longRunningMetric.dec(labels);
    else durationMetric.observe({ ...labels, dry_run: info.dryRun }, secondsSince(started));
    requestsMetric.inc({ ...labels, dry_run: info.dryRun, code: String(res.statusCode || 0) });
  });
}

export const METRICS_PATH = "/metrics";

/**
 * GET /metrics, to whoever may get the non-resource URL /metrics as Kubernetes decides it —
 * the admin, or an RBAC grant (the bootstrap role system:monitoring) — and to nodes, which
 * Gantry lets scrape the API server as a node's monitoring agent would.
 */
export async function serveMetrics(authorizer: RequestAuthorizer, user: UserInfo, method: string, res: ServerResponse): Promise<void> {
  const verb = method === "GET" || method === "HEAD" ? "get" : method.toLowerCase();
  const allowed = (verb === "get" && user.groups.includes("system:nodes")) || (await authorizer.authorizeNonResource(user, verb, METRICS_PATH));
  if (!allowed) throw errForbidden(`forbidden: User "${user.username}" cannot ${verb} path "${METRICS_PATH}"`);
  if (verb !== "get") throw errMethodNotAllowed(method, METRICS_PATH);
  const { contentType, body } = await renderMetrics();
  res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
