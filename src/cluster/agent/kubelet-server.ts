// The kubelet's HTTPS server (pkg/kubelet/server/server.go), for the streaming verbs only:
//
//   GET  /containerLogs/{ns}/{pod}/{container}   logs (follow, previous, tailLines, since…)
//   GET  /exec/{ns}/{pod}/{container}?command=…   WebSocket (v5/v4.channel.k8s.io) or SPDY/3.1 upgrade
//   GET  /attach/{ns}/{pod}/{container}           the same, on the container's own stdio
//   GET|POST /portForward/{ns}/{pod}              SPDY/3.1 upgrade, or SPDY inside WebSocket
//   GET  /stats/summary                           the Summary API (resource-stats.ts)
//   GET  /metrics                                 Prometheus text (kubelet_*, prober_*, container_*)
//   GET  /gantry/pods/{ns}/{pod}/{container}/explain|glass   Gantry's glass box (glass-routes.ts)
//
// It answers only the API server: TLS with a certificate the cluster CA signed, and every
// caller must present the API server's kubelet client certificate (signed by the same CA,
// CN kube-apiserver-kubelet-client); anyone else is refused during the handshake or with
// 403. The pod is found by namespace and name among the pods bound to this node (the agent's
// informer), and its containers among the engine's (runtime-pods.ts).
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { describeError } from "../../common/errors.ts";
import { lazyWebSocketServer } from "../../common/lazy-websocket.ts";
import type { ContainerClient } from "../../engine/index.ts";
import { KubeletRequestError, logContainer, parseLogQuery, serveContainerLogs } from "./container-logs.ts";
import type { KubeletTls } from "./kubelet-certificate.ts";
import type { Pod } from "./pod-types.ts";
import { CHANNEL_PROTOCOLS, parseStreamOptions, serveRemoteCommand, spdyTransport, SPDY_REMOTE_COMMAND_PROTOCOL, websocketTransport, type RemoteTarget } from "./remote-command.ts";
import { isRunning, type RuntimePod } from "./runtime-pods.ts";
import { isGlassPath, serveGlass } from "./glass-routes.ts";

/** The only client the kubelet server answers: the API server's kubelet client certificate. */
export const API_SERVER_CLIENT_CN = "kube-apiserver-kubelet-client";

export interface KubeletServerOptions {
  tls: KubeletTls;
  /** 0 picks a free port. */
  port: number;
  /** Where to listen (default all addresses, as the kubelet's --address 0.0.0.0). */
  address?: string;
  containers: ContainerClient;
  /** The pod bound to this node with this namespace and name, as the API last said. */
  pod(namespace: string, name: string): Pod | undefined;
  /** What the engine runs of a pod, by uid. */
  runtimePod(uid: string): RuntimePod | undefined;
  /** The Summary API's answer (resource-stats.ts). */
  statsSummary?: () => Promise<unknown>;
  /** The process's metrics in the Prometheus text format. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Port-forward, when the agent has it (port-forward.ts). */
  portForward?: (req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, runtime: RuntimePod | undefined) => void;
  log: (m: string) => void;
}

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

interface Target {
  verb: string;
  pod: Pod;
  runtime: RuntimePod | undefined;
  container: string;
  query: URLSearchParams;
}

const notFound = (what: string) => new KubeletRequestError(404, what);

/** The verb, pod and container a path names; 404 for anything this server does not serve. */
function resolveTarget(o: KubeletServerOptions, rawUrl: string): Target {
  const url = new URL(rawUrl, "https://kubelet.invalid");
  let segs: string[];
  try {
    segs = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    throw notFound("404 page not found");
  }
  const [verb, ns, podName, container] = segs;
  const wantsContainer = verb !== "portForward";
  if (!verb || !["containerLogs", "exec", "attach", "portForward"].includes(verb) || !ns || !podName || segs.length !== (wantsContainer ? 4 : 3)) throw notFound("404 page not found");
  const pod = o.pod(ns, podName);
  if (!pod) throw notFound(`pod "${podName}" in namespace "${ns}" not found on this node`);
  return { verb, pod, runtime: pod.metadata.uid ? o.runtimePod(pod.metadata.uid) : undefined, container: container ?? "", query: url.searchParams };
}

function isApiServer(req: IncomingMessage): boolean {
  const sock = req.socket as TLSSocket;
  if (!sock.authorized) return false;
  const cert = sock.getPeerCertificate();
  return cert?.subject?.CN === API_SERVER_CLIENT_CN;
}

function statusBody(code: number, message: string): string {
  const reason = code === 400 ? "BadRequest" : code === 403 ? "Forbidden" : code === 404 ? "NotFound" : "InternalError";
  return JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
}

