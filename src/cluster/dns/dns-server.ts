// Cluster DNS served in-process (by each node, beside its agent and service proxy): UDP and
// TCP on one address, answers from records.ts over informer caches of Services and
// EndpointSlices, other names forwarded to upstream servers. The wire format is the
// dns-packet library's.
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import * as dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, Packet } from "dns-packet";
import { describeError } from "../../common/errors.ts";
import { BY_LABEL, BY_NAMESPACE, InformerFactory, type Client, type Informer } from "../client/index.ts";
import { ENDPOINT_SLICES, SERVICE_NAME_LABEL, SERVICES, type EndpointSlice, type Service } from "./_types.ts";
import { resolveQuestion, type ClusterView, type DnsSettings } from "./records.ts";

export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
export const DEFAULT_CLUSTER_DNS = "10.43.0.10";

export interface ClusterDnsOptions {
  client: Client;
  /** Where to answer: an address of this network namespace (the pod bridge's) and a port. */
  host: string;
  port?: number;
  domain?: string;
  ttl?: number;
  /** Servers for names outside the cluster, "ip" or "ip:port". */
  upstreams: string[];
  informers?: InformerFactory;
  log?: (message: string) => void;
  upstreamTimeoutMs?: number;
}

export interface RunningClusterDns {
  host: string;
  port: number;
  /** Resolves once the sockets are bound (the address may appear later: a bridge made at the first pod). */
  bound(): Promise<void>;
  stop(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

function clusterView(services: Informer<Service>, slices: Informer<EndpointSlice>): ClusterView {
  return {
    service: (ns, name) => services.cache.get(`${ns}/${name}`),
    slices: (ns, name) => slices.cache.byIndex(BY_LABEL, `${SERVICE_NAME_LABEL}=${name}`).filter((s) => s.metadata.namespace === ns),
    // A namespace is known by what lives in it (a node may not list Namespaces); default always exists.
    hasNamespace: (ns) => ns === "default" || services.cache.byIndex(BY_NAMESPACE, ns).length > 0,
    services: () => services.cache.list(),
  };
}

/** The response to one query message, or the upstream to ask. */
export function answerQuery(query: DecodedPacket, view: ClusterView, s: DnsSettings): { response: Packet } | { forward: true } {
  const q = query.questions?.[0];
  const base = { type: "response" as const, id: query.id ?? 0, questions: query.questions ?? [] };
  const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  if (query.type !== "query" || !q || (query.questions?.length ?? 0) !== 1) return { response: { ...base, flags: rd | RCODE.FORMERR } };
  if (q.class !== "IN" && q.class !== undefined) return { response: { ...base, flags: rd | RCODE.REFUSED } };
  const r = resolveQuestion({ name: q.name, type: q.type }, view, s);
  if (r.forward) return { forward: true };
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rd | RCODE[r.rcode];
  return { response: { ...base, flags, answers: r.answers, authorities: r.authorities, additionals: r.additionals } };
}

function encodeFor(response: Packet, udp: boolean, query: DecodedPacket): Buffer {
  let buf = dnsPacket.encode(response);
  const edns = query.additionals?.find((a: Answer) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
  const limit = Math.max(512, edns?.udpPayloadSize ?? 512);
  if (udp && buf.length > limit) {
    // Too big for this client's UDP: the header and question with TC set, so it retries over TCP.
    buf = dnsPacket.encode({ ...response, flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: [] });
  }
  return buf;
}

function parseUpstream(u: string): { host: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(u.trim());
  if (!m) throw new Error(`an upstream DNS server must be IPv4[:port], not "${u}"`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 53 };
}

/** Asks the upstreams in turn with the client's own message; SERVFAIL when none answers. */
async function forward(message: Buffer, upstreams: { host: string; port: number }[], timeoutMs: number): Promise<Buffer | undefined> {
  for (const u of upstreams) {
    const answer = await new Promise<Buffer | undefined>((resolve) => {
      const sock = createSocket("udp4");
      const done = (b: Buffer | undefined) => {
        clearTimeout(timer);
        sock.close();
        resolve(b);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      sock.on("message", (b) => done(b));
      sock.on("error", () => done(undefined));
      sock.send(message, u.port, u.host);
    });
    if (answer) return answer;
  }
  return undefined;
}

export async function startClusterDns(o: ClusterDnsOptions): Promise<RunningClusterDns> {
  const log = o.log ?? (() => undefined);
  const port = o.port ?? 53;
  const settings: DnsSettings = { domain: (o.domain ?? DEFAULT_CLUSTER_DOMAIN).replace(/\.$/, ""), ttl: o.ttl ?? 5 };
  const upstreams = o.upstreams.map(parseUpstream);
  const ownFactory = !o.informers;
  const factory = o.informers ?? new InformerFactory(o.client, { log });
  const services = factory.informerFor<Service>(SERVICES);
  const slices = factory.informerFor<EndpointSlice>(ENDPOINT_SLICES);
  if (ownFactory) factory.start();
  await factory.whenSynced();
  const view = clusterView(services, slices);

  const handle = async (message: Buffer, udp: boolean): Promise<Buffer | undefined> => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      if (message.length < 2) return undefined;
      return dnsPacket.encode({ type: "response", id: message.readUInt16BE(0), flags: RCODE.FORMERR });
    }
    const r = answerQuery(query, view, settings);
    if ("response" in r) return encodeFor(r.response, udp, query);
    const relayed = upstreams.length ? await forward(message, upstreams, o.upstreamTimeoutMs ?? 2000) : undefined;
    return relayed ?? dnsPacket.encode({ type: "response", id: query.id ?? 0, flags: (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | RCODE.SERVFAIL, questions: query.questions ?? [] });
  };

  let udp: Socket | undefined;
  let tcp: Server | undefined;
  const conns = new Set<TcpSocket>();
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let boundResolve!: () => void;
  const boundPromise = new Promise<void>((r) => (boundResolve = r));

  const bind = async (): Promise<void> => {
    const u = createSocket("udp4");
    u.on("message", (msg, rinfo) => {
      void handle(msg, true)
        .then((out) => out && u.send(out, rinfo.port, rinfo.address))
        .catch((err: unknown) => log(`cluster dns: ${describeError(err)}`));
    });
    await new Promise<void>((resolve, reject) => {
      u.once("error", reject);
      u.bind(port, o.host, () => {
        u.off("error", reject);
        resolve();
      });
    });
    u.on("error", (err) => log(`cluster dns: udp: ${err.message}`));
    const t = createServer((c) => {
      conns.add(c);
      c.on("close", () => conns.delete(c));
      c.on("error", () => c.destroy());
      let pending = Buffer.alloc(0);
      c.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
          pending = pending.subarray(2 + msg.length);
          void handle(Buffer.from(msg), false).then((out) => {
            if (!out || c.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            c.write(Buffer.concat([len, out]));
          });
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        t.once("error", reject);
        t.listen(port, o.host, () => {
          t.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      u.close();
      throw err;
    }
    udp = u;
    tcp = t;
  };

  const tryBind = () => {
    if (stopped) return;
    bind().then(
      () => {
        log(`cluster dns: answering ${settings.domain} on ${o.host}:${port}`);
        boundResolve();
      },
      (err: NodeJS.ErrnoException) => {
        // The pod bridge (and so this address) exists only from the first pod on: wait for it.
        if (err.code !== "EADDRNOTAVAIL") log(`cluster dns: cannot listen on ${o.host}:${port}: ${err.message}; trying again`);
        retry = setTimeout(tryBind, 500);
      },
    );
  };
  tryBind();

  return {
    host: o.host,
    port,
    bound: () => boundPromise,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      udp?.close();
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r()));
      if (ownFactory) await factory.stop();
    },
  };
}
