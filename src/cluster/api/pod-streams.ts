// The pods' streaming subresources — log, exec, attach, portforward — as kube-apiserver serves
// them (pkg/registry/core/pod/rest/subresources.go, pod/strategy.go LogLocation/ExecLocation):
// the pod and container are checked here, then the request goes to the pod's node's kubelet
// over TLS (the cluster CA checks the kubelet's certificate, the kubelet checks ours) at
// the Node's InternalIP and status.daemonEndpoints.kubeletEndpoint.Port. Logs are a plain
// streamed response; exec, attach and port-forward are upgrades (WebSocket or SPDY/3.1) whose
// bytes pass through untouched once the kubelet has answered, as UpgradeAwareHandler does.
import { request as httpsRequest } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls";
import type { HandlerContext, KubeletAccess, ResourceRequest } from "./handlers.ts";
import { isPlainObject, type KubeObject } from "./objects.ts";
import { boolParam } from "./query-params.ts";
import { findResource } from "./resources.ts";
import { ApiError, errBadRequest } from "./status.ts";

/** The raw connection of an HTTP upgrade request, by its request (server.ts records it). */
export const upgradeSockets = new WeakMap<IncomingMessage, { socket: Duplex; head: Buffer }>();

const nodesType = () => findResource("", "v1", "nodes")!;

interface PodShape {
  spec?: { nodeName?: string; containers?: { name: string }[]; initContainers?: { name: string }[]; ephemeralContainers?: { name: string }[] };
}

/** The container a request names, or the pod's only one (ValidateContainer in LogLocation/streamLocation). */
function containerFor(pod: KubeObject & PodShape, asked: string | null): string {
  const spec = pod.spec ?? {};
  const all = [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
  const name = pod.metadata.name!;
  if (!asked) {
    const app = (spec.containers ?? []).map((c) => c.name);
    if (app.length === 1) return app[0]!;
    const inits = (spec.initContainers ?? []).map((c) => c.name);
    throw errBadRequest(`a container name must be specified for pod ${name}, choose one of: [${app.join(" ")}]${inits.length ? ` or one of the init containers: [${inits.join(" ")}]` : ""}`);
  }
  if (!all.includes(asked)) throw errBadRequest(`container ${asked} is not valid for pod ${name}`);
  return asked;
}

/** The kubelet the pod's node serves: its InternalIP (else any address) and its port. */
export async function kubeletOf(ctx: HandlerContext, nodeName: string): Promise<{ host: string; port: number }> {
  const node = await ctx.registry.tryGet(nodesType(), undefined, nodeName);
  if (!node) throw new ApiError("NOT_FOUND", 404, "NotFound", `nodes "${nodeName}" not found`);
  const status = isPlainObject(node.status) ? (node.status as { addresses?: { type: string; address: string }[]; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } }) : {};
  const addresses = status.addresses ?? [];
  const host = (addresses.find((a) => a.type === "InternalIP") ?? addresses.find((a) => a.type !== "Hostname") ?? addresses[0])?.address;
  const port = status.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
  if (!host || !port) throw new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", `node "${nodeName}" has no kubelet endpoint to stream from (its agent reports no address or port)`);
  return { host, port };
}

const flag = (q: URLSearchParams, name: string) => boolParam(q, name) === true;

/**
 * The kubelet's certificate must name the node we meant to reach (system:node:NAME, as the
 * API server signed it), not just its address: a node cannot stand in for another even if it
 * got a certificate for that node's IP.
 */
export function kubeletIdentity(nodeName: string) {
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const err = checkServerIdentity(host, cert);
    if (err) return err;
    if (cert.subject?.CN !== `system:node:${nodeName}`) return new Error(`the kubelet at ${host} presented a certificate for ${cert.subject?.CN ?? "no one"}, not system:node:${nodeName}`);
    return undefined;
  };
}

/** The kubelet's path and query for a pod subresource request (the kubelet's own parameter names). */
function kubeletPath(r: ResourceRequest, container: string): string {
  const ns = encodeURIComponent(r.namespace ?? "");
  const pod = encodeURIComponent(r.name!);
  const c = encodeURIComponent(container);
  const q = r.url.searchParams;
  const out = new URLSearchParams();
  switch (r.subresource) {
    case "log":
      for (const k of ["sinceSeconds", "sinceTime", "tailLines", "limitBytes"]) {
        const v = q.get(k);
        if (v !== null) out.set(k, v);
      }
      // The kubelet is handed the flags as it spells them, whichever ParseBool spelling came in.
      for (const k of ["follow", "previous", "timestamps"]) {
        const v = boolParam(q, k);
        if (v !== undefined) out.set(k, String(v));
      }
      return `/containerLogs/${ns}/${pod}/${c}?${out}`;
    case "exec":
    case "attach":
      for (const cmd of q.getAll("command")) out.append("command", cmd);
      if (flag(q, "stdin")) out.set("input", "1");
      if (flag(q, "stdout")) out.set("output", "1");
      if (flag(q, "stderr")) out.set("error", "1");
      if (flag(q, "tty")) out.set("tty", "1");
      return `/${r.subresource}/${ns}/${pod}/${c}?${out}`;
    default:
      for (const p of q.getAll("ports")) out.append("port", p);
      return `/portForward/${ns}/${pod}${out.size ? `?${out}` : ""}`;
  }
}