function reply(res: ServerResponse, code: number, message: string): void {
  if (res.headersSent) return void res.end();
  const body = statusBody(code, message);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function send(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * An upgrade refused before the handshake: a plain-text answer on the raw socket, as the
 * kubelet's streaming server writes it, which kubectl prints as `error: unable to upgrade
 * connection: <text>` (after its WebSocket try, it asks again over SPDY and shows that answer).
 */
function refuseUpgrade(socket: Duplex, code: number, message: string): void {
  const text = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found" }[code] ?? "Internal Server Error";
  socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

function errorCode(err: unknown): { code: number; message: string } {
  if (err instanceof KubeletRequestError) return { code: err.status, message: err.message };
  return { code: 500, message: describeError(err) };
}

export async function startKubeletServer(o: KubeletServerOptions): Promise<KubeletServer> {
  const wss = lazyWebSocketServer({ perMessageDeflate: false, handleProtocols: (offered) => CHANNEL_PROTOCOLS.find((p) => offered.has(p)) ?? false });

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    if (!isApiServer(req)) return reply(res, 403, "only the API server may use the kubelet's streaming endpoints");
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return send(res, "text/plain; charset=utf-8", "ok");
    if (path === "/stats/summary" && o.statsSummary) return send(res, "application/json", JSON.stringify(await o.statsSummary()));
    if (path === "/metrics" && o.metrics) {
      const m = await o.metrics();
      return send(res, m.contentType, m.body);
    }
    if (path && isGlassPath(path) && req.method === "GET") return send(res, "application/json", JSON.stringify(await serveGlass(path, o)));
    const t = resolveTarget(o, req.url ?? "/");
    if (t.verb !== "containerLogs" || req.method !== "GET") throw new KubeletRequestError(400, `${t.verb} needs an upgrade to a streaming protocol`);
    const q = parseLogQuery(t.query, Date.now());
    const c = logContainer(t.pod, t.container, t.runtime?.containers.get(t.container) ?? [], q.previous);
    await serveContainerLogs(o.containers, c, q, res);
  };

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isApiServer(req)) return refuseUpgrade(socket, 403, "only the API server may use the kubelet's streaming endpoints");
    const t = resolveTarget(o, req.url ?? "/");
    if (t.verb === "portForward") {
      if (!o.portForward) throw new KubeletRequestError(400, "port-forward is not served by this node");
      return o.portForward(req, socket, head, t.pod, t.runtime);
    }
    if (t.verb !== "exec" && t.verb !== "attach") throw new KubeletRequestError(400, `${t.verb} is not an upgrade`);
    const opts = parseStreamOptions(t.query);
    if (!opts.stdin && !opts.stdout && !opts.stderr) throw new KubeletRequestError(400, "you must specify at least 1 of stdin, stdout, stderr");
    const current = t.runtime?.containers.get(t.container)?.[0];
    if (!current || !isRunning(current)) throw notFound(`container not found ("${t.container}")`);
    let target: RemoteTarget;
    if (t.verb === "exec") {
      const command = t.query.getAll("command");
      if (!command.length) throw new KubeletRequestError(400, "you must specify at least one command for the container");
      target = { kind: "exec", containerId: current.id, command };
    } else {
      target = { kind: "attach", containerId: current.id };
    }
    const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
    if (upgrade === "websocket") {
      wss.handleUpgrade(req, socket, head, (ws) => serveRemoteCommand(websocketTransport(ws), o.containers, target, opts, o.log));
      return;
    }
    if (upgrade !== "spdy/3.1") throw new KubeletRequestError(400, `${t.verb} is served over WebSocket (${CHANNEL_PROTOCOLS.join(", ")}) or SPDY/3.1, not ${upgrade || "a plain request"}`);
    const versions = String(req.headers["x-stream-protocol-version"] ?? "").split(/\s*,\s*/);
    if (!versions.includes(SPDY_REMOTE_COMMAND_PROTOCOL)) throw new KubeletRequestError(403, `unable to negotiate a streaming protocol: the client offers ${versions.join(", ") || "none"}, the server serves ${SPDY_REMOTE_COMMAND_PROTOCOL}`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${SPDY_REMOTE_COMMAND_PROTOCOL}\r\n\r\n`);
    spdyTransport(socket, head, opts).then(
      (client) => serveRemoteCommand(client, o.containers, target, opts, o.log),
      (err: unknown) => o.log(`${t.verb} over SPDY: ${(err as Error).message}`),
    );
  };

  const server: Server = createServer({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      const { code, message } = errorCode(err);
      reply(res, code, message);
    });
  });
  // Upgraded connections (exec, attach, port-forward) leave the HTTP server's bookkeeping: they are ended here on close.
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    socket.on("error", () => socket.destroy());
    onUpgrade(req, socket, head).catch((err: unknown) => {
      const { code, message } = errorCode(err);
      refuseUpgrade(socket, code, message);
    });
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.address ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        for (const socket of upgraded) socket.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
