// Runs what a probe or a lifecycle hook asks for against one container (kubelet's pkg/probe
// exec/http/tcp/grpc and its lifecycle handler runner): exec through the engine's exec,
// httpGet and tcpSocket to the pod's address (the node's with hostNetwork) or `host`, grpc's
// health check over HTTP/2, sleep. Each run is bounded by a timeout on the injected clock.
// Messages are the kubelet's, Go error text included, because users grep events for them.
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { ClientHttp2Session } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as tcpConnect } from "node:net";
import type { Clock } from "../../common/clock.ts";
import type { Container, GRPCAction, Handler, HTTPGetAction, PortRef, TCPSocketAction } from "./pod-types.ts";

/** Runs a command in a running container: exit code and the combined output. */
export type ExecRunner = (containerId: string, command: string[], timeoutMs: number) => Promise<{ exitCode: number; output: string; timedOut: boolean }>;

export interface HandlerTarget {
  container: Container;
  containerId: string;
  /** The pod's address (the node's with hostNetwork); undefined while it has none. */
  podIP: string | undefined;
  exec: ExecRunner;
  clock: Clock;
}

/** The handler ran and said yes or no; output is what the kubelet puts in the event. */
export interface HandlerOutcome {
  ok: boolean;
  output: string;
  /** An exec's exit code. */
  exitCode?: number;
}

/** The handler could not be run at all (no address, unknown port name): the kubelet discards such a probe result. */
export class HandlerError extends Error {}

/** The kubelet's User-Agent for probes (kube-probe/<major>.<minor>). */
export const PROBE_USER_AGENT = "kube-probe/1.32";
/** The kubelet reads at most this much of a probe's response or output (probe.maxReadLength). */
const MAX_READ = 10 * 1024;

export function resolvePort(port: PortRef, c: Container): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new HandlerError(`couldn't find port: ${port} in container ${c.name}`);
  return named.containerPort;
}

function hostOf(explicit: string | undefined, t: HandlerTarget): string {
  const host = explicit || t.podIP;
  if (!host) throw new HandlerError(`pod has no IP address yet for container ${t.container.name}`);
  return host;
}

/** "host:port", with brackets around an IPv6 address, as Go's net.JoinHostPort. */
const joinHostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** Go's dial error text for a Node socket error ("dial tcp 10.0.0.1:80: connect: connection refused"). */
function dialError(err: NodeJS.ErrnoException, addr: string): string {
  const why: Record<string, string> = {
    ECONNREFUSED: "connect: connection refused",
    EHOSTUNREACH: "connect: no route to host",
    ENETUNREACH: "connect: network is unreachable",
    ECONNRESET: "read: connection reset by peer",
    ETIMEDOUT: "i/o timeout",
  };
  return `dial tcp ${addr}: ${why[err.code ?? ""] ?? err.message}`;
}

/** Runs fn with an AbortSignal that fires after timeoutMs on the clock. */
async function withTimeout<T>(clock: Clock, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = clock.after(timeoutMs, () => ac.abort(new Error("timeout")));
  try {
    return await fn(ac.signal);
  } finally {
    timer.cancel();
  }
}

async function runExec(command: string[], t: HandlerTarget, timeoutMs: number): Promise<HandlerOutcome> {
  if (!command.length) throw new HandlerError("exec: no command given");
  const r = await t.exec(t.containerId, command, timeoutMs);
  if (r.timedOut) return { ok: false, output: `command "${command.join(" ")}" timed out` };
  return { ok: r.exitCode === 0, output: r.output.slice(0, MAX_READ), exitCode: r.exitCode };
}

/** The URL kubelet's http prober builds: scheme://host:port/path. */
export function probeURL(a: HTTPGetAction, t: HandlerTarget): URL {
  const scheme = (a.scheme ?? "HTTP").toLowerCase();
  const host = hostOf(a.host, t);
  const path = a.path ? (a.path.startsWith("/") ? a.path : `/${a.path}`) : "/";
  return new URL(`${scheme}://${joinHostPort(host, resolvePort(a.port, t.container))}${path}`);
}

/** Kubelet's headers: its User-Agent and Accept unless the probe sets them; a Host header sets the request's host. */
export function probeHeaders(a: HTTPGetAction): Record<string, string> {
  const headers: Record<string, string> = { "User-Agent": PROBE_USER_AGENT, Accept: "*/*" };
  for (const h of a.httpHeaders ?? []) {
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === h.name.toLowerCase());
    if (existing) delete headers[existing];
    headers[h.name] = h.value;
  }
  return headers;
}

/** Go's http.Client gives up after this many redirects. */
const MAX_REDIRECTS = 10;

