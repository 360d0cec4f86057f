// Plumbing for the Docker API server: API version prefixes, query parsing, JSON bodies with
// Docker-style errors, and the hijacked stream that attach and exec start answer with.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { GantryError, invalidArgument } from "../../common/errors.ts";
import type { ClientStream } from "../attach.ts";

export const API_VERSION = "1.50";
export const MIN_API_VERSION = "1.41";

export interface Request {
  method: string;
  /** Path without the /v1.NN prefix. */
  path: string;
  apiVersion: string;
  query: URLSearchParams;
  raw: IncomingMessage;
}

export type RouteHandler = (r: Request, res: ServerResponse, m: RegExpExecArray) => Promise<void> | void;

/**
 * A route answered on the client's own connection (attach, exec start): `begin(tty)` sends
 * the 101 (or, without Upgrade, the streaming response's headers) and from then on `client`
 * carries the stream; an error thrown before `begin` is an ordinary HTTP error. `body` is the
 * request body, read before the socket becomes the stream's input.
 */
export type StreamHandler = (r: Request, client: ClientStream, m: RegExpExecArray, begin: (tty: boolean) => void, body: Buffer) => Promise<void>;

/**
 * A GET upgraded to a WebSocket: `accept(binary)` completes the handshake and gives the
 * connection as a ClientStream (the client's messages are its input; writes go out as binary
 * messages, or text ones with `binary` false). An error thrown before `accept` is an HTTP error.
 */
export type WebSocketHandler = (r: Request, m: RegExpExecArray, accept: (binary: boolean) => Promise<ClientStream>) => Promise<void>;

/** What a route file registers its handlers on (the ApiServer): `pattern` is a regular
 * expression for the path without the /v1.NN prefix, its groups come back in `m`. */
export interface RouteTable {
  on(method: string, pattern: string, handler: RouteHandler): void;
  /** A POST answered with a hijacked stream (see StreamHandler). */
  onStream(pattern: string, handler: StreamHandler): void;
  /** A GET answered on a WebSocket (see WebSocketHandler). */
  onWebSocket(pattern: string, handler: WebSocketHandler): void;
}

export function parseRequest(req: IncomingMessage): Request {
  const url = new URL(req.url ?? "/", "http://docker");
  let path = url.pathname;
  let apiVersion = API_VERSION;
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  if (m) {
    apiVersion = m[1]!;
    path = m[2]!;
    if (compareVersions(apiVersion, MIN_API_VERSION) < 0) {
      throw invalidArgument(`client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    }
  }
  return { method: req.method ?? "GET", path, apiVersion, query: url.searchParams, raw: req };
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split(".").map(Number);
  const [b1 = 0, b2 = 0] = b.split(".").map(Number);
  return a1 - b1 || a2 - b2;
}

export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === "") return dflt;
  return !["0", "false", "no"].includes(v.toLowerCase());
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalidArgument(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}

export function filtersParam(q: URLSearchParams): Record<string, string[]> {
  const raw = q.get("filters");
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filter '${raw}'`);
  }
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    // Two encodings exist: {"name":{"x":true}} (current) and {"name":["x"]} (old clients).
    out[k] = Array.isArray(v) ? v.map(String) : Object.keys((v as Record<string, unknown>) ?? {});
  }
  return out;
}

export function readBody(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(invalidArgument(`request body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** A JSON body; empty is `undefined` unless required. Malformed JSON is a 400 naming the problem. */
export async function readJson<T>(req: IncomingMessage, required = false): Promise<T | undefined> {
  const body = await readBody(req);
  if (body.length === 0 || body.toString().trim() === "") {
    if (required) throw invalidArgument("request body is empty: a JSON object is required");
    return undefined;
  }
  try {
    return JSON.parse(body.toString("utf8")) as T;
  } catch (err) {
    throw invalidArgument(`malformed JSON in the request body: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** An answer without a body: 204, or 304 for "nothing to do", or 200 where Docker says so. */
export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = err instanceof GantryError ? err.httpStatus : 500;
  const message = err instanceof GantryError ? err.describe() : err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}

/** The client side of an upgraded connection as a ClientStream. `head` is what Node read
 * past the headers: for exec start it begins with the JSON body, which we skip. */
export function upgradedStream(socket: Duplex, head: Buffer, skipBytes: number): ClientStream {
  let closed = false;
  let pendingSkip = skipBytes;
  const dataCbs: ((b: Buffer) => void)[] = [];
  const endCbs: (() => void)[] = [];
  const closeCbs: (() => void)[] = [];
  const deliver = (b: Buffer) => {
    if (pendingSkip > 0) {
      const n = Math.min(pendingSkip, b.length);
      pendingSkip -= n;
      b = b.subarray(n);
    }
    if (b.length) for (const cb of dataCbs) cb(b);
  };
  const buffered: Buffer[] = head.length ? [head] : [];
  socket.on("data", (b: Buffer) => (dataCbs.length ? deliver(b) : buffered.push(b)));
  socket.on("end", () => endCbs.forEach((cb) => cb()));
  socket.on("close", () => {
    closed = true;
    closeCbs.forEach((cb) => cb());
  });
  socket.on("error", () => {});
  return {
    write: (b) => {
      if (!closed) socket.write(b);
    },
    end: () => {
      if (!closed) socket.end();
    },
    onData: (cb) => {
      dataCbs.push(cb);
      for (const b of buffered.splice(0)) deliver(b);
    },
    onInputEnd: (cb) => endCbs.push(cb),
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}

/** A non-upgraded streaming response (dockerode without hijack): output only. */
export function responseStream(req: IncomingMessage, res: ServerResponse, contentType: string): ClientStream {
  let closed = false;
  const closeCbs: (() => void)[] = [];
  res.writeHead(200, { "Content-Type": contentType });
  res.flushHeaders();
  res.on("close", () => {
    closed = true;
    closeCbs.forEach((cb) => cb());
  });
  return {
    write: (b) => {
      if (!closed) res.write(b);
    },
    end: () => {
      if (!closed) res.end();
    },
    onData: (cb) => req.on("data", cb),
    onInputEnd: (cb) => req.on("end", cb),
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}

export function writeUpgradeHeaders(socket: Duplex, tty: boolean, apiVersion: string): void {
  const type = tty || compareVersions(apiVersion, "1.42") < 0 ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
}

/** A server-side WebSocket as a ClientStream (see WebSocketHandler). */
export function webSocketStream(ws: WebSocket, binary: boolean): ClientStream {
  let closed = false;
  const endCbs: (() => void)[] = [];
  const closeCbs: (() => void)[] = [];
  // Messages that come before the relay listens (it connects to the monitor first) wait.
  let pending: Buffer[] | undefined = [];
  let deliver: ((b: Buffer) => void) | undefined;
  ws.on("message", (data: Buffer) => {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (deliver) deliver(b);
    else pending?.push(b);
  });
  ws.on("close", () => {
    closed = true;
    for (const cb of endCbs.splice(0)) cb();
    for (const cb of closeCbs.splice(0)) cb();
  });
  ws.on("error", () => ws.terminate());
  return {
    write: (b) => {
      if (!closed) ws.send(binary ? b : b.toString("utf8"), { binary });
    },
    end: () => {
      if (!closed) ws.close(1000);
    },
    onData: (cb) => {
      deliver = cb;
      for (const b of pending ?? []) cb(b);
      pending = undefined;
    },
    onInputEnd: (cb) => endCbs.push(cb),
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}
