import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { isIP, type AddressInfo } from "node:net";
import { GantryError } from "../common/errors.ts";
import { findAssets, serveAsset, type Assets } from "./assets.ts";
import { acceptStreams, STREAMS_PATH } from "./streams.ts";
import { bearerOf, gatewayTo, type Gateway, type Upstream } from "./gateway.ts";

export type { Upstream };

export interface DashboardOptions {
  host: string;
  port: number;
  upstream: Upstream;
  log?: (message: string) => void;
  /** The built app (dist/dashboard); found next to the bundle when not given. */
  assetsDir?: string;
  /**
   * The serving certificate and key (PEM): HTTPS. Without them the dashboard is plain HTTP,
   * which only a loopback address may serve (it carries bearer tokens).
   */
  tls?: { cert: string; key: string };
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/** Request headers passed on to the API: what the app sends, nothing the browser adds (cookies). */
const FORWARDED_REQUEST_HEADERS = ["authorization", "content-type", "accept", "content-length"];
/** Response headers passed back: the body's type and length, and what a client needs to retry. */
const FORWARDED_RESPONSE_HEADERS = ["content-type", "content-length", "www-authenticate", "retry-after"];

/** Kept on every answer: the app loads only its own files and is never framed. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const assets = findAssets(opts.assetsDir);
  const log = opts.log ?? (() => {});
  const gateway = gatewayTo(opts.upstream);
  if (!opts.tls && !isLoopback(opts.host))
    throw new GantryError(
      "INVALID_ARGUMENT",
      `--dashboard-listen ${opts.host}:${opts.port}: the dashboard carries bearer tokens, so only a loopback address may serve it without TLS`,
      { hint: "give it a serving certificate, or listen on 127.0.0.1 or ::1" },
    );
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    handle(req, res, assets, opts.upstream.kind, gateway).catch((err: unknown) => {
      log(`dashboard: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) sendStatus(res, 502, "BadGateway", (err as Error).message);
      else res.destroy();
    });
  };
  const server = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
    : createServer(onRequest);
  const streams = acceptStreams(server, gateway, log);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new GantryError(
          "INVALID_ARGUMENT",
          `--dashboard-listen ${opts.host}:${opts.port}: ${err.code === "EADDRINUSE" ? "address already in use" : err.message}`,
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `${opts.tls ? "https" : "http"}://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        streams.close();
        server.close(() => resolve());
        // log streams and watches stay open until their clients go: end them
        server.closeAllConnections();
      }),
  };
}

/** 127.0.0.0/8, ::1 and localhost: what no other host can reach. */
function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  assets: Assets,
  mode: Upstream["kind"],
  gateway: Gateway,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://dashboard");
  if (url.pathname === "/dashboard/config") {
    // what the app shows: a cluster's objects or one engine's containers
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ mode, streams: STREAMS_PATH }));
    return;
  }
  const apiPath = gateway.route(url.pathname + url.search);
  if (apiPath !== undefined) return forward(gateway, req, res, apiPath);
  if (req.method !== "GET" && req.method !== "HEAD")
    return sendStatus(res, 405, "MethodNotAllowed", `${req.method} is not allowed on ${url.pathname}`);
  serveAsset(assets, url.pathname, res);
}

/** Passes one request to the API and its answer back, streaming both ways. */
function forward(gateway: Gateway, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const refused = gateway.refuse(bearerOf(req.headers.authorization));
  if (refused) {
    sendStatus(res, 401, "Unauthorized", refused);
    return Promise.resolve();
  }
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === "string") headers[name] = v;
  }
  return new Promise((resolve, reject) => {
    // a path node cannot send (control characters) throws here: the caller answers 502
    const upstream = gateway.open(req.method ?? "GET", path, headers);
    upstream.on("response", (answer) => {
      const out: Record<string, string> = { "cache-control": "no-store" };
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const v = answer.headers[name];
        if (typeof v === "string") out[name] = v;
      }
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on("end", resolve);
      answer.on("error", reject);
    });
    upstream.on("error", reject);
    // the browser went away: so does the request to the API
    res.on("close", () => {
      upstream.destroy();
      resolve();
    });
    req.pipe(upstream);
  });
}

/** An answer in the Kubernetes Status shape, so the app shows every error the same way. */
export function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  res
    .writeHead(code, { "content-type": "application/json" })
    .end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message }));
}
