// A small Docker Engine API client over a unix socket (node:http), used by the `gantry` CLI
// verbs: JSON calls, streaming responses, and the hijacked attach/exec stream (Upgrade: tcp).
import { request, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { GantryError } from "../common/errors.ts";

export const DEFAULT_HOST = "unix:///run/gantry/gantry.sock";

export class EngineClient {
  readonly socketPath: string;

  constructor(host: string = process.env.GANTRY_HOST || DEFAULT_HOST) {
    if (!host.startsWith("unix://") && host.includes("://")) throw new GantryError("INVALID_ARGUMENT", `only unix:// hosts are supported, not ${host}`);
    this.socketPath = host.startsWith("unix://") ? host.slice(7) : host;
  }

  private fail(err: NodeJS.ErrnoException): GantryError {
    return new GantryError("INVALID_ARGUMENT", `Cannot connect to the Gantry daemon at unix://${this.socketPath}: ${err.code ?? err.message}`, {
      hint: "is `gantry daemon` running? (-H or GANTRY_HOST choose the socket)",
    });
  }

  /** Sends a request; resolves with the response (any status) for streaming callers. */
  raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const isStream = body !== undefined && typeof (body as NodeJS.ReadableStream).pipe === "function";
      const payload = body === undefined || isStream ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path: `/v1.50${path}`,
          headers: {
            ...(payload ? { "Content-Type": "application/json", "Content-Length": String(payload.length) } : {}),
            ...headers,
          },
        },
        resolve,
      );
      req.on("error", (err: NodeJS.ErrnoException) => reject(this.fail(err)));
      if (isStream) (body as NodeJS.ReadableStream).pipe(req);
      else req.end(payload);
    });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, text);
    if (!text.trim()) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  /** POST with Upgrade: tcp; resolves with the raw socket after a 101. */
  hijack(path: string, body: unknown | undefined): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({
        socketPath: this.socketPath,
        method: "POST",
        path: `/v1.50${path}`,
        headers: {
          Connection: "Upgrade",
          Upgrade: "tcp",
          "Content-Type": payload ? "application/json" : "text/plain",
          ...(payload ? { "Content-Length": String(payload.length) } : {}),
        },
      });
      req.on("upgrade", (_res, socket: Socket, head: Buffer) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.on("response", (res) => {
        void readAll(res).then((t) => reject(res.statusCode === 200 ? new GantryError("INTERNAL", "the daemon did not upgrade the connection") : apiError(res.statusCode ?? 500, t)));
      });
      req.on("error", (err: NodeJS.ErrnoException) => reject(this.fail(err)));
      req.end(payload);
    });
  }
}

/** A query string from typed parameters: undefined and false are left out, true is "1", an
 * array repeats its key (Docker's `names=a&names=b`). */
export function query(params: Record<string, string | number | boolean | string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === false) continue;
    if (Array.isArray(v)) for (const x of v) q.append(k, x);
    else q.set(k, v === true ? "1" : String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** Docker's `filters` parameter: key → values, e.g. { status: ["exited"], label: ["a=b"] }. */
export type Filters = Record<string, string[]>;

/** Filters as the API takes them: JSON of key → { value: true }; undefined when empty. */
export function filtersJson(f: Filters | undefined): string | undefined {
  if (!f || Object.keys(f).length === 0) return undefined;
  return JSON.stringify(Object.fromEntries(Object.entries(f).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))])));
}

export function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.on("end", () => resolve(text));
    res.on("error", reject);
  });
}

const statusCodes: Record<number, GantryError["code"]> = {
  304: "CONFLICT",
  400: "INVALID_ARGUMENT",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  502: "REGISTRY_ERROR",
  503: "UNAVAILABLE",
  504: "TIMEOUT",
};

export function apiError(status: number, text: string): GantryError {
  let message = text.trim();
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    /* not JSON */
  }
  return new GantryError(statusCodes[status] ?? "INTERNAL", `Error response from daemon: ${message}`);
}

/** Splits Docker's multiplexed stream into stdout/stderr writes. */
export function demux(onFrame: (stream: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 8) {
      const len = buf.readUInt32BE(4);
      if (buf.length < 8 + len) break;
      onFrame(buf[0]!, buf.subarray(8, 8 + len));
      buf = buf.subarray(8 + len);
    }
  };
}
