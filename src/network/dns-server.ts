// The embedded DNS server of a user network (Docker answers the same questions from
// 127.0.0.11 inside each container; Gantry listens on the network's gateway address, which
// every container on the bridge reaches directly, so no per-container NAT rule is needed).
//
// It answers A (and, on IPv6 networks, AAAA) queries for container names, network aliases and
// id prefixes from the library's own registry, PTR queries for container addresses, and an
// empty NOERROR for other types of a known name (so resolvers do not wait for an AAAA). Unknown names go to the
// upstream servers the caller names for the client (--dns, or the host's resolvers); with no
// upstream the answer is REFUSED. Nothing is sent anywhere unless an upstream was given.
import { createSocket } from "node:dgram";
import type { Socket } from "node:dgram";
import { GantryError } from "../common/errors.ts";
import { addressOfReverseName, buildResponse, parseQuery, QTYPE, RCODE } from "./dns-packet.ts";
import type { DnsAnswer, DnsQuery } from "./dns-packet.ts";

export interface DnsBackend {
  /** Addresses (IPv4, or IPv6 for family 6) for a name asked from `client` (a container address), or [] when unknown. */
  lookup(name: string, client: string, family: 4 | 6): string[];
  /** Name for an address, for PTR queries. */
  reverse(address: string, client: string): string | undefined;
  /** Where to send names this network does not know, for this client. */
  upstreams(client: string): string[];
}

const TTL = 600;
const UPSTREAM_TIMEOUT_MS = 2_000;

export class EmbeddedDnsServer {
  private socket: Socket | undefined;

  constructor(
    readonly address: string,
    private readonly backend: DnsBackend,
    readonly port = 53,
  ) {}

  async start(): Promise<void> {
    const sock = createSocket({ type: "udp4", reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(this.port, this.address, () => {
        sock.off("error", reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      sock.close();
      throw new GantryError(
        "SYSCALL_FAILED",
        `bind DNS server to ${this.address}:${this.port}: ${err.message}`,
        {
          errno: err.code,
          hint: err.code === "EADDRINUSE" ? "another DNS server listens on the gateway address" : undefined,
        },
      );
    });
    sock.on("error", () => undefined);
    sock.on("message", (msg, rinfo) => {
      void this.answer(msg, rinfo.address).then((reply) => {
        if (reply) sock.send(reply, rinfo.port, rinfo.address);
      });
    });
    this.socket = sock;
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The reply to one datagram, or undefined when it deserves none (garbage). */
  async answer(msg: Buffer, client: string): Promise<Buffer | undefined> {
    let q: DnsQuery;
    try {
      q = parseQuery(msg);
    } catch {
      return undefined;
    }
    if ((q.flags & 0x7800) !== 0) return buildResponse(q, RCODE.NOTIMP);
    const reverseOf = q.type === QTYPE.PTR ? addressOfReverseName(q.name) : undefined;
    if (reverseOf !== undefined) {
      const target = this.backend.reverse(reverseOf, client);
      if (target) return buildResponse(q, RCODE.NOERROR, [{ type: "PTR", name: q.name, target, ttl: TTL }]);
    } else {
      const v4 = this.backend.lookup(q.name, client, 4);
      const v6 = this.backend.lookup(q.name, client, 6);
      if (v4.length > 0 || v6.length > 0) {
        const answers: DnsAnswer[] = [];
        if (q.type === QTYPE.A || q.type === QTYPE.ANY) answers.push(...v4.map((address) => ({ type: "A" as const, name: q.name, address, ttl: TTL })));
        if (q.type === QTYPE.AAAA || q.type === QTYPE.ANY) answers.push(...v6.map((address) => ({ type: "AAAA" as const, name: q.name, address, ttl: TTL })));
        return buildResponse(q, RCODE.NOERROR, answers);
      }
    }
    for (const upstream of this.backend.upstreams(client)) {
      const reply = await forward(msg, upstream).catch(() => undefined);
      if (reply) return reply;
    }
    return buildResponse(q, RCODE.REFUSED);
  }
}

/** Sends the query unchanged to `upstream` ("IP" or "IP:port") and returns its answer. */
function forward(msg: Buffer, upstream: string): Promise<Buffer> {
  const [host, port] = upstream.split(":");
  return new Promise((resolve, reject) => {
    const sock = createSocket("udp4");
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error("upstream timeout"));
    }, UPSTREAM_TIMEOUT_MS);
    sock.on("error", (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.on("message", (reply) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.send(msg, Number(port ?? 53), host);
  });
}
