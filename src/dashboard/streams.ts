// The app's long-lived reads (watches, followed logs, stats and event streams) share one
// WebSocket instead of one HTTP connection each: a browser opens at most six HTTP/1.1
// connections to a host, and a page with seven watches would leave its next click queued
// behind them. Each stream is still a plain GET to the API with the user's bearer token, so
// the API decides exactly as for any other request.
//
//   app → dashboard (text)    {op:"auth", token}            first, once
//                             {op:"open", id, path}          GET path (a dashboard path)
//                             {op:"close", id}               stop reading it
//   dashboard → app (text)    {op:"ready"} | {op:"refused", message}   answer to auth
//                             {op:"open", id, status}        the API answered 2xx
//                             {op:"error", id, status, message}  it did not (its own words)
//                             {op:"end", id}                 the API ended the stream
//                 (binary)    [id: uint32 big-endian][bytes]  the stream's body as it comes
import type { Server, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Gateway } from "./gateway.ts";

export const STREAMS_PATH = "/dashboard/streams";

/** Stop reading from the API while this much is waiting to go to the browser. */
const HIGH_WATER = 1 << 20;
const MAX_ERROR_BODY = 64 << 10;

type ClientMessage =
  { op: "auth"; token: string } | { op: "open"; id: number; path: string } | { op: "close"; id: number };

export function acceptStreams(server: Server, gateway: Gateway, log: (m: string) => void): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 << 10 });
  const sockets = new Set<WebSocket>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "").split("?")[0];
    // a page of another site may not borrow a logged-in tab's streams
    const origin = req.headers.origin;
    if (path !== STREAMS_PATH || (origin !== undefined && safeHost(origin) !== req.headers.host)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on("close", () => sockets.delete(ws));
      serve(ws, gateway, log);
    });
  });
  return {
    close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
    },
  };
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function serve(ws: WebSocket, gateway: Gateway, log: (m: string) => void): void {
  let token: string | undefined;
  const open = new Map<number, { destroy(): void }>();
  const sendJson = (msg: object) => ws.readyState === 1 && ws.send(JSON.stringify(msg));
  ws.on("message", (data: Buffer) => {
    let msg: ClientMessage;
    try {
      msg = JSON.parse(data.toString()) as ClientMessage;
    } catch {
      ws.close(1003, "messages are JSON");
      return;
    }
    if (msg.op === "auth") {
      const refused = gateway.refuse(msg.token);
      if (refused) {
        sendJson({ op: "refused", message: refused });
        ws.close(4401, "unauthorized");
        return;
      }
      token = msg.token;
      sendJson({ op: "ready" });
    } else if (msg.op === "open" && token !== undefined && Number.isInteger(msg.id) && !open.has(msg.id)) {
      open.set(
        msg.id,
        stream(ws, gateway, token, msg.id, String(msg.path), () => open.delete(msg.id), log),
      );
    } else if (msg.op === "close") {
      open.get(msg.id)?.destroy();
      open.delete(msg.id);
    } else {
      ws.close(1008, token === undefined ? "authenticate first" : "unknown message");
    }
  });
  ws.on("close", () => {
    for (const s of open.values()) s.destroy();
    open.clear();
  });
}

function stream(
  ws: WebSocket,
  gateway: Gateway,
  token: string,
  id: number,
  path: string,
  done: () => void,
  log: (m: string) => void,
): { destroy(): void } {
  const sendJson = (msg: object) => ws.readyState === 1 && ws.send(JSON.stringify({ id, ...msg }));
  const apiPath = gateway.route(path);
  if (apiPath === undefined) {
    sendJson({ op: "error", status: 404, message: `${path} is not an API path` });
    done();
    return { destroy() {} };
  }
  let req: ReturnType<Gateway["open"]>;
  try {
    req = gateway.open("GET", apiPath, { authorization: `Bearer ${token}`, accept: "application/json" });
  } catch (err) {
    // node refuses a path with control characters before sending anything
    sendJson({ op: "error", status: 400, message: (err as Error).message });
    done();
    return { destroy() {} };
  }
  let finished = false;
  const finish = (msg: object) => {
    if (finished) return;
    finished = true;
    sendJson(msg);
    done();
  };
  req.on("response", (answer) => {
    const status = answer.statusCode ?? 502;
    if (status >= 300) {
      // the API's refusal, in its own words (a Status' message, or the text)
      let body = "";
      answer.on("data", (c: Buffer) => body.length < MAX_ERROR_BODY && (body += c.toString()));
      answer.on("end", () =>
        finish({ op: "error", status, message: messageOf(body) || answer.statusMessage }),
      );
      return;
    }
    sendJson({ op: "open", status });
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(id);
    answer.on("data", (chunk: Buffer) => {
      if (ws.readyState !== 1) return;
      ws.send(Buffer.concat([prefix, chunk]), { binary: true }, () => {
        if (answer.isPaused() && ws.bufferedAmount < HIGH_WATER) answer.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER) answer.pause();
    });
    answer.on("end", () => finish({ op: "end" }));
    answer.on("error", (err) => finish({ op: "error", status: 502, message: err.message }));
  });
  req.on("error", (err) => {
    if (!finished) log(`dashboard: stream ${path}: ${err.message}`);
    finish({ op: "error", status: 502, message: err.message });
  });
  req.end();
  return {
    destroy() {
      finished = true;
      req.destroy();
    },
  };
}

function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: string };
    if (parsed.message) return parsed.message;
  } catch {
    // not JSON
  }
  return body.trim();
}
