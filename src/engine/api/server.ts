// The Docker Engine API (1.41–1.50) over a unix socket with node:http: the routes the docker
// CLI 28 and dockerode use (see /work/shared/compat/docker-api.md). Every route is served with
// and without the /v1.NN prefix. Attach and exec start answer an `Upgrade: tcp` request with
// 101 and then speak the raw or multiplexed stream on the socket; without Upgrade they stream
// the response body instead.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { chmodSync, mkdirSync, rmSync, existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { GantryError, notFound } from "../../common/errors.ts";
import { lazyWebSocketServer } from "../../common/lazy-websocket.ts";
import type { ClientStream } from "../attach.ts";
import type { Engine } from "../engine.ts";
import { ExecTable } from "../exec.ts";
import { ALL_CAPS } from "../oci-spec.ts";
import {
  parseRequest,
  responseStream,
  sendError,
  upgradedStream,
  webSocketStream,
  writeUpgradeHeaders,
  type Request,
  type RouteHandler,
  type RouteTable,
  type StreamHandler,
  type WebSocketHandler,
} from "./http.ts";
import { registerContainerRoutes } from "./routes/containers.ts";
import { registerExecRoutes } from "./routes/exec.ts";
import { registerImageRoutes } from "./routes/images.ts";
import { registerNetworkRoutes } from "./routes/networks.ts";
import { registerMetricsRoutes, unregisterMetrics } from "./routes/metrics.ts";
import { registerSwarmRoutes } from "./routes/swarm.ts";
import { registerSystemRoutes } from "./routes/system.ts";
import { registerVolumeRoutes } from "./routes/volumes.ts";

export class ApiServer implements RouteTable {
  readonly server: Server;
  readonly execs: ExecTable;
  private readonly routes: { method: string; re: RegExp; handler: RouteHandler }[] = [];
  private readonly streamRoutes: { re: RegExp; handler: StreamHandler }[] = [];
  private readonly webSocketRoutes: { re: RegExp; handler: WebSocketHandler }[] = [];
  private readonly webSockets = lazyWebSocketServer({ perMessageDeflate: false });

