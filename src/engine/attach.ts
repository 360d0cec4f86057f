// Attach: relays between a hijacked client connection and the monitor's attach socket.
// Both speak Docker's 8-byte frame header; the monitor sends stdout (1) and stderr (2) frames
// and takes stdin (0) and control (3: "resize R C", "close-stdin") frames. The client gets
// the frames as they are, or bare payloads when the container has a TTY (raw stream).
import { connect, type Socket } from "node:net";
import { GantryError } from "../common/errors.ts";
import { frame } from "./logs.ts";

/** The client side of a hijacked (or plain streaming) HTTP exchange. */
export interface ClientStream {
  write(b: Buffer): void;
  end(): void;
  onData(cb: (b: Buffer) => void): void;
  /** The client closed its write side (half-close) or went away. */
  onInputEnd(cb: () => void): void;
  onClose(cb: () => void): void;
  readonly closed: boolean;
}

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The process has a terminal: detach keys apply (as dockerd, only then). */
  tty: boolean;
  /** Bare payloads instead of 8-byte frames; default `tty`. Exec start's own Tty decides it
   * (dockerd frames by the start request), and a WebSocket attach is always raw. */
  rawStream?: boolean;
  /** Close the container's stdin when this client's input ends (StdinOnce). */
  stdinOnce: boolean;
  /** Docker's detach key sequence (default ctrl-p ctrl-q), only with stdin. */
  detachKeys?: number[];
}

/** Connects to a monitor's attach socket, retrying while the monitor is still binding it. */
export async function connectMonitor(path: string, timeoutMs = 3000): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once("connect", () => {
          s.removeAllListeners("error");
          resolve(s);
        });
        s.once("error", reject);
      });
    } catch (err) {
      if (Date.now() > deadline) {
        throw new GantryError("CONFLICT", `cannot attach: the container's monitor socket ${path} does not answer (${(err as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Splits a byte stream into Docker frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      out.push({ type: this.buf[0]!, payload: this.buf.subarray(8, 8 + len) });
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }
}

export function parseDetachKeys(spec: string | undefined): number[] {
  const s = spec || "ctrl-p,ctrl-q";
  return s.split(",").map((k) => {
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k.trim());
    // ctrl-a..z are 1..26; ctrl-@ [ \ ] ^ _ are 0 and 27..31 (the character minus 64).
    if (m) return /[a-z]/.test(m[1]!) ? m[1]!.charCodeAt(0) - 96 : m[1]!.charCodeAt(0) - 64;
    if (k.length === 1) return k.charCodeAt(0);
    throw new GantryError("INVALID_ARGUMENT", `Invalid detach keys (${s}) provided`);
  });
}

/**
 * The detach keys, as dockerd's escape proxy (moby/term's escapeProxy) reads them: keys count
 * when a read holds nothing but (the next part of) the sequence, as typed keys arrive, so
 * pasted or piped data with the keys inside never detaches. dockerd takes one key per read;
 * keys that arrive together (a loaded connection joins writes) count here too. The keys of a
 * partial match are held back and given to the program when the next read does not continue
 * the sequence. `push` returns what to forward, or "detach".
 */
export class DetachKeyFilter {
  private matched = 0;
  constructor(private readonly keys: readonly number[]) {}
  push(b: Buffer): Buffer | "detach" {
    if (this.keys.length === 0 || b.length === 0) return b;
    const continues = b.length <= this.keys.length - this.matched && b.every((byte, i) => byte === this.keys[this.matched + i]);
    if (continues) {
      this.matched += b.length;
      if (this.matched === this.keys.length) return "detach";
      return Buffer.alloc(0);
    }
    const held = Buffer.from(this.keys.slice(0, this.matched));
    this.matched = 0;
    return held.length ? Buffer.concat([held, b]) : b;
  }
}

/** How a relay ended: the program's end (or the client's), or the client's detach keys. */
export type RelayEnd = "ended" | "detached";

/** Relays until the container exits (the monitor closes the socket) or the client leaves. */
export function relayAttach(monitor: Socket, client: ClientStream, opts: AttachOptions): Promise<RelayEnd> {
  return new Promise<RelayEnd>((resolve) => {
    const dec = new FrameDecoder();
    const raw = opts.rawStream ?? opts.tty;
    let done = false;
    const finish = (how: RelayEnd = "ended") => {
      if (done) return;
      done = true;
      monitor.destroy();
      if (!client.closed) client.end();
      resolve(how);
    };
    monitor.on("data", (chunk: Buffer) => {
      for (const f of dec.push(chunk)) {
        if ((f.type === 1 && !opts.stdout) || (f.type === 2 && !opts.stderr)) continue;
        if (f.type !== 1 && f.type !== 2) continue;
        client.write(raw ? f.payload : frame(f.type, f.payload));
      }
    });
    monitor.on("close", () => finish());
    monitor.on("error", () => finish());
    client.onClose(() => finish());
    if (opts.stdin) {
      const detach = new DetachKeyFilter(opts.tty ? (opts.detachKeys ?? []) : []);
      client.onData((b) => {
        const out = detach.push(b);
        if (out === "detach") return finish("detached");
        if (out.length) monitor.write(frame(0, out));
      });
      client.onInputEnd(() => {
        if (opts.stdinOnce && !monitor.destroyed) monitor.write(frame(3, Buffer.from("close-stdin")));
      });
    }
  });
}

export function sendResize(monitor: Socket, rows: number, cols: number): void {
  monitor.write(frame(3, Buffer.from(`resize ${rows} ${cols}`)));
}
