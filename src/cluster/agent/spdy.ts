// The server side of SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00), as much as kubectl's
// port-forward uses through Go's spdystream: the client opens streams (SYN_STREAM, odd ids,
// name/value headers compressed with zlib and SPDY's dictionary, one zlib context per
// direction for the whole connection), the server answers each with SYN_REPLY, and DATA
// frames carry bytes until a FIN or RST_STREAM. PINGs are echoed. spdystream keeps no flow
// control windows, so WINDOW_UPDATE and SETTINGS are read and ignored.
//
//   control frame: |1| version=3 (15) | type (16) | flags (8) | length (24) | data
//   data frame:    |0| stream id (31)             | flags (8) | length (24) | data
import { createInflate, constants as zlibConstants, type Inflate } from "node:zlib";
import type { Duplex } from "node:stream";

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const HEADERS = 8;
const FLAG_FIN = 0x01;
/** RST_STREAM status codes used here. */
export const RST_PROTOCOL_ERROR = 1;
export const RST_CANCEL = 5;

/** The words SPDY/3's header dictionary lists, each as a 4-byte length and the word. */
const DICTIONARY_WORDS = [
  "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "age", "allow",
  "authorization", "cache-control", "connection", "content-base", "content-encoding", "content-language", "content-length", "content-location",
  "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
  "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range",
  "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning", "www-authenticate",
  "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
]; // prettier-ignore
/** …followed by these bytes as they are. */
const DICTIONARY_TAIL =
  "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
  "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found" +
  "500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00" +
  " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml," +
  "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

export const SPDY_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.map((w) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    return Buffer.concat([len, Buffer.from(w, "latin1")]);
  }),
  Buffer.from(DICTIONARY_TAIL, "latin1"),
]);

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const byte of b) {
    a = (a + byte) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/**
 * Our side of the header compression: zlib whose blocks are stored, not compressed. Every
 * reader accepts stored blocks, each block ends on a byte boundary (what a sync flush gives),
 * and the zlib header names the dictionary as the reader requires. Header blocks are a few
 * dozen bytes, so nothing is lost by not compressing them.
 */
export class StoredHeaderCompressor {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      const cmf = 0x78; // deflate, 32 KiB window
      let flg = 0x20; // FDICT
      flg += (31 - ((cmf * 256 + flg) % 31)) % 31;
      const dictId = Buffer.alloc(4);
      dictId.writeUInt32BE(adler32(SPDY_DICTIONARY));
      parts.push(Buffer.from([cmf, flg]), dictId);
    }
    for (let off = 0; off < raw.length; off += 0xffff) parts.push(storedBlock(raw.subarray(off, off + 0xffff)));
    // An empty stored block ends every header block, as zlib's sync flush does: a reader
    // (Go's flate) hands out what it has only when it meets one, without reading further.
    parts.push(storedBlock(Buffer.alloc(0)));
    return Buffer.concat(parts);
  }
}

/** A non-final stored deflate block: BFINAL 0 and BTYPE 00 padded to a byte, LEN, NLEN, data. */
function storedBlock(data: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt16LE(data.length, 1);
  head.writeUInt16LE(~data.length & 0xffff, 3);
  return Buffer.concat([head, data]);
}

/** The peer's header blocks, through one zlib context for the connection, in order. */
export class HeaderDecompressor {
  private readonly z: Inflate = createInflate({ dictionary: SPDY_DICTIONARY });
  private out: Buffer[] = [];
  private failed: Error | undefined;

  constructor() {
    this.z.on("data", (b: Buffer) => this.out.push(b));
    this.z.on("error", (err: Error) => (this.failed = err));
  }

