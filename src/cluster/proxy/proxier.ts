// The service proxy of one node (kube-proxy's nftables mode): Services and EndpointSlices
// from the API (informers), the node's nft table kept equal to them. Event handlers only mark
// the Service they touch dirty; one sync at a time renders the dirty Services' parts of the
// table (data, no kernel) and applies the difference from what was last applied for each, as
// one transaction, a few milliseconds after the change that asked for it — so one Service more
// among thousands costs one Service's rendering and a handful of nft lines (kube-proxy's
// partial sync). Each Service's part (its chains, sets and map elements) is disjoint from every
// other's, which is what lets the diffs of the dirty ones make the whole table's diff. The first
// sync, one after any failure and one an hour render everything and replace the table whole,
// so rules changed behind the proxy's back are repaired.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { realClock, type Clock } from "../../common/clock.ts";
import { describeError } from "../../common/errors.ts";
import { startSyncRunner } from "../../common/sync-runner.ts";
import { BY_LABEL, InformerFactory, objectKey, type Client, type Informer } from "../client/index.ts";
import { ENDPOINT_SLICES, SERVICE_NAME_LABEL, SERVICES, type EndpointSlice, type Service } from "./_types.ts";
import { addServicePort, emptyRuleset, type ProxyNetwork, type Ruleset } from "./nft-ruleset.ts";
import { diffScript, fullScript } from "./nft-transaction.ts";
import { nftRunner, type NftRunner } from "../../common/nft.ts";
import { planServicePorts } from "./service-ports.ts";

export const DEFAULT_SERVICE_CIDR = "10.43.0.0/16";
export const DEFAULT_CLUSTER_CIDR = "10.42.0.0/16";

/** The table of the node whose state is under dataRoot: stable across restarts, distinct per node. */
export const proxyTableName = (dataRoot: string) => `gantry-svc-${createHash("sha256").update(resolve(dataRoot)).digest("hex").slice(0, 10)}`;

export interface ServiceProxyOptions {
  client: Client;
  nodeName: string;
  /** The nft table (`ip NAME`); one per proxy in a network namespace. */
  table: string;
  /** A network namespace file (/run/netns/NAME, /proc/PID/ns/net); the caller's own when absent. */
  netns?: string;
  clusterCIDRs?: string[];
  serviceCIDR?: string;
  /** Share informers with other loops of the process (their start/stop stay the owner's). */
  informers?: InformerFactory;
  clock?: Clock;
  log?: (message: string) => void;
  /** Delay between a change and its sync, so a burst of events becomes one transaction. */
  coalesceMs?: number;
  fullResyncMs?: number;
  /**
   * This node answers cluster DNS itself (as NodeLocal DNSCache does): the named Service's
   * ports go to this address of the node instead of the Service's endpoints.
   */
  nodeLocalDNS?: { namespace: string; name: string; ip: string; port: number; clients: string[] };
  /** Told after every applied sync (benches, tests). */
  onSync?: (s: SyncReport) => void;
}

export interface SyncReport {
  full: boolean;
  servicePorts: number;
  lines: number;
  ms: number;
}

