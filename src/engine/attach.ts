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
  tty: boolean;
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
    if (m) return m[1] === "@" ? 0 : m[1]!.charCodeAt(0) - 96;
    if (k.length === 1) return k.charCodeAt(0);
    throw new GantryError("INVALID_ARGUMENT", `Invalid detach keys (${s}) provided`);
  });
}

/** Relays until the container exits (the monitor closes the socket) or the client leaves. */
export function relayAttach(monitor: Socket, client: ClientStream, opts: AttachOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    const dec = new FrameDecoder();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      monitor.destroy();
      if (!client.closed) client.end();
      resolve();
    };
    monitor.on("data", (chunk: Buffer) => {
      for (const f of dec.push(chunk)) {
        if ((f.type === 1 && !opts.stdout) || (f.type === 2 && !opts.stderr)) continue;
        if (f.type !== 1 && f.type !== 2) continue;
        client.write(opts.tty ? f.payload : frame(f.type, f.payload));
      }
    });
    monitor.on("close", finish);
    monitor.on("error", finish);
    client.onClose(finish);
    if (opts.stdin) {
      const keys = opts.detachKeys ?? [];
      let matched = 0;
      client.onData((b) => {
        if (keys.length && opts.tty) {
          for (const byte of b) {
            matched = byte === keys[matched] ? matched + 1 : byte === keys[0] ? 1 : 0;
            if (matched === keys.length) {
              finish();
              return;
            }
          }
        }
        monitor.write(frame(0, b));
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
