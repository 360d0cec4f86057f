// The Kubernetes-compatible API server: HTTPS with a generated CA, bearer-token
// authentication (admin and node tokens), node authorization, discovery and OpenAPI, and the generic REST handlers over the cluster store.
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { ServerResponse, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-file.ts";
import { GantryError } from "../../common/errors.ts";
import type { ApiTransport } from "../client/index.ts";
import { openStore, timedStore, type Store, type StoreSpec } from "../store/index.ts";
import { Authenticator, TOKEN_CACHE_MS, type UserInfo } from "./authentication.ts";
import { ServiceAccountAuthenticator } from "./service-account-auth.ts";
import { ensureServiceAccountKey, looksLikeJwt, SERVICE_ACCOUNT_ISSUER, ServiceAccountTokenSigner } from "./service-account-tokens.ts";
import { handleIssuerDiscovery, handleTokenRequest, handleTokenReview, JWKS_PATH, MIN_TOKEN_SECONDS, OPENID_CONFIGURATION_PATH, TOKEN_REVIEW_PATH } from "./token-request.ts";
import { errPathForbidden, errRequestForbidden, RequestAuthorizer, requestVerb } from "./authorization.ts";
import { adminKubeconfig, ensureCredentials, signKubeletServingCert } from "./credentials.ts";
import { aggregatedDiscovery, AGGREGATED_V2BETA1, apiGroup, apiGroupList, apiResourceList, apiVersions, wantsAggregated } from "./discovery.ts";
import {
  handleConnect,
  handleCreate,
  handleDelete,
  handleDeleteCollection,
  handleGet,
  handleGetScale,
  handleList,
  handlePatch,
  handleUpdate,
  methodNotAllowed,
  sendError,
  sendJson,
  type HandlerContext,
  type ResourceRequest,
} from "./handlers.ts";
import { handleBinding } from "./pod-binding.ts";
import { handleEviction } from "./pod-eviction.ts";
import { handleNodeProxy } from "./node-proxy.ts";
import { handlePodStream, upgradeSockets } from "./pod-streams.ts";
import { handleServingCert, SERVING_CERT_PATH } from "./kubelet-certificates.ts";
import { impersonatedUser, wantsImpersonation } from "./impersonation.ts";
import { InProcessTransport, type ServeAuthenticated } from "./in-process.ts";
import { OPENAPI_V2_PROTOBUF, openapiV2, openapiV2Protobuf, openapiV3, openapiV3Index } from "./openapi.ts";
import { reconcileBootstrapPolicy } from "./rbac-bootstrap.ts";
import { RbacCache } from "./rbac-cache.ts";
import { readTokenAuthFile } from "./token-file.ts";
import { ObjectRegistry } from "./registry.ts";
import { Aggregator } from "./aggregator/aggregator.ts";
import { aggregatedApiGroups, aggregatedDiscoveryItems } from "./aggregator/discovery.ts";
import { ensureFrontProxyCredentials, EXTENSION_AUTH_CONFIGMAP, extensionAuthData, type FrontProxyCredentials } from "./aggregator/front-proxy.ts";
import { proxyToBackend } from "./aggregator/proxy.ts";
import { checkBoolParams } from "./query-params.ts";
import { MAX_BODY_BYTES } from "./request-body.ts";
import { METRICS_GROUP, METRICS_VERSION, serveMetricsApi } from "./metrics-api.ts";
import { measureRequest, METRICS_PATH, serveMetrics } from "./request-metrics.ts";
import { ApiServerEndpoints, type ApiEndpoint } from "./apiserver-endpoints.ts";
import {
  handleSelfSubjectAccessReview,
  handleSelfSubjectReview,
  handleSelfSubjectRulesReview,
  handleSubjectAccessReview,
  LOCAL_SUBJECT_ACCESS_REVIEW_PATH,
  SELF_SUBJECT_ACCESS_REVIEW_PATH,
  SELF_SUBJECT_REVIEW_PATH,
  SELF_SUBJECT_RULES_REVIEW_PATH,
  SUBJECT_ACCESS_REVIEW_PATH,
} from "./reviews.ts";
import { findResource, groupVersions, resourceTypes, verbsOf } from "./resources.ts";
import { errMethodNotAllowed, errPathNotFound, errUnauthorized } from "./status.ts";
import { SYSTEM_PRIORITY_CLASSES } from "./strategies/index.ts";

export const KUBERNETES_VERSION = { major: "1", minor: "32", gitVersion: "v1.32.4-gantry" };

export interface ApiServerOptions {
  dataDir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** An open store to use (the caller closes it); else storeSpec is opened. */
  store?: Store;
  /** Defaults to the SQLite store at DATA_DIR/state.db. */
  storeSpec?: StoreSpec;
  maxBodyBytes?: number;
  bookmarkIntervalMs?: number;
  /** Keep this much watch history (ms) before compacting; 0 turns compaction off. */
  historyMs?: number;
  log?: (message: string) => void;
  /** kube-apiserver's --token-auth-file: a CSV of static bearer tokens (token,user,uid,"group1,group2"). */
  tokenAuthFile?: string;
  /** How often APIServices backed by extension servers are checked (default 10 s). */
  aggregatorIntervalMs?: number;
  /**
   * Starts what runs beside the API in this process (the controller manager), handed the
   * in-process transport once the server listens; stopped first on close. Injected, so the
   * API server does not import the controllers.
   */
  startControllers?: (transport: ApiTransport) => Promise<{ stop(): Promise<void> }>;
  /** The shortest lifetime a TokenRequest may ask for, in seconds (kube: 600; tests lower it). */
  minTokenExpirationSeconds?: number;
}

export interface RunningApiServer {
  url: string;
  port: number;
  kubeconfigPath: string;
  adminToken: string;
  caCert: string;
  store: Store;
  registry: ObjectRegistry;
  /**
   * A client transport for code in this process (the controller manager): requests take
   * the path an HTTPS request takes after authentication, as `user` (the controller
   * manager's identity by default).
   */
  inProcessTransport(user?: UserInfo): ApiTransport;
  /**
   * Points the `kubernetes` Service at ADDRESS, where pods reach this server (kube-apiserver's
   * --advertise-address): listening there too when the server listens on loopback only.
   */
  advertise(address: string): Promise<void>;
  close(): Promise<void>;
}

type ActionHandler = (ctx: HandlerContext, r: ResourceRequest) => Promise<void>;

/** What the server's routing has besides the handlers' context: the authorizer chain. */
interface ServingContext extends HandlerContext {
  authorizer: RequestAuthorizer;
}

/** Handlers of the resources' actions (resources.ts), by "<group>/<plural>/<action>" and method. */
const ACTIONS: Record<string, Record<string, ActionHandler>> = {
  "/namespaces/finalize": { PUT: (ctx, r) => handleUpdate(ctx, { ...r, subresource: undefined }) },
  "/pods/binding": { POST: handleBinding },
  "/pods/eviction": { POST: handleEviction },
  "/serviceaccounts/token": { POST: handleTokenRequest },
};

/** Resources that are only an action (bindings: POST a Binding), by "<group>/<plural>". */
const ACTION_RESOURCES: Record<string, ActionHandler> = {
  "/bindings": handleBinding,
};

const BOOTSTRAP_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** Paths readable without a token, as Kubernetes' system:public-info-viewer allows. */
const PUBLIC_PATHS = new Set(["/version", "/healthz", "/livez", "/readyz"]);

export async function startApiServer(opts: ApiServerOptions): Promise<RunningApiServer> {
  const log = opts.log ?? (() => {});
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // The serving certificate also names the `kubernetes` Service, which pods dial (in-cluster clients check the name).
  const hosts = [opts.host, API_SERVICE_IP, ...API_SERVICE_NAMES].filter((h) => h && h !== "0.0.0.0" && h !== "::");
  const creds = ensureCredentials(opts.dataDir, hosts);
  const ownsStore = !opts.store;
  const store = opts.store ?? (await openStore(opts.storeSpec ?? { kind: "sqlite", path: join(opts.dataDir, "state.db") }));
  const registry = new ObjectRegistry(timedStore(store));
  await bootstrap(registry);
  await reconcileBootstrapPolicy(registry);
  const rbacCache = new RbacCache(registry, log);
  await rbacCache.start();
  await registry.claimHeldValues(log);

  const serviceAccounts = new ServiceAccountAuthenticator(new ServiceAccountTokenSigner(ensureServiceAccountKey(opts.dataDir)), [SERVICE_ACCOUNT_ISSUER], registry, TOKEN_CACHE_MS);
  const authenticator = new Authenticator(creds.adminToken, registry, TOKEN_CACHE_MS, async (token) => {
    const r = await serviceAccounts.authenticate(token);
    return "user" in r ? r.user : undefined;
  }, opts.tokenAuthFile ? readTokenAuthFile(opts.tokenAuthFile) : undefined);
  const frontProxy = ensureFrontProxyCredentials(opts.dataDir);
  await publishExtensionAuth(registry, creds.caCert, frontProxy);
  const aggregator = new Aggregator(registry, frontProxy, log, opts.aggregatorIntervalMs);
  await aggregator.start();

  const watches = new Set<() => void>();
  const ctx: ServingContext = {
    registry,
    authorizer: new RequestAuthorizer(registry, rbacCache),
    maxBodyBytes: opts.maxBodyBytes ?? MAX_BODY_BYTES,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 30_000,
    trackWatch(stop) {
      watches.add(stop);
      return () => watches.delete(stop);
    },
    kubelets: {
      caCert: creds.caCert,
      clientCert: creds.kubeletClient.cert,
      clientKey: creds.kubeletClient.key,
      signServingCert: (csr, node, addresses) => signKubeletServingCert(opts.dataDir, csr, node, addresses),
    },
    serviceAccountTokens: {
      authenticator: serviceAccounts,
      minExpirationSeconds: opts.minTokenExpirationSeconds ?? MIN_TOKEN_SECONDS,
      async review(token, audiences) {
        if (looksLikeJwt(token)) {
          const r = await serviceAccounts.authenticate(token, audiences);
          return "user" in r ? { user: r.user, audiences: r.claims.aud.filter((a) => (audiences ?? serviceAccounts.audiences).includes(a)) } : r;
        }
        const user = await authenticator.authenticate(`Bearer ${token}`);
        return user ? { user, audiences: audiences ?? serviceAccounts.audiences } : { error: "invalid bearer token" };
      },
    },
    log,
    aggregation: { aggregator, frontProxy },
  };

  const failed = (req: IncomingMessage, res: ServerResponse) => (err: unknown) => {
    if (!(err instanceof GantryError)) log(`api: ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
    sendError(res, err);
  };
  const server: Server = createServer({ cert: creds.cert, key: creds.key }, (req, res) => {
    measureRequest(req, res);
    handleRequest(ctx, authenticator, req, res).catch(failed(req, res));
  });
  // Upgrades (exec, attach, port-forward) take the same path as any request, with a response
  // written to their socket until a handler takes the socket over (pod-streams.ts).
  // Upgraded connections leave the HTTP server's bookkeeping: they are ended here on close.
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    upgradeSockets.set(req, { socket, head });
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.on("finish", () => socket.end());
    socket.on("error", () => socket.destroy());
    measureRequest(req, res);
    handleRequest(ctx, authenticator, req, res).catch(failed(req, res));
  });
  const serveAuthenticated: ServeAuthenticated = (user, req, res) => {
    measureRequest(req, res);
    return routeAuthenticated(ctx, user, undefined, req, res).catch(failed(req, res));
  };
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  }).catch((err: unknown) => {
    rbacCache.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host.includes(":") ? `[${opts.host}]` : opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host;
  const url = `https://${hostForUrl}:${port}`;
  // Servers sharing an etcd store each keep a Lease; the Service leads to every live one.
  const apiEndpoints = opts.storeSpec?.kind === "etcd" ? new ApiServerEndpoints(registry, (eps) => writeApiEndpoints(registry, eps), log) : undefined;
  await publishApiService(registry, opts.host, port, apiEndpoints).catch((err: unknown) => log(`api: could not publish the kubernetes Service: ${(err as Error).message}`));
  // A second listener for pods, when the server listens on loopback only (advertise()).
  let podListener: Server | undefined;
  let advertiseRetry: NodeJS.Timeout | undefined;
  let closing = false;
  const kubeconfigPath = join(opts.dataDir, "admin.kubeconfig");
  writeFileAtomic(kubeconfigPath, adminKubeconfig(url, creds), 0o600);

  // Watch history is kept for a while, then compacted; a watch from before it gets 410 Gone.
  let compactTimer: NodeJS.Timeout | undefined;
  const historyMs = opts.historyMs ?? 5 * 60_000;
  if (historyMs > 0) {
    let marks: { at: number; rev: number }[] = [];
    compactTimer = setInterval(async () => {
      try {
        const now = Date.now();
        marks.push({ at: now, rev: await store.currentRevision() });
        const old = marks.filter((m) => now - m.at >= historyMs);
        if (old.length) {
          await store.compact(old[old.length - 1]!.rev);
          marks = marks.filter((m) => now - m.at < historyMs);
        }
      } catch (err) {
        log(`api: compaction failed: ${(err as Error).message}`);
      }
    }, Math.min(historyMs, 60_000));
    compactTimer.unref();
  }
  // Build the OpenAPI documents now rather than on kubectl apply's first request.
  void openapiV3Index().catch((err: unknown) => log(`api: OpenAPI documents failed: ${(err as Error).message}`));
  log(`api: serving on ${url}; admin kubeconfig at ${kubeconfigPath}`);
  const controllers = await opts.startControllers?.(new InProcessTransport(serveAuthenticated, undefined, creds.caCert));

  return {
    url,
    port,
    kubeconfigPath,
    adminToken: creds.adminToken,
    caCert: creds.caCert,
    store,
    registry,
    inProcessTransport: (user) => new InProcessTransport(serveAuthenticated, user, creds.caCert),
    async advertise(address) {
      if (!LOOPBACK.test(opts.host)) return publishApiService(registry, address, port, apiEndpoints);
      if (podListener) return;
      // Pods cannot reach loopback through the Service's DNAT: the same server also listens
      // on ADDRESS (the node's pod bridge), on the same port when it is free. The bridge gets
      // its address with the first pod, so the listen is tried again until it exists (as
      // cluster DNS does); the Service leads there once it listens.
      const extra = createServer({ cert: creds.cert, key: creds.key });
      podListener = extra;
      extra.on("request", (req: IncomingMessage, res: ServerResponse) => server.emit("request", req, res));
      extra.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => server.emit("upgrade", req, socket, head));
      extra.keepAliveTimeout = server.keepAliveTimeout;
      const listen = (p: number) =>
        new Promise<void>((resolve, reject) => {
          extra.once("error", reject);
          extra.listen(p, address, () => {
            extra.off("error", reject);
            resolve();
          });
        });
      const attempt = async (): Promise<void> => {
        if (closing) return;
        try {
          await listen(port).catch((err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? listen(0) : Promise.reject(err)));
          const advertised = (extra.address() as AddressInfo).port;
          await publishApiService(registry, address, advertised, apiEndpoints);
          log(`api: the kubernetes Service (${API_SERVICE_IP}:443) leads to ${address}:${advertised}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EADDRNOTAVAIL") log(`api: cannot listen for pods on ${address}: ${(err as Error).message}; trying again`);
          if (!extra.listening) advertiseRetry = setTimeout(() => void attempt(), 500);
        }
      };
      await attempt();
    },
    async close() {
      closing = true;
      if (advertiseRetry) clearTimeout(advertiseRetry);
      // Controllers first: their watches would otherwise be resumed as the server ends them.
      await controllers?.stop();
      await apiEndpoints?.stop();
      await aggregator.stop();
      if (compactTimer) clearInterval(compactTimer);
      for (const stop of [...watches]) stop();
      rbacCache.close();
      authenticator.close();
      for (const socket of upgraded) socket.destroy();
      for (const s of [server, podListener]) {
        if (!s?.listening) continue;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      if (ownsStore) await store.close();
    },
  };
}

async function bootstrap(registry: ObjectRegistry): Promise<void> {
  const nsType = resourceTypes.find((r) => r.kind === "Namespace")!;
  for (const name of BOOTSTRAP_NAMESPACES) {
    if (!(await registry.tryGet(nsType, undefined, name))) {
      await registry.create(nsType, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name } }).catch((err: unknown) => {
        if (!(err instanceof GantryError && err.code === "ALREADY_EXISTS")) throw err;
      });
    }
  }
  // The built-in PriorityClasses (kube-apiserver's scheduling post-start hook).
  const pcType = resourceTypes.find((r) => r.kind === "PriorityClass")!;
  for (const pc of SYSTEM_PRIORITY_CLASSES) {
    if (await registry.tryGet(pcType, undefined, pc.name)) continue;
    await registry.create(pcType, undefined, { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: pc.name }, value: pc.value, description: pc.description }).catch((err: unknown) => {
      if (!(err instanceof GantryError && err.code === "ALREADY_EXISTS")) throw err;
    });
  }
}

/** kube-system/extension-apiserver-authentication: how extension API servers authenticate this server's proxied requests. */
async function publishExtensionAuth(registry: ObjectRegistry, clusterCaCert: string, fp: FrontProxyCredentials): Promise<void> {
  const cmType = resourceTypes.find((r) => r.kind === "ConfigMap")!;
  const data = extensionAuthData(clusterCaCert, fp);
  if (!(await registry.tryGet(cmType, "kube-system", EXTENSION_AUTH_CONFIGMAP))) {
    await registry.create(cmType, "kube-system", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: EXTENSION_AUTH_CONFIGMAP }, data }).catch((err: unknown) => {
      if (!(err instanceof GantryError && err.code === "ALREADY_EXISTS")) throw err;
    });
  } else {
    await registry.mutate(cmType, "kube-system", EXTENSION_AUTH_CONFIGMAP, (cur) => ({ ...cur, data }));
  }
}

/** The first address of the service range, as kube-apiserver reserves it for itself. */
export const API_SERVICE_IP = "10.43.0.1";
/** The names in-cluster clients may use for the API (kubeadm puts them in the serving certificate). */
const API_SERVICE_NAMES = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];
const LOOPBACK = /^(127\.|::1$|localhost$)/;

/**
 * The `kubernetes` Service, Endpoints and EndpointSlice in `default`, which in-cluster clients
 * use to find the API server (kube-apiserver's bootstrap controller and master endpoint
 * reconciler keep the same objects; the service proxy reads the slice).
 */
/** The `kubernetes` Service, and its endpoints at host:port — or, with a reconciler (servers sharing a store), at every live server's address. */
async function publishApiService(registry: ObjectRegistry, host: string, port: number, shared?: ApiServerEndpoints): Promise<void> {
  const svcType = resourceTypes.find((r) => r.kind === "Service")!;
  const labels = { component: "apiserver", provider: "kubernetes" };
  const ports = [{ name: "https", port: 443, protocol: "TCP", targetPort: port }];
  const svc = await registry.tryGet(svcType, "default", "kubernetes");
  if (!svc) {
    await registry.create(svcType, "default", { metadata: { name: "kubernetes", labels }, spec: { clusterIP: API_SERVICE_IP, type: "ClusterIP", ports } });
  } else {
    await registry.mutate(svcType, "default", "kubernetes", (cur) => ({ ...cur, spec: { ...(cur.spec as object), ports } }));
  }
  const address = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  if (!/^[\d.]+$|:/.test(address)) return;
  if (shared) return shared.publish(address, port);
  await writeApiEndpoints(registry, [{ ip: address, port }]);
}

/** The `kubernetes` Endpoints (a subset per port) and EndpointSlice (the addresses on the first port); left alone when they already say so. */
async function writeApiEndpoints(registry: ObjectRegistry, eps: ApiEndpoint[]): Promise<void> {
  const epType = resourceTypes.find((r) => r.kind === "Endpoints")!;
  const byPort = new Map<number, string[]>();
  for (const e of eps) byPort.set(e.port, [...(byPort.get(e.port) ?? []), e.ip]);
  const subsets = [...byPort].map(([port, ips]) => ({ addresses: ips.map((ip) => ({ ip })), ports: [{ name: "https", port, protocol: "TCP" }] }));
  const endpoints = { metadata: { name: "kubernetes", labels: { "endpointslice.kubernetes.io/skip-mirror": "true" } }, subsets };
  const current = await registry.tryGet(epType, "default", "kubernetes");
  if (!current) await registry.create(epType, "default", endpoints);
  else if (JSON.stringify((current as { subsets?: unknown }).subsets) !== JSON.stringify(subsets)) await registry.mutate(epType, "default", "kubernetes", (cur) => ({ ...cur, subsets: endpoints.subsets }));
  const [port, ips] = [...byPort][0]!;
  const sliceType = resourceTypes.find((r) => r.kind === "EndpointSlice")!;
  const slice = {
    metadata: { name: "kubernetes", labels: { "kubernetes.io/service-name": "kubernetes" } },
    addressType: ips[0]!.includes(":") ? "IPv6" : "IPv4",
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: "https", port, protocol: "TCP" }],
  };
  const cur = await registry.tryGet(sliceType, "default", "kubernetes");
  if (!cur) await registry.create(sliceType, "default", slice);
  else if (JSON.stringify([cur.addressType, cur.endpoints, cur.ports]) !== JSON.stringify([slice.addressType, slice.endpoints, slice.ports])) {
    await registry.mutate(sliceType, "default", "kubernetes", (c) => ({ ...c, addressType: slice.addressType, endpoints: slice.endpoints, ports: slice.ports }));
  }
}

async function handleRequest(ctx: ServingContext, authenticator: Authenticator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "https://gantry.invalid");
  const path = url.pathname.replace(/\/+$/, "") || "/";
  if (PUBLIC_PATHS.has(path)) return servePublic(res, path);
  const user = await authenticator.authenticate(req.headers.authorization);
  if (!user) {
    req.resume();
    throw errUnauthorized();
  }
  // The acting user may be another (impersonation); a watch still ends with the caller's credential.
  const acting = wantsImpersonation(req) ? await impersonatedUser(ctx.authorizer, user, req) : user;
  return routeAuthenticated(ctx, acting, (stop) => authenticator.bindToCredential(user, stop), req, res);
}

/** Everything after authentication: what an HTTPS request and an in-process one share. */
async function routeAuthenticated(ctx: ServingContext, user: UserInfo, bindToCredential: ResourceRequest["bindToCredential"], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "https://gantry.invalid");
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  // Every authenticated user may ask who it is and what it may do (system:basic-user).
  if (method === "POST" && path === SELF_SUBJECT_REVIEW_PATH) return handleSelfSubjectReview(ctx, req, res, user);
  if (method === "POST" && path === SELF_SUBJECT_ACCESS_REVIEW_PATH) return handleSelfSubjectAccessReview(ctx, ctx.authorizer, req, res, user);
  if (method === "POST" && path === SELF_SUBJECT_RULES_REVIEW_PATH) return handleSelfSubjectRulesReview(ctx, ctx.authorizer, req, res, user);
  if (method === "POST" && path === SUBJECT_ACCESS_REVIEW_PATH) return handleSubjectAccessReview(ctx, ctx.authorizer, req, res, user);
  const local = method === "POST" ? LOCAL_SUBJECT_ACCESS_REVIEW_PATH.exec(path) : null;
  if (local) return handleSubjectAccessReview(ctx, ctx.authorizer, req, res, user, decodeURIComponent(local[1]!));
  if (method === "POST" && path === SERVING_CERT_PATH) return handleServingCert(ctx, req, res, user);
  if (path === METRICS_PATH) return serveMetrics(ctx.authorizer, user, method, res);
  if (method === "POST" && path === TOKEN_REVIEW_PATH) return handleTokenReview(ctx, req, res, user);
  if (method === "GET" && (path === JWKS_PATH || path === OPENID_CONFIGURATION_PATH)) return handleIssuerDiscovery(ctx, res, path);
  let segs: string[];
  try {
    segs = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    throw errPathNotFound();
  }
  // An escaped "/" inside a segment would address another key in the store.
  if (segs.some((s) => s.includes("/") || s === "." || s === "..")) throw errPathNotFound();
  // metrics.k8s.io is answered here unless an APIService sends it to a real metrics-server (then the aggregation layer proxies it).
  const metricsServer = ctx.aggregation?.aggregator.backendFor(METRICS_GROUP, METRICS_VERSION);
  if (segs[0] === "apis" && segs[1] === METRICS_GROUP && segs[2] === METRICS_VERSION && segs.length > 3 && !metricsServer) return serveMetricsApi(ctx, ctx.authorizer, user, req, res, url, segs.slice(3));
  // Discovery and OpenAPI documents are non-resource paths: RBAC's system:discovery grants them to every authenticated user.
  const documents = segs[0] === "openapi" || ((segs[0] === "api" || segs[0] === "apis") && segs.length < 3 + (segs[0] === "apis" ? 1 : 0));
  if (documents && method === "GET" && !(await ctx.authorizer.authorizeNonResource(user, "get", path))) throw errPathForbidden(user, "get", path);
  if (segs[0] === "api" || segs[0] === "apis") {
    if (method !== "GET" && segs.length < 3 + (segs[0] === "apis" ? 1 : 0)) throw errMethodNotAllowed(method, path);
    return routeApi(ctx, { user, bindToCredential }, req, res, url, segs);
  }
  if (segs[0] === "openapi") return routeOpenapi(req, res, segs);
  throw errPathNotFound();
}

function servePublic(res: ServerResponse, path: string): void {
  if (path === "/version") return sendJson(res, 200, { ...KUBERNETES_VERSION, gitCommit: "", gitTreeState: "clean", buildDate: "2026-01-01T00:00:00Z", goVersion: "node", compiler: "node", platform: `${process.platform}/${process.arch}` });
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("ok");
}

async function routeOpenapi(req: IncomingMessage, res: ServerResponse, segs: string[]): Promise<void> {
  if (segs[1] === "v2" && segs.length === 2) {
    if (String(req.headers.accept ?? "").includes(OPENAPI_V2_PROTOBUF)) {
      const body = openapiV2Protobuf();
      // Go's mime parser rejects the "@" of the Accept form, so the reply names it with a ".".
      res.writeHead(200, { "Content-Type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "Content-Length": body.length });
      return void res.end(body);
    }
    const doc = await openapiV2();
    res.writeHead(200, { "Content-Type": "application/json" });
    return void res.end(doc);
  }
  if (segs[1] === "v3") {
    if (segs.length === 2) return sendJson(res, 200, await openapiV3Index());
    const rest = segs.slice(2);
    const [group, version] = rest[0] === "api" && rest.length === 2 ? ["", rest[1]!] : rest[0] === "apis" && rest.length === 3 ? [rest[1]!, rest[2]!] : [undefined, undefined];
    if (group !== undefined && version !== undefined) {
      const doc = await openapiV3(group, version);
      if (doc) {
        res.writeHead(200, { "Content-Type": "application/json", ETag: `"${doc.hash}"`, "Cache-Control": "public, immutable" });
        return void res.end(doc.json);
      }
    }
  }
  throw errPathNotFound();
}

async function routeApi(ctx: ServingContext, caller: { user: UserInfo; bindToCredential: ResourceRequest["bindToCredential"] }, req: IncomingMessage, res: ServerResponse, url: URL, segs: string[]): Promise<void> {
  const core = segs[0] === "api";
  // Discovery documents.
  if (segs.length === 1) {
    const aggregated = wantsAggregated(req.headers.accept);
    if (aggregated) {
      const apiVersion = aggregated === AGGREGATED_V2BETA1 ? "apidiscovery.k8s.io/v2beta1" : "apidiscovery.k8s.io/v2";
      const doc = aggregatedDiscovery(core, apiVersion);
      if (!core && ctx.aggregation) doc.items.push(...aggregatedDiscoveryItems(ctx.aggregation.aggregator.availableBackends(), localGroups()));
      const body = JSON.stringify(doc) + "\n";
      res.writeHead(200, { "Content-Type": aggregated, "Content-Length": Buffer.byteLength(body), Vary: "Accept" });
      return void res.end(body);
    }
    if (core) return sendJson(res, 200, apiVersions(`${req.socket.localAddress}:${req.socket.localPort}`), { Vary: "Accept" });
    const list = apiGroupList();
    if (ctx.aggregation) list.groups.push(...aggregatedApiGroups(ctx.aggregation.aggregator.availableBackends(), localGroups()));
    return sendJson(res, 200, list, { Vary: "Accept" });
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (core) {
    group = "";
    version = segs[1]!;
    rest = segs.slice(2);
  } else {
    group = segs[1]!;
    if (segs.length === 2) {
      const g = apiGroup(group);
      if (g) return sendJson(res, 200, g);
      const remote = ctx.aggregation ? aggregatedApiGroups(ctx.aggregation.aggregator.availableBackends(), localGroups()).find((x) => x.name === group) : undefined;
      if (!remote) throw errPathNotFound();
      return sendJson(res, 200, { kind: "APIGroup", apiVersion: "v1", ...remote });
    }
    const backend = ctx.aggregation?.aggregator.backendFor(group, segs[2]!);
    if (backend) return proxyAggregated(ctx, caller.user, backend, req, res, url, segs.slice(3));
    version = segs[2]!;
    rest = segs.slice(3);
  }
  if (rest.length === 0) {
    const list = apiResourceList(group, version);
    if (!list) throw errPathNotFound();
    return sendJson(res, 200, list);
  }
  // /namespaces/{ns}/{plural}/... when {plural} is a namespaced resource; else cluster-scoped.
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const inner = findResource(group, version, rest[2]!);
    if (inner?.namespaced) {
      namespace = rest[1]!;
      rest = rest.slice(2);
    }
  }
  const rt = findResource(group, version, rest[0]!);
  // nodes/NAME/proxy/PATH...: the path after "proxy" is the kubelet's.
  const proxyTail = rt && rt.group === "" && rt.plural === "nodes" && rest[2] === "proxy" ? rest.slice(3) : undefined;
  if (!rt || (rt.namespaced && namespace === undefined && rest.length > 1) || (!rt.namespaced && namespace !== undefined) || (rest.length > 3 && !proxyTail)) {
    throw errPathNotFound();
  }
  const r: ResourceRequest = { req, res, url, rt, namespace, name: rest[1], subresource: rest[2], bindToCredential: caller.bindToCredential, user: caller.user };
  const method = req.method ?? "GET";
  checkBoolParams(url.searchParams);
  await ctx.authorizer.enforce(caller.user, r, method);
  // A version served only as a way into another's storage (resources.ts `conversion`) answers its verbs alone.
  if (rt.conversion && (r.subresource !== undefined || !verbsOf(rt).includes(requestVerb(method, r)))) return methodNotAllowed(r);
  const only = ACTION_RESOURCES[`${rt.group}/${rt.plural}`];
  if (only) {
    if (r.name !== undefined || method !== "POST" || !verbsOf(rt).includes("create")) return methodNotAllowed(r);
    return only(ctx, r);
  }
  if (r.name === undefined) {
    if (method === "GET") return handleList(ctx, r);
    if (method === "POST") {
      if (rt.namespaced && namespace === undefined) throw errMethodNotAllowed("POST", `${rt.plural} across all namespaces`);
      return handleCreate(ctx, r);
    }
    if (method === "DELETE") return handleDeleteCollection(ctx, r);
    return methodNotAllowed(r);
  }
  if (r.subresource === undefined) {
    if (method === "GET") return handleGet(ctx, r);
    if (method === "PUT") return handleUpdate(ctx, r);
    if (method === "PATCH") return handlePatch(ctx, r);
    if (method === "DELETE") return handleDelete(ctx, r);
    return methodNotAllowed(r);
  }
  if (r.subresource === "status" && rt.status) {
    if (method === "GET") return handleGet(ctx, r);
    if (method === "PUT") return handleUpdate(ctx, r);
    if (method === "PATCH") return handlePatch(ctx, r);
    return methodNotAllowed(r);
  }
  if (r.subresource === "scale" && rt.scale) {
    if (method === "GET") return handleGetScale(ctx, r);
    if (method === "PUT") return handleUpdate(ctx, r);
    if (method === "PATCH") return handlePatch(ctx, r);
    return methodNotAllowed(r);
  }
  const action = rt.actions?.some((a) => a.name === r.subresource) ? ACTIONS[`${rt.group}/${rt.plural}/${r.subresource}`] : undefined;
  if (action) {
    const handler = action[method];
    return handler ? handler(ctx, r) : methodNotAllowed(r);
  }
  if (proxyTail) return handleNodeProxy(ctx, r, proxyTail);
  if (rt.connect?.includes(r.subresource)) return rt.group === "" && rt.plural === "pods" ? handlePodStream(ctx, r) : handleConnect(ctx, r);
  throw errPathNotFound();
}

const localGroups = () => new Set(groupVersions().map((gv) => gv.group));

/**
 * A request under an aggregated group/version: authorized here as any resource request (the
 * extension server may check again with a SubjectAccessReview), then proxied.
 */
async function proxyAggregated(ctx: ServingContext, user: UserInfo, backend: Parameters<typeof proxyToBackend>[0], req: IncomingMessage, res: ServerResponse, url: URL, rest: string[]): Promise<void> {
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 0) {
    const a = { verb: requestVerb(req.method ?? "GET", { name: rest[1], url }), group: backend.group, resource: rest[0]!, subresource: rest[2], namespace, name: rest[1] };
    const decision = await ctx.authorizer.authorize(user, a);
    if (!decision.allowed) throw errRequestForbidden(user, a, decision.reason);
  }
  await proxyToBackend(backend, ctx.aggregation!.frontProxy, user, req, res);
}