export interface RunningServiceProxy {
  table: string;
  /** Resolves after a sync that started after this call has been applied. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

/** One ready endpoint on this node serving every port of the Service. */
function nodeLocalSlice(svc: Service, ip: string, port: number, nodeName: string): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${svc.metadata.name}-node-local`, namespace: svc.metadata.namespace },
    addressType: "IPv4",
    ports: (svc.spec?.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port, protocol: p.protocol ?? "TCP" })),
    endpoints: [{ addresses: [ip], nodeName, conditions: { ready: true } }],
  };
}

export async function startServiceProxy(opts: ServiceProxyOptions): Promise<RunningServiceProxy> {
  const clock = opts.clock ?? realClock;
  const log = opts.log ?? (() => undefined);
  const net: ProxyNetwork = { clusterCIDRs: opts.clusterCIDRs?.length ? opts.clusterCIDRs : [DEFAULT_CLUSTER_CIDR], serviceCIDR: opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR };
  const nft: NftRunner = nftRunner(opts.netns);
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(opts.client, { clock, log });
  const services: Informer<Service> = factory.informerFor<Service>(SERVICES);
  const slices: Informer<EndpointSlice> = factory.informerFor<EndpointSlice>(ENDPOINT_SLICES);

  /** What the table holds, per Service key (namespace/name): that Service's chains, sets and elements. */
  let applied = new Map<string, { rs: Ruleset; ports: number }>();
  /** Services changed since the last sync (a failed sync makes the next one full instead). */
  let dirty = new Set<string>();
  let needFull = true;
  let lastFull = 0;

  /** One Service's part of the table, from the caches; empty when it is gone. */
  const render = (key: string): { rs: Ruleset; ports: number } => {
    const rs = emptyRuleset();
    const svc = services.cache.get(key);
    if (!svc) return { rs, ports: 0 };
    const ns = svc.metadata.namespace;
    const local = opts.nodeLocalDNS;
    const isLocalDNS = local && local.namespace === ns && local.name === svc.metadata.name;
    const own = isLocalDNS
      ? [nodeLocalSlice(svc, local.ip, local.port, opts.nodeName)]
      : slices.cache.byIndex(BY_LABEL, `${SERVICE_NAME_LABEL}=${svc.metadata.name}`).filter((s) => s.metadata.namespace === ns);
    let ports = 0;
    for (const planned of planServicePorts(svc, own, opts.nodeName)) {
      addServicePort(rs, isLocalDNS ? { ...planned, onlyFrom: local.clients } : planned, net);
      ports++;
    }
    return { rs, ports };
  };

  const syncOnce = async () => {
    const started = clock.now();
    const full = needFull || started - lastFull > (opts.fullResyncMs ?? 3_600_000);
    const keys = full ? services.cache.keys() : [...dirty];
    dirty = new Set();
    const next = full ? new Map<string, { rs: Ruleset; ports: number }>() : new Map(applied);
    const lines: string[] = full ? fullScript(opts.table, net, emptyRuleset(), emptyRuleset()) : [];
    for (const key of keys) {
      const part = render(key);
      lines.push(...diffScript(opts.table, (!full && applied.get(key)?.rs) || emptyRuleset(), part.rs));
      if (part.rs.chains.size || part.rs.elements.size) next.set(key, part);
      else next.delete(key);
    }
    await nft.apply(lines);
    applied = next;
    if (full) {
      needFull = false;
      lastFull = started;
    }
    let ports = 0;
    for (const part of applied.values()) ports += part.ports;
    opts.onSync?.({ full, servicePorts: ports, lines: lines.length, ms: clock.now() - started });
  };

  const runner = startSyncRunner({
    sync: syncOnce,
    clock,
    coalesceMs: opts.coalesceMs,
    onError: (err, retryMs) => {
      // The dirty keys are spent and what the kernel holds is unknown: the retry renders everything and replaces the table.
      needFull = true;
      log(`service proxy: sync failed (full resync in ${retryMs} ms): ${describeError(err)}`);
    },
  });

  // A Service's key, or the key of the Service an EndpointSlice belongs to.
  const touch = (key: string | undefined) => {
    if (key) dirty.add(key);
    runner.request();
  };
  const sliceOwner = (s: EndpointSlice) => {
    const name = s.metadata.labels?.[SERVICE_NAME_LABEL];
    return name ? `${s.metadata.namespace}/${name}` : undefined;
  };
  services.addHandlers({ onAdd: (o) => touch(objectKey(o)), onUpdate: (_o, n) => touch(objectKey(n)), onDelete: (o) => touch(objectKey(o)) });
  slices.addHandlers({
    onAdd: (o) => touch(sliceOwner(o)),
    // A slice relabelled to another Service changes both.
    onUpdate: (o, n) => {
      const before = sliceOwner(o);
      if (before && before !== sliceOwner(n)) dirty.add(before);
      touch(sliceOwner(n));
    },
    onDelete: (o) => touch(sliceOwner(o)),
  });
  if (ownFactory) factory.start();
  await factory.whenSynced();
  await runner.synced(0);
  log(`service proxy: node ${opts.nodeName}: table ip ${opts.table}${opts.netns ? ` in ${opts.netns}` : ""} in sync`);

  return {
    table: opts.table,
    synced: () => runner.synced(),
    async stop() {
      await runner.stop();
      nft.close();
      if (ownFactory) await factory.stop();
      await nft.run(["delete", "table", "ip", opts.table]).catch((err: unknown) => log(`service proxy: cleanup: ${describeError(err)}`));
    },
  };
}