  constructor(private readonly engine: Engine) {
    this.execs = new ExecTable(engine.runtime, join(engine.execRoot, "exec"), engine.host.boundingCaps ?? ALL_CAPS);
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.onUpgrade(req, socket, head));
    this.server.keepAliveTimeout = 60_000;
    this.register();
  }

  listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    rmSync(socketPath, { force: true });
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(socketPath, () => {
        chmodSync(socketPath, 0o600);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    unregisterMetrics(this.engine);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  on(method: string, pattern: string, handler: RouteHandler): void {
    this.routes.push({ method, re: new RegExp(`^${pattern}$`), handler });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const r = parseRequest(req);
      for (const s of this.streamRoutes) {
        const m = s.re.exec(r.path);
        if (m && r.method === "POST") {
          const body = await new Promise<Buffer>((resolve) => {
            const chunks: Buffer[] = [];
            const len = Number(req.headers["content-length"] ?? 0);
            if (!len) return resolve(Buffer.alloc(0));
            let got = 0;
            req.on("data", (c: Buffer) => {
              chunks.push(c);
              got += c.length;
              if (got >= len) resolve(Buffer.concat(chunks));
            });
            req.on("end", () => resolve(Buffer.concat(chunks)));
          });
          let stream: ClientStream | undefined;
          const lazy: ClientStream = {
            write: (b) => stream?.write(b),
            end: () => (stream ? stream.end() : res.end()),
            onData: (cb) => stream?.onData(cb),
            onInputEnd: (cb) => stream?.onInputEnd(cb),
            onClose: (cb) => res.on("close", cb),
            get closed() {
              return stream ? stream.closed : res.writableEnded;
            },
          };
          await s.handler(r, lazy, m, (tty) => (stream = responseStream(req, res, tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream")), body);
          if (!stream && !res.headersSent) {
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end();
          }
          return;
        }
      }
      const candidates = this.routes.filter((x) => x.re.test(r.path));
      const route = candidates.find((x) => x.method === r.method || (x.method === "GET" && r.method === "HEAD" && !candidates.some((c) => c.method === "HEAD")));
      if (!route) {
        if (candidates.length) throw new GantryError("INVALID_ARGUMENT", `method ${r.method} not allowed on ${r.path}`);
        throw notFound(`page not found`);
      }
      await route.handler(r, res, route.re.exec(r.path)!);
    } catch (err) {
      sendError(res, err);
    }
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => {});
    let r: Request;
    try {
      r = parseRequest(req);
    } catch (err) {
      return rejectUpgrade(socket, err);
    }
    if ((req.headers.upgrade ?? "").toLowerCase() === "websocket") return this.onWebSocketUpgrade(r, req, socket, head);
    const route = this.streamRoutes.map((s) => ({ s, m: s.re.exec(r.path) })).find((x) => x.m);
    if (!route || r.method !== "POST") return rejectUpgrade(socket, notFound("page not found"));
    // The request body (exec start's JSON) follows the headers on the socket: read it first.
    const len = Number(req.headers["content-length"] ?? 0);
    let body = head;
    while (body.length < len) {
      const chunk = await new Promise<Buffer | null>((resolve) => {
        const onData = (c: Buffer) => {
          socket.off("end", onEnd);
          resolve(c);
        };
        const onEnd = () => {
          socket.off("data", onData);
          resolve(null);
        };
        socket.once("data", onData);
        socket.once("end", onEnd);
      });
      if (!chunk) break;
      body = Buffer.concat([body, chunk]);
    }
    socket.pause();
    const rest = body.subarray(len);
    const client = upgradedStream(socket, rest, 0);
    socket.resume();
    let begun = false;
    try {
      await route.s.handler(
        r,
        client,
        route.m!,
        (tty) => {
          begun = true;
          writeUpgradeHeaders(socket, tty, r.apiVersion);
        },
        body.subarray(0, len),
      );
      if (!begun) {
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n");
        socket.end();
      }
    } catch (err) {
      if (!begun) rejectUpgrade(socket, err);
      else socket.destroy();
    }
  }

  onStream(pattern: string, handler: StreamHandler): void {
    this.streamRoutes.push({ re: new RegExp(`^${pattern}$`), handler });
  }

  onWebSocket(pattern: string, handler: WebSocketHandler): void {
    this.webSocketRoutes.push({ re: new RegExp(`^${pattern}$`), handler });
  }

  private async onWebSocketUpgrade(r: Request, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = this.webSocketRoutes.map((w) => ({ w, m: w.re.exec(r.path) })).find((x) => x.m);
    if (!route || r.method !== "GET") return rejectUpgrade(socket, notFound("page not found"));
    let accepted: ClientStream | undefined;
    const accept = (binary: boolean) =>
      new Promise<ClientStream>((resolve) => this.webSockets.handleUpgrade(req, socket, head, (ws) => resolve((accepted = webSocketStream(ws, binary)))));
    try {
      await route.w.handler(r, route.m!, accept);
    } catch (err) {
      if (!accepted) rejectUpgrade(socket, err);
      else accepted.end();
    }
  }

  /** Every route, one file per resource (routes/). */
  private register(): void {
    registerSystemRoutes(this, this.engine);
    registerContainerRoutes(this, this.engine, this.execs);
    registerExecRoutes(this, this.engine, this.execs);
    registerImageRoutes(this, this.engine);
    registerNetworkRoutes(this, this.engine);
    registerVolumeRoutes(this, this.engine);
    registerSwarmRoutes(this);
    registerMetricsRoutes(this, this.engine);
  }
}

function rejectUpgrade(socket: Duplex, err: unknown): void {
  const status = err instanceof GantryError ? err.httpStatus : 500;
  const body = JSON.stringify({ message: err instanceof Error ? (err instanceof GantryError ? err.describe() : err.message) : String(err) });
  socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
export function socketExists(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isSocket();
  } catch {
    return false;
  }
}
