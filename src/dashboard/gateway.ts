// How the dashboard reaches the API it fronts: which paths it passes on, whether a token gets
// through at all (the engine's socket has no authentication; the cluster's API server judges
// every token itself), and how a request is opened.
import { request as httpRequest, type ClientRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { createHash, timingSafeEqual } from "node:crypto";

/** Where the app's data requests go. */
export type Upstream =
  /** A cluster API server: authentication and RBAC are its own. */
  | { kind: "cluster"; url: string; caCert: string }
  /** An engine's unix socket, behind a token the daemon made (the socket trusts whoever opens it). */
  | { kind: "engine"; socketPath: string; token: string };

/** How requests reach the API, and whether a bearer token lets them through at all. */
export interface Gateway {
  /** The API's path for a dashboard path (with its query), or undefined: not passed on. */
  route(path: string): string | undefined;
  /** Why the token is refused here, or undefined (for a cluster: always; the API judges it). */
  refuse(token: string): string | undefined;
  /** A request to the API at PATH (already routed) with these headers. */
  open(method: string, path: string, headers: Record<string, string>): ClientRequest;
}

export function gatewayTo(upstream: Upstream): Gateway {
  return upstream.kind === "cluster" ? clusterGateway(upstream) : engineGateway(upstream);
}

const isClusterPath = (path: string) =>
  path === "/api" ||
  path === "/apis" ||
  path === "/version" ||
  path.startsWith("/api/") ||
  path.startsWith("/apis/");

/** The cluster API server over HTTPS, verified with the cluster's CA; it judges every token. */
function clusterGateway(upstream: Extract<Upstream, { kind: "cluster" }>): Gateway {
  const base = new URL(upstream.url);
  const agent = new HttpsAgent({ ca: upstream.caCert, keepAlive: true });
  const host = base.hostname.replace(/^\[|\]$/g, "");
  return {
    route: (path) => (isClusterPath(path.split("?")[0]!) ? path : undefined),
    refuse: () => undefined,
    open: (method, path, headers) =>
      httpsRequest({
        host,
        port: base.port,
        path,
        method,
        headers,
        agent,
        servername: isIp(host) ? undefined : host,
      }),
  };
}

/** The engine's socket, reached only with the daemon's dashboard token. */
function engineGateway(upstream: Extract<Upstream, { kind: "engine" }>): Gateway {
  const expected = createHash("sha256").update(upstream.token).digest();
  return {
    route: (path) => (path.startsWith("/engine/") ? path.slice("/engine".length) : undefined),
    refuse: (token) => {
      if (!token) return "log in with the daemon's dashboard token";
      return timingSafeEqual(createHash("sha256").update(token).digest(), expected)
        ? undefined
        : "the token is not this daemon's dashboard token";
    },
    open: (method, path, headers) => {
      const { authorization: _token, ...rest } = headers; // the engine's own API takes none
      return httpRequest({ socketPath: upstream.socketPath, path, method, headers: rest });
    },
  };
}

export const bearerOf = (authorization: string | undefined) =>
  /^Bearer (.+)$/i.exec(authorization ?? "")?.[1] ?? "";

const isIp = (host: string) => /^[\d.]+$/.test(host) || host.includes(":");
