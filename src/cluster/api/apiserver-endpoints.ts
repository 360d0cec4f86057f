// Where the `kubernetes` Service leads when several API servers share one store (etcd):
// kube-apiserver's lease endpoint reconciler (--endpoint-reconciler-type=lease, its default).
// Each server keeps a Lease kube-system/apiserver-endpoint-<ip>-<port> (label
// gantry.io/apiserver-endpoint), renewed every RENEW_MS for LEASE_SECONDS, and writes the
// Service's Endpoints and EndpointSlice as the addresses of the live Leases — so pods reach
// every live server, and a server killed drops out once its Lease expires. A server that
// stops deletes its Lease and writes them again without itself.
import type { KubeObject } from "./objects.ts";
import type { ObjectRegistry } from "./registry.ts";
import { resourceTypes } from "./resources.ts";

export const LEASE_SECONDS = 15;
const RENEW_MS = 5_000;
const LABEL = "gantry.io/apiserver-endpoint";
const NAMESPACE = "kube-system";

export interface ApiEndpoint {
  ip: string;
  port: number;
}

const leaseType = () => resourceTypes.find((r) => r.kind === "Lease")!;
const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
const leaseName = (e: ApiEndpoint) => `apiserver-endpoint-${e.ip.replace(/[^0-9a-z]/gi, "-")}-${e.port}`;

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  renewTime?: string;
}

/** The endpoints of the Leases still renewed at `now`, ordered by address. */
export function liveEndpoints(leases: KubeObject[], now: number): ApiEndpoint[] {
  const out: ApiEndpoint[] = [];
  for (const l of leases) {
    if (l.metadata.labels?.[LABEL] !== "true") continue;
    const spec = (l.spec ?? {}) as LeaseSpec;
    const renewed = Date.parse(spec.renewTime ?? "");
    if (!(renewed + (spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000 > now)) continue;
    const m = /^(.*):(\d+)$/.exec(spec.holderIdentity ?? "");
    if (m) out.push({ ip: m[1]!, port: Number(m[2]) });
  }
  return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

export class ApiServerEndpoints {
  private self: ApiEndpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly registry: ObjectRegistry,
    /** Writes the `kubernetes` Endpoints and EndpointSlice for these addresses. */
    private readonly write: (endpoints: ApiEndpoint[]) => Promise<void>,
    private readonly log: (m: string) => void,
  ) {}

  /** This server is reachable at ip:port (again: an advertised address replaces the first). */
  async publish(ip: string, port: number): Promise<void> {
    const previous = this.self;
    this.self = { ip, port };
    if (previous && leaseName(previous) !== leaseName(this.self)) await this.registry.delete(leaseType(), NAMESPACE, leaseName(previous)).catch(() => undefined);
    await this.renew();
    if (!this.timer && !this.stopped) {
      this.timer = setInterval(() => void this.renew().catch((err: unknown) => this.log(`api: apiserver endpoint lease: ${(err as Error).message}`)), RENEW_MS);
      this.timer.unref();
    }
  }

  private async renew(): Promise<void> {
    const self = this.self;
    if (!self || this.stopped) return;
    const name = leaseName(self);
    const spec = { holderIdentity: `${self.ip}:${self.port}`, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime(Date.now()) };
    const rt = leaseType();
    if (await this.registry.tryGet(rt, NAMESPACE, name)) await this.registry.mutate(rt, NAMESPACE, name, (cur) => ({ ...cur, spec: { ...(cur.spec as object), ...spec } }));
    else await this.registry.create(rt, NAMESPACE, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace: NAMESPACE, labels: { [LABEL]: "true" } }, spec });
    await this.reconcile([]);
  }

  private async reconcile(without: ApiEndpoint[]): Promise<void> {
    const leases = (await this.registry.list(leaseType(), NAMESPACE)).items;
    const live = liveEndpoints(leases, Date.now()).filter((e) => !without.some((w) => w.ip === e.ip && w.port === e.port));
    if (live.length) await this.write(live);
  }

  /** Stops renewing; the Lease goes and the Endpoints are written without this server. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const self = this.self;
    if (!self) return;
    await this.registry.delete(leaseType(), NAMESPACE, leaseName(self)).catch(() => undefined);
    await this.reconcile([self]).catch(() => undefined);
  }
}
