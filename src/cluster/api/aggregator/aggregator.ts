// The API aggregation layer (kube-aggregator, cut down): APIService objects map a group/version
// either to this server ("Local", registered at start for every group/version it serves) or
// to an extension API server behind a Service. For the latter it keeps, per APIService, where
// the Service's endpoints are and whether the backend answers its discovery document (the
// Available condition: ServiceNotFound, ServiceAccessError, MissingEndpoints,
// FailedDiscoveryCheck, Passed), checked when an APIService changes and every interval; the
// backend's resource list feeds this server's discovery, and requests under /apis/G/V are
// proxied there (proxy.ts). Backends are reached through their endpoints' addresses (as
// kube-apiserver's --enable-aggregator-routing), since this server's host need not route
// ClusterIPs.
import { request as httpsRequest } from "node:https";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { GantryError } from "../../../common/errors.ts";
import { isPlainObject, type KubeObject } from "../objects.ts";
import type { ObjectRegistry } from "../registry.ts";
import { groupVersions, resourceTypes, type ResourceType } from "../resources.ts";
import type { FrontProxyCredentials } from "./front-proxy.ts";

export const AUTOMANAGED_LABEL = "kube-aggregator.kubernetes.io/automanaged";

/** Group priorities of the built-in groups as kube-apiserver registers them (others: 1000). */
const LOCAL_PRIORITIES: Record<string, [number, number]> = {
  "": [18000, 1],
  apps: [17800, 15],
  "authentication.k8s.io": [17700, 15],
  "authorization.k8s.io": [17600, 15],
  autoscaling: [17500, 15],
  batch: [17400, 15],
  "networking.k8s.io": [17200, 15],
  policy: [17100, 15],
  "rbac.authorization.k8s.io": [17000, 15],
  "storage.k8s.io": [16800, 15],
  "scheduling.k8s.io": [16600, 15],
  "coordination.k8s.io": [16500, 15],
  "discovery.k8s.io": [16200, 15],
  "apiregistration.k8s.io": [18000, 15],
};

const apiServiceType = (): ResourceType => resourceTypes.find((r) => r.kind === "APIService")!;
const serviceType = (): ResourceType => resourceTypes.find((r) => r.kind === "Service")!;
const endpointsType = (): ResourceType => resourceTypes.find((r) => r.kind === "Endpoints")!;

/** An APIService served by an extension API server. */
export interface Backend {
  name: string;
  group: string;
  version: string;
  groupPriorityMinimum: number;
  versionPriority: number;
  service: { namespace: string; name: string; port: number };
  caBundle: string | undefined;
  insecureSkipTLSVerify: boolean;
  /** Where its Service's endpoints are, once resolved. */
  target?: { host: string; port: number };
  /** Its APIResourceList, once its discovery check passed. */
  resources?: { resources?: Record<string, unknown>[] };
  available: boolean;
}

interface Availability {
  status: "True" | "False";
  reason: string;
  message: string;
}

const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);

function backendOf(o: KubeObject): Backend | undefined {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  if (!isPlainObject(spec.service)) return undefined;
  return {
    name: o.metadata.name!,
    group: String(spec.group ?? ""),
    version: String(spec.version ?? ""),
    groupPriorityMinimum: num(spec.groupPriorityMinimum, 1000),
    versionPriority: num(spec.versionPriority, 15),
    service: { namespace: String(spec.service.namespace), name: String(spec.service.name), port: num(spec.service.port, 443) },
    caBundle: typeof spec.caBundle === "string" && spec.caBundle ? Buffer.from(spec.caBundle, "base64").toString("utf8") : undefined,
    insecureSkipTLSVerify: spec.insecureSkipTLSVerify === true,
    available: false,
  };
}

/** TLS options to reach a backend: the front-proxy client certificate, and the backend checked as `<service>.<namespace>.svc`. */
export function backendTls(b: Backend, fp: FrontProxyCredentials) {
  const serverName = `${b.service.name}.${b.service.namespace}.svc`;
  return {
    cert: fp.clientCert,
    key: fp.clientKey,
    servername: serverName,
    ...(b.insecureSkipTLSVerify ? { rejectUnauthorized: false } : { ca: b.caBundle ?? [], rejectUnauthorized: true, checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(serverName, cert) }),
  };
}