  decompress(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.z.write(block);
      this.z.flush(zlibConstants.Z_SYNC_FLUSH, () => {
        // Output of the flush is pushed before its callback; setImmediate lets 'data' run.
        setImmediate(() => {
          if (this.failed) return reject(this.failed);
          const r = Buffer.concat(this.out);
          this.out = [];
          resolve(r);
        });
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

export function encodeHeaders(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(h);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    const kb = Buffer.from(k.toLowerCase());
    const vb = Buffer.from(v);
    parts.push(u32(kb.length), kb, u32(vb.length), vb);
  }
  return Buffer.concat(parts);
}

/** A header block's names and values (several values of one name are NUL-separated: the first is kept). */
export function decodeHeaders(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  if (b.length < 4) return out;
  const n = b.readUInt32BE(0);
  let off = 4;
  for (let i = 0; i < n && off + 4 <= b.length; i++) {
    const kl = b.readUInt32BE(off);
    const k = b.subarray(off + 4, off + 4 + kl).toString();
    off += 4 + kl;
    const vl = b.readUInt32BE(off);
    const v = b.subarray(off + 4, off + 4 + vl).toString();
    off += 4 + vl;
    out[k.toLowerCase()] = v.split("\0")[0]!;
  }
  return out;
}

export interface SpdyStream {
  id: number;
  headers: Record<string, string>;
  /** The client sent FIN with its SYN_STREAM (it will send nothing). */
  halfClosedByPeer: boolean;
}

export interface SpdyHandlers {
  /** A new stream: it has been answered with SYN_REPLY already. */
  onStream(s: SpdyStream): void;
  onData(id: number, data: Buffer): void;
  /** The peer half-closed (FIN) the stream. */
  onFin(id: number): void;
  /** The peer reset the stream. */
  onReset(id: number): void;
  onClose(): void;
}

/** One SPDY/3.1 connection, server side, over any byte stream (a socket, or WebSocket messages). */
export class SpdyServerSession {
  private buf: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new StoredHeaderCompressor();
  private closed = false;

  constructor(
    private readonly conn: Duplex,
    private readonly h: SpdyHandlers,
    /** Bytes read with the upgrade request, before the connection was handed over. */
    initial?: Buffer,
  ) {
    if (initial?.length) this.receive(initial);
    conn.on("data", (chunk: Buffer) => this.receive(chunk));
    conn.on("end", () => this.close());
    conn.on("close", () => this.close());
    conn.on("error", () => this.close());
  }

  private receive(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      // Frames are handled one after the other: a SYN_STREAM's headers must be read before
      // the DATA that follows it, and header blocks share one zlib context.
      this.chain = this.chain.then(() => this.handle(frame)).catch(() => this.close());
    }
  }

  private async handle(f: Buffer): Promise<void> {
    if (this.closed) return;
    const flags = f[4]!;
    const data = f.subarray(8);
    if (!(f[0]! & 0x80)) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      if (data.length) this.h.onData(id, data);
      if (flags & FLAG_FIN) this.h.onFin(id);
      return;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case SYN_STREAM: {
        const id = data.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaders(await this.inflater.decompress(data.subarray(10)));
        this.writeControl(SYN_REPLY, 0, Buffer.concat([u32(id), this.deflater.compress(encodeHeaders({}))]));
        this.h.onStream({ id, headers, halfClosedByPeer: !!(flags & FLAG_FIN) });
        return;
      }
      case HEADERS:
        await this.inflater.decompress(data.subarray(4));
        return;
      case RST_STREAM:
        this.h.onReset(data.readUInt32BE(0) & 0x7fffffff);
        return;
      case PING:
        this.writeControl(PING, 0, data.subarray(0, 4));
        return;
      case GOAWAY:
        this.close();
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE: no flow control in spdystream
    }
  }

  private writeControl(type: number, flags: number, data: Buffer): void {
    if (this.closed) return;
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8003, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE(data.length, 4);
    head[4] = flags;
    this.conn.write(Buffer.concat([head, data]));
  }

  /** Sends bytes on a stream, in frames of at most 32 KiB; fin half-closes it after them. */
  write(id: number, data: Buffer, fin = false): boolean {
    if (this.closed) return false;
    let ok = true;
    for (let off = 0; off < data.length || (fin && off === 0); off += 32 * 1024) {
      const chunk = data.subarray(off, off + 32 * 1024);
      const last = off + 32 * 1024 >= data.length;
      const head = Buffer.alloc(8);
      head.writeUInt32BE(id & 0x7fffffff, 0);
      head.writeUInt32BE(chunk.length, 4);
      head[4] = fin && last ? FLAG_FIN : 0;
      ok = this.conn.write(Buffer.concat([head, chunk]));
      if (data.length === 0) break;
    }
    return ok;
  }

  reset(id: number, status: number): void {
    this.writeControl(RST_STREAM, 0, Buffer.concat([u32(id), u32(status)]));
  }

  /** Stops reading frames until resumeReading() (back-pressure from a slow pod connection). */
  pauseReading(): void {
    this.conn.pause();
  }

  resumeReading(): void {
    this.conn.resume();
  }

  /** Lets a caller wait for the connection to drain (back-pressure on the pod's side). */
  onDrain(cb: () => void): void {
    this.conn.once("drain", cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inflater.close();
    this.conn.destroy();
    this.h.onClose();
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
