// The slice of the DNS wire format (RFC 1035) the embedded server needs: read one question,
// write answers of type A and PTR, or an empty answer with a response code.
import { invalidArgument } from "../common/errors.ts";

export const QTYPE = { A: 1, PTR: 12, AAAA: 28, ANY: 255 } as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuery {
  id: number;
  flags: number;
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  class: number;
  /** Bytes of the question section, echoed back in the answer. */
  question: Buffer;
}

export type DnsAnswer =
  | { type: "A"; name: string; address: string; ttl: number }
  | { type: "AAAA"; name: string; address: string; ttl: number }
  | { type: "PTR"; name: string; target: string; ttl: number };

/** Reads the header and first question; throws INVALID_ARGUMENT on a malformed packet. */
export function parseQuery(msg: Buffer): DnsQuery {
  if (msg.length < 12) throw invalidArgument("DNS message shorter than its header");
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  if (flags & 0x8000) throw invalidArgument("DNS message is a response, not a query");
  if (qdcount < 1) throw invalidArgument("DNS query has no question");
  let off = 12;
  const labels: string[] = [];
  for (;;) {
    if (off >= msg.length) throw invalidArgument("DNS question name runs past the message");
    const len = msg[off]!;
    if (len === 0) {
      off += 1;
      break;
    }
    // Compression pointers do not occur in a lone question; refuse rather than follow them.
    if (len & 0xc0) throw invalidArgument("DNS question name uses compression");
    if (off + 1 + len > msg.length) throw invalidArgument("DNS label runs past the message");
    labels.push(msg.subarray(off + 1, off + 1 + len).toString("latin1"));
    off += 1 + len;
  }
  if (off + 4 > msg.length) throw invalidArgument("DNS question lacks type and class");
  const type = msg.readUInt16BE(off);
  const klass = msg.readUInt16BE(off + 2);
  return {
    id,
    flags,
    name: labels.join(".").toLowerCase(),
    type,
    class: klass,
    question: msg.subarray(12, off + 4),
  };
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split(".").filter((l) => l !== "")) {
    const b = Buffer.from(label, "latin1");
    if (b.length > 63) throw invalidArgument(`DNS label "${label}" is longer than 63 bytes`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The 16 bytes of an IPv6 address in text form ("fd00::5"; no embedded IPv4). */
export function ipv6Bytes(address: string): Buffer {
  const halves = address.split("::");
  if (halves.length > 2) throw invalidArgument(`"${address}" is not an IPv6 address`);
  const [head, tail] = halves as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const hi = groups(head);
  const lo = groups(tail);
  const all = tail === undefined ? hi : [...hi, ...Array<string>(8 - hi.length - lo.length).fill("0"), ...lo];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) throw invalidArgument(`"${address}" is not an IPv6 address`);
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Builds the response to `q`: authoritative, recursion-desired copied, answers in order. */
export function buildResponse(q: DnsQuery, rcode: number, answers: DnsAnswer[] = []): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  const opcode = q.flags & 0x7800;
  const rd = q.flags & 0x0100;
  header.writeUInt16BE(0x8000 | opcode | 0x0400 | rd | 0x0080 | (rcode & 0xf), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const records = answers.map((a) => {
    // 0xc00c points at the question's name, which is always at offset 12.
    const fixed = Buffer.alloc(10);
    let rdata: Buffer;
    if (a.type === "A") {
      rdata = Buffer.from(a.address.split(".").map(Number));
      fixed.writeUInt16BE(QTYPE.A, 0);
    } else if (a.type === "AAAA") {
      rdata = ipv6Bytes(a.address);
      fixed.writeUInt16BE(QTYPE.AAAA, 0);
    } else {
      rdata = encodeName(a.target);
      fixed.writeUInt16BE(QTYPE.PTR, 0);
    }
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(a.ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([Buffer.from([0xc0, 0x0c]), fixed, rdata]);
  });
  return Buffer.concat([header, q.question, ...records]);
}

/** Builds a query (used by tests and by nothing on the serving path). */
export function buildQuery(id: number, name: string, type: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, encodeName(name), tail]);
}

/** Reads the rcode and A-record addresses of a response (tests). */
export function parseAnswers(msg: Buffer): { id: number; rcode: number; addresses: string[] } {
  const id = msg.readUInt16BE(0);
  const rcode = msg.readUInt16BE(2) & 0xf;
  const an = msg.readUInt16BE(6);
  let off = 12;
  const skipName = () => {
    for (;;) {
      const len = msg[off]!;
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        return;
      }
      off += 1 + len;
      if (len === 0) return;
    }
  };
  skipName();
  off += 4;
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    skipName();
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    off += 10;
    if (type === QTYPE.A && rdlen === 4) addresses.push([...msg.subarray(off, off + 4)].join("."));
    off += rdlen;
  }
  return { id, rcode, addresses };
}

/** "10.231.1.7" -> "7.1.231.10.in-addr.arpa" and back. */
export function reverseName(address: string): string {
  return `${address.split(".").reverse().join(".")}.in-addr.arpa`;
}
export function addressOfReverseName(name: string): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
  return m ? `${m[4]}.${m[3]}.${m[2]}.${m[1]}` : undefined;
}