export class Aggregator {
  private backends = new Map<string, Backend>();
  private timer: NodeJS.Timeout | undefined;
  private watch: { cancel(): void } | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly registry: ObjectRegistry,
    private readonly frontProxy: FrontProxyCredentials,
    private readonly log: (message: string) => void,
    private readonly intervalMs = 10_000,
  ) {}

  /** Registers the Local APIServices, then checks every remote one now, on every change and every interval. */
  async start(): Promise<void> {
    await this.registerLocal();
    const rt = apiServiceType();
    const rv = (await this.registry.list(rt, undefined, { limit: 1 })).resourceVersion;
    this.watch = await this.registry.watch(rt, undefined, rv, {}, () => this.kick(), (err) => this.log(`aggregator: APIService watch ended: ${err.message}`));
    // The first check runs in the background: a backend that does not answer must not hold the server's start.
    this.kick();
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.watch?.cancel();
    await this.running;
  }

  /** The remote backend serving GROUP/VERSION, available or not. */
  backendFor(group: string, version: string): Backend | undefined {
    for (const b of this.backends.values()) if (b.group === group && b.version === version) return b;
    return undefined;
  }

  /** Available remote backends, for discovery: highest group priority, then version priority first. */
  availableBackends(): Backend[] {
    return [...this.backends.values()].filter((b) => b.available && b.resources).sort((a, b) => b.groupPriorityMinimum - a.groupPriorityMinimum || b.versionPriority - a.versionPriority || (a.name < b.name ? -1 : 1));
  }

  /** Runs a check of every APIService now, or once more after the one running. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.sync().catch((err: unknown) => this.log(`aggregator: ${(err as Error).message}`));
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }

  /** Creates a Local APIService for each group/version served here; drops automanaged ones no longer served. */
  private async registerLocal(): Promise<void> {
    const rt = apiServiceType();
    const served = new Set<string>();
    for (const { group, version } of groupVersions()) {
      const name = `${version}.${group}`;
      served.add(name);
      if (await this.registry.tryGet(rt, undefined, name)) continue;
      const [gpm, vp] = LOCAL_PRIORITIES[group] ?? [1000, 15];
      await this.registry
        .create(rt, undefined, { apiVersion: "apiregistration.k8s.io/v1", kind: "APIService", metadata: { name, labels: { [AUTOMANAGED_LABEL]: "onstart" } }, spec: { group, version, groupPriorityMinimum: gpm, versionPriority: vp } })
        .catch((err: unknown) => {
          if (!(err instanceof GantryError && err.code === "ALREADY_EXISTS")) throw err;
        });
    }
    for (const o of (await this.registry.list(rt, undefined)).items) {
      if (o.metadata.labels?.[AUTOMANAGED_LABEL] && !served.has(o.metadata.name!) && !isPlainObject((o.spec as Record<string, unknown> | undefined)?.service)) {
        await this.registry.delete(rt, undefined, o.metadata.name!).catch(() => {});
      }
    }
  }

  private async sync(): Promise<void> {
    const rt = apiServiceType();
    const next = new Map<string, Backend>();
    for (const o of (await this.registry.list(rt, undefined)).items) {
      const b = backendOf(o);
      const availability = b ? await this.check(b) : { status: "True" as const, reason: "Local", message: "Local APIServices are always available" };
      if (b) {
        b.available = availability.status === "True";
        next.set(b.name, b);
      }
      await this.writeAvailability(o, availability);
    }
    this.backends = next;
  }

  private async check(b: Backend): Promise<Availability> {
    const { namespace, name, port } = b.service;
    const svc = await this.registry.tryGet(serviceType(), namespace, name);
    if (!svc) return { status: "False", reason: "ServiceNotFound", message: `service/${name} in "${namespace}" is not present` };
    const svcPorts = (isPlainObject(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports : []) as { name?: string; port: number; targetPort?: number | string }[];
    const svcPort = svcPorts.find((p) => p.port === port);
    if (!svcPort) return { status: "False", reason: "ServiceAccessError", message: `service/${name} in "${namespace}" is not listening on port ${port}` };
    const ep = await this.registry.tryGet(endpointsType(), namespace, name);
    type Subset = { addresses?: { ip: string }[]; ports?: { name?: string; port: number }[] };
    const subsets = (ep && Array.isArray(ep.subsets) ? ep.subsets : []) as Subset[];
    let target: Backend["target"];
    for (const s of subsets) {
      const p = (s.ports ?? []).find((x) => (x.name ?? "") === (svcPort.name ?? "")) ?? (typeof svcPort.targetPort === "number" ? { port: svcPort.targetPort } : undefined);
      const ip = s.addresses?.[0]?.ip;
      if (p && ip) {
        target = { host: ip, port: p.port };
        break;
      }
    }
    if (!target) return { status: "False", reason: "MissingEndpoints", message: `endpoints for service/${name} in "${namespace}" have no addresses with port name "${svcPort.name ?? ""}"` };
    b.target = target;
    const url = `https://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}/apis/${b.group}/${b.version}`;
    try {
      const body = await this.getJson(b, `/apis/${b.group}/${b.version}`);
      b.resources = isPlainObject(body) ? (body as Backend["resources"]) : {};
      return { status: "True", reason: "Passed", message: "all checks passed" };
    } catch (err) {
      return { status: "False", reason: "FailedDiscoveryCheck", message: `failing or missing response from ${url}: ${(err as Error).message}` };
    }
  }

  /** GETs PATH from the backend as the aggregator itself (system:kube-aggregator). */
  private getJson(b: Backend, path: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: b.target!.host, port: b.target!.port, path, method: "GET", headers: { Accept: "application/json", "X-Remote-User": "system:kube-aggregator", "X-Remote-Group": "system:masters" }, timeout: 5000, ...backendTls(b, this.frontProxy) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) return reject(new Error(`bad status from ${path}: ${res.statusCode}`));
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
            } catch (err) {
              reject(new Error(`${path} is not JSON: ${(err as Error).message}`));
            }
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out after 5s")));
      req.on("error", reject);
      req.end();
    });
  }

  private async writeAvailability(o: KubeObject, a: Availability): Promise<void> {
    const conds = (isPlainObject(o.status) && Array.isArray(o.status.conditions) ? o.status.conditions : []) as Record<string, unknown>[];
    const cur = conds.find((c) => c.type === "Available");
    if (cur && cur.status === a.status && cur.reason === a.reason && cur.message === a.message) return;
    const lastTransitionTime = cur && cur.status === a.status ? cur.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const cond = { type: "Available", status: a.status, lastTransitionTime, reason: a.reason, message: a.message };
    await this.registry
      .mutate(apiServiceType(), undefined, o.metadata.name!, (next) => ({ ...next, status: { ...(isPlainObject(next.status) ? next.status : {}), conditions: [...conds.filter((c) => c.type !== "Available"), cond] } }), { subresource: "status" })
      .catch((err: unknown) => {
        if (!(err instanceof GantryError && err.code === "NOT_FOUND")) throw err;
      });
  }
}
