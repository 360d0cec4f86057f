// GET (and any method) /api/v1/nodes/NAME/proxy/PATH: a request passed to the node's kubelet
// server as kube-apiserver's node proxy does (`kubectl get --raw
// /api/v1/nodes/n1/proxy/stats/summary`, /metrics, /healthz). The API server dials with its
// kubelet client certificate and checks the kubelet's certificate names the node, as for
// logs and exec; RBAC's `nodes/proxy` decides who may (cluster-admin, system:monitoring ...).
import { request as httpsRequest } from "node:https";
import type { HandlerContext, ResourceRequest } from "./handlers.ts";
import { kubeletIdentity, kubeletOf } from "./pod-streams.ts";
import { ApiError } from "./status.ts";

/** Headers of the caller's request never passed to the kubelet. */
const DROPPED = /^(authorization|host|connection|keep-alive|transfer-encoding|upgrade|impersonate-.*)$/i;

export async function handleNodeProxy(ctx: HandlerContext, r: ResourceRequest, tail: string[]): Promise<void> {
  const k = ctx.kubelets;
  if (!k) throw new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", "this API server has no kubelet client credentials");
  const target = await kubeletOf(ctx, r.name!);
  const path = `/${tail.map(encodeURIComponent).join("/")}${r.url.search}`;
  const headers: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(r.req.headers)) if (v !== undefined && !DROPPED.test(name)) headers[name] = v;
  await new Promise<void>((resolve, reject) => {
    const upstream = httpsRequest({ host: target.host, port: target.port, path, method: r.req.method, headers, ca: k.caCert, cert: k.clientCert, key: k.clientKey, checkServerIdentity: kubeletIdentity(r.name!) }, (kres) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, v] of Object.entries(kres.headers)) if (v !== undefined && !/^(connection|keep-alive|transfer-encoding)$/i.test(name)) out[name] = v;
      r.res.writeHead(kres.statusCode ?? 502, out);
      kres.pipe(r.res);
      kres.on("end", () => resolve());
      kres.on("error", () => {
        r.res.destroy();
        resolve();
      });
    });
    r.res.on("close", () => upstream.destroy());
    upstream.on("error", (err) => {
      if (r.res.headersSent) {
        r.res.destroy();
        return resolve();
      }
      reject(new ApiError("UNAVAILABLE", 503, "ServiceUnavailable", `error trying to reach service: ${err.message}`));
    });
    r.req.pipe(upstream);
  });
}
