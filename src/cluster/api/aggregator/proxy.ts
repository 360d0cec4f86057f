// Requests for an aggregated group/version, passed to the extension API server as
// kube-aggregator's proxy handler does: the caller's bearer token and impersonation headers
// are dropped, the authenticated user travels in X-Remote-User/-Uid/-Group/-Extra-* headers,
// and this server authenticates itself with the front-proxy client certificate (the extension
// server trusts those headers only from that certificate). Bodies stream both ways, so
// watches work. An unavailable backend is a 503, as in Kubernetes.
import type { IncomingMessage, ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { UserInfo } from "../authentication.ts";
import { ApiError } from "../status.ts";
import { backendTls, type Backend } from "./aggregator.ts";
import type { FrontProxyCredentials } from "./front-proxy.ts";

/** Request headers never passed on: the caller's credentials and what describes this hop. */
const DROPPED = /^(authorization|host|connection|keep-alive|proxy-.*|te|trailer|transfer-encoding|upgrade|impersonate-.*|x-remote-.*)$/i;

export const errServiceUnavailable = () => new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", "service unavailable");

export function proxyToBackend(b: Backend, fp: FrontProxyCredentials, user: UserInfo, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!b.available || !b.target) {
    req.resume();
    return Promise.reject(errServiceUnavailable());
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROPPED.test(k)) headers[k] = v;
  headers["X-Remote-User"] = user.username;
  if (user.groups.length) headers["X-Remote-Group"] = user.groups;
  return new Promise((resolve, reject) => {
    const out = httpsRequest({ host: b.target!.host, port: b.target!.port, method: req.method, path: req.url, headers, ...backendTls(b, fp) }, (back) => {
      const replyHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(back.headers)) if (v !== undefined && !/^(connection|keep-alive|transfer-encoding)$/i.test(k)) replyHeaders[k] = v;
      res.writeHead(back.statusCode ?? 502, replyHeaders);
      // Watches: each event reaches the client as the backend writes it.
      res.flushHeaders();
      back.pipe(res);
      back.on("end", () => resolve());
      back.on("error", () => {
        res.destroy();
        resolve();
      });
    });
    // The client went away (a watch ended): the backend request goes too.
    res.on("close", () => out.destroy());
    out.on("error", (err) => {
      if (res.headersSent) {
        res.destroy();
        return resolve();
      }
      reject(new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", `error trying to reach service: ${err.message}`));
    });
    req.pipe(out);
  });
}