function dialError(err: Error): ApiError {
  return new ApiError("UNAVAILABLE", 500, "InternalError", `error dialing backend: ${err.message}`);
}

/** GET …/pods/NAME/log, and exec/attach/portforward (upgrades): check, then proxy to the kubelet. */
export async function handlePodStream(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const kubelets = ctx.kubelets;
  const pod = (await ctx.registry.get(r.rt, r.namespace, r.name!)) as KubeObject & PodShape;
  const upgrade = upgradeSockets.get(r.req);
  if (r.subresource !== "log" && !upgrade) throw errBadRequest("Upgrade request required");
  const container = r.subresource === "portforward" ? "" : containerFor(pod, r.url.searchParams.get("container"));
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw errBadRequest(`pod ${r.name} does not have a host assigned`);
  if (!kubelets) throw new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", "this API server has no kubelet client credentials");
  const target = { ...(await kubeletOf(ctx, nodeName)), node: nodeName };
  const path = kubeletPath(r, container);
  if (upgrade) return proxyUpgrade(kubelets, target, path, r, upgrade);
  return proxyStream(kubelets, target, path, r.req, r.res);
}

/** A streamed GET (logs, follow included): the kubelet's status, type and body go back as they come. */
function proxyStream(k: KubeletAccess, target: { host: string; port: number; node: string }, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const upstream = httpsRequest({ host: target.host, port: target.port, path, method: "GET", ca: k.caCert, cert: k.clientCert, key: k.clientKey, checkServerIdentity: kubeletIdentity(target.node) }, (kres) => {
      res.writeHead(kres.statusCode ?? 502, { "Content-Type": kres.headers["content-type"] ?? "text/plain", "Cache-Control": "no-cache, private" });
      res.flushHeaders();
      kres.on("data", (chunk: Buffer) => res.write(chunk));
      kres.on("end", () => {
        res.end();
        resolve();
      });
      kres.on("error", () => {
        res.end();
        resolve();
      });
    });
    upstream.on("error", (err) => (res.headersSent ? (res.end(), resolve()) : reject(dialError(err))));
    // The client went away (kubectl logs -f interrupted): stop following on the kubelet too.
    res.on("close", () => upstream.destroy());
    req.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end();
  });
}

/** Hop-by-hop and credential headers that never go to the kubelet. */
const DROPPED = new Set(["authorization", "host", "content-length", "transfer-encoding", "proxy-connection", "keep-alive"]);

/**
 * An upgrade (WebSocket or SPDY): the request is replayed to the kubelet over TLS, and from
 * then on both connections are joined; the kubelet's own answer (101, or an error) reaches
 * the client untouched.
 */
function proxyUpgrade(k: KubeletAccess, target: { host: string; port: number; node: string }, path: string, r: ResourceRequest, upgrade: { socket: Duplex; head: Buffer }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const tls = tlsConnect({ host: target.host, port: target.port, ca: k.caCert, cert: k.clientCert, key: k.clientKey, checkServerIdentity: kubeletIdentity(target.node), ...(isIpLiteral(target.host) ? {} : { servername: target.host }) });
    const failEarly = (err: Error) => reject(dialError(err));
    tls.once("error", failEarly);
    tls.once("secureConnect", () => {
      tls.off("error", failEarly);
      const lines = [`${r.req.method} ${path} HTTP/1.1`, `Host: ${target.host}:${target.port}`];
      const raw = r.req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) if (!DROPPED.has(raw[i]!.toLowerCase())) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      tls.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (upgrade.head.length) tls.write(upgrade.head);
      const client = upgrade.socket;
      r.res.detachSocket(client as Socket);
      const close = () => {
        tls.destroy();
        client.destroy();
      };
      tls.on("error", close);
      client.on("error", close);
      tls.on("close", close);
      client.on("close", close);
      tls.pipe(client);
      client.pipe(tls);
      resolve();
    });
  });
}

const isIpLiteral = (h: string) => /^[\d.]+$/.test(h) || h.includes(":");