/** One GET: the response's status, Location and (the start of) its body, or Go's error text. */
function httpGetOnce(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<{ code: number; location?: string; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    // HTTPS probes skip certificate checks, as the kubelet's do.
    const req = send(url, { method: "GET", headers, signal, rejectUnauthorized: false }, (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < MAX_READ) body += chunk;
      });
      res.on("error", () => resolve({ error: `Get "${url.href}": context deadline exceeded (Client.Timeout exceeded while reading body)` }));
      res.on("end", () => resolve({ code: res.statusCode ?? 0, location: res.headers.location, body: body.slice(0, MAX_READ) }));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (signal.aborted) resolve({ error: `Get "${url.href}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
      else resolve({ error: `Get "${url.href}": ${dialError(err, url.host)}` });
    });
    req.end();
  });
}

/**
 * kubelet's http prober: 200–399 pass. Redirects to the same host are followed (up to 10);
 * one to another host is not, and its 3xx passes (the kubelet calls it a warning).
 */
async function runHttpGet(a: HTTPGetAction, t: HandlerTarget, timeoutMs: number): Promise<HandlerOutcome> {
  const first = probeURL(a, t);
  const headers = probeHeaders(a);
  return withTimeout(t.clock, timeoutMs, async (signal) => {
    let url = first;
    for (let redirects = 0; ; redirects++) {
      const r = await httpGetOnce(url, headers, signal);
      if ("error" in r) return { ok: false, output: r.error };
      if (r.code >= 300 && r.code < 400 && r.location) {
        const next = new URL(r.location, url);
        if (next.hostname === first.hostname) {
          if (redirects + 1 >= MAX_REDIRECTS) return { ok: false, output: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
          url = next;
          continue;
        }
      }
      if (r.code >= 200 && r.code < 400) return { ok: true, output: r.body };
      return { ok: false, output: `HTTP probe failed with statuscode: ${r.code}` };
    }
  });
}

async function runTcpSocket(a: TCPSocketAction, t: HandlerTarget, timeoutMs: number): Promise<HandlerOutcome> {
  const host = hostOf(a.host, t);
  const port = resolvePort(a.port, t.container);
  const addr = joinHostPort(host, port);
  return withTimeout(t.clock, timeoutMs, (signal) =>
    new Promise<HandlerOutcome>((resolve) => {
      const sock = tcpConnect({ host, port });
      const onAbort = () => {
        sock.destroy();
        resolve({ ok: false, output: `dial tcp ${addr}: i/o timeout` });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      sock.once("connect", () => {
        signal.removeEventListener("abort", onAbort);
        sock.destroy();
        resolve({ ok: true, output: "" });
      });
      sock.once("error", (err: NodeJS.ErrnoException) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ ok: false, output: dialError(err, addr) });
      });
    }),
  );
}

/** grpc.health.v1.HealthCheckRequest{service}: field 1, length-delimited. */
function healthCheckRequest(service: string): Buffer {
  const s = Buffer.from(service);
  const msg = s.length ? Buffer.concat([Buffer.from([0x0a, s.length]), s]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

const SERVING_STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** HealthCheckResponse.status (field 1, varint) from a gRPC length-prefixed message. */
function servingStatus(data: Buffer): number {
  if (data.length < 5) return 0;
  const msg = data.subarray(5, 5 + data.readUInt32BE(1));
  // The response has one field; an empty message is its default, UNKNOWN.
  return msg.length >= 2 && msg[0] === 0x08 ? msg[1]! : 0;
}

async function runGrpc(a: GRPCAction, t: HandlerTarget, timeoutMs: number): Promise<HandlerOutcome> {
  const addr = joinHostPort(hostOf(undefined, t), a.port);
  // Loaded by the first gRPC probe: node's http2 is ~1 MB of a process's memory, which a node
  // whose pods have no gRPC probe need not hold.
  const { connect: http2Connect } = await import("node:http2");
  return withTimeout(t.clock, timeoutMs, (signal) =>
    new Promise<HandlerOutcome>((resolve) => {
      const session: ClientHttp2Session = http2Connect(`http://${addr}`);
      const finish = (o: HandlerOutcome) => {
        session.destroy();
        resolve(o);
      };
      signal.addEventListener("abort", () => finish({ ok: false, output: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` }), { once: true });
      session.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, output: `timeout: failed to connect service "${addr}" within ${timeoutMs / 1000}s: ${dialError(err, addr)}` }));
      const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers", "user-agent": PROBE_USER_AGENT });
      const chunks: Buffer[] = [];
      let headerStatus: string | undefined;
      req.on("response", (h) => {
        headerStatus = h["grpc-status"] as string | undefined;
      });
      req.on("data", (b: Buffer) => chunks.push(b));
      req.on("trailers", (h) => {
        headerStatus = (h["grpc-status"] as string | undefined) ?? headerStatus;
        if (headerStatus && headerStatus !== "0") finish({ ok: false, output: `rpc error: code = ${headerStatus} desc = ${String(h["grpc-message"] ?? "")}` });
      });
      req.on("error", (err) => finish({ ok: false, output: `rpc error: ${err.message}` }));
      req.on("end", () => {
        if (headerStatus && headerStatus !== "0") return finish({ ok: false, output: `rpc error: code = ${headerStatus}` });
        const status = servingStatus(Buffer.concat(chunks));
        if (status === 1) finish({ ok: true, output: "" });
        else finish({ ok: false, output: `service unhealthy (responded with "${SERVING_STATUS[status] ?? String(status)}")` });
      });
      req.end(healthCheckRequest(a.service ?? ""));
    }),
  );
}

/** Runs a probe's or hook's handler once. Throws HandlerError when it cannot be run at all. */
export async function runHandler(h: Handler, t: HandlerTarget, timeoutMs: number): Promise<HandlerOutcome> {
  if (h.exec) return runExec(h.exec.command ?? [], t, timeoutMs);
  if (h.httpGet) return runHttpGet(h.httpGet, t, timeoutMs);
  if (h.tcpSocket) return runTcpSocket(h.tcpSocket, t, timeoutMs);
  if (h.grpc) return runGrpc(h.grpc, t, timeoutMs);
  if (h.sleep) {
    await t.clock.sleep(Math.min(Math.max(0, h.sleep.seconds) * 1000, timeoutMs));
    return { ok: true, output: "" };
  }
  throw new HandlerError("handler has no action (exec, httpGet, tcpSocket, grpc or sleep)");
}
