// Port-forward as the kubelet serves it (pkg/kubelet/cri/streaming/portforward): SPDY/3.1
// with the portforward.k8s.io subprotocol, either as a plain HTTP upgrade
// (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`) or carried in the
// binary messages of a WebSocket (`Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io`),
// which kubectl 1.32 tries first. For each local connection kubectl opens two streams with
// the same requestid — an "error" stream it half-closes at once, and a "data" stream — and
// the agent joins the data stream to a TCP connection to the pod's port (pod-dialer.ts: its
// IP, else localhost inside its network namespace). A failure
// is written on the error stream; closing the error stream empty means success.
import type { IncomingMessage } from "node:http";
import { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import { lazyWebSocketServer } from "../../common/lazy-websocket.ts";
import { dialPod } from "./pod-dialer.ts";
import type { Pod } from "./pod-types.ts";
import { RST_CANCEL, SpdyServerSession, type SpdyStream } from "./spdy.ts";

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
const WEBSOCKET_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;

/** One forwarded connection: its two streams and the pod-side socket. */
interface Forward {
  port: string;
  error?: number;
  data?: number;
  pod?: Duplex;
  /** Client bytes that came while the pod connection was being opened. */
  pending: Buffer[];
  opening?: boolean;
  /** The client half-closed (FIN) or reset the data stream before the pod connection opened. */
  clientDone?: "fin" | "reset";
}

/** A WebSocket's binary messages as one byte stream (client-go's tunneling connection). */
function websocketStream(ws: WebSocket): Duplex {
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== 1) return cb();
      ws.send(chunk, { binary: true }, (err) => cb(err ?? null));
    },
    final(cb) {
      ws.close(1000);
      cb();
    },
    destroy(err, cb) {
      ws.terminate();
      cb(err);
    },
  });
  ws.on("message", (b: Buffer) => d.push(b));
  ws.on("close", () => d.push(null));
  ws.on("error", () => d.destroy());
  return d;
}

// ws refuses "SPDY/3.1+portforward.k8s.io" ("/" is no token character): the header is taken
// off before the handshake and the chosen protocol is put back into the 101 answer.
const wss = lazyWebSocketServer({ perMessageDeflate: false }, (server) =>
  server.on("headers", (headers: string[]) => headers.push(`Sec-WebSocket-Protocol: ${WEBSOCKET_PROTOCOL}`)),
);

/** Serves one port-forward upgrade request for pod, whichever of the two framings it asks for. */
export function servePortForward(req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, sandboxPid: number | undefined, log: (m: string) => void): void {
  const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
  if (upgrade === "websocket") {
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    if (!offered.includes(WEBSOCKET_PROTOCOL)) return refuse(socket, `port-forward over WebSocket needs the ${WEBSOCKET_PROTOCOL} subprotocol`);
    delete req.headers["sec-websocket-protocol"];
    wss.handleUpgrade(req, socket, head, (ws) => forward(websocketStream(ws), pod, sandboxPid, log));
    return;
  }
  if (upgrade !== "spdy/3.1") return refuse(socket, `port-forward needs an upgrade to SPDY/3.1 or WebSocket, not "${upgrade}"`);
  const versions = String(req.headers["x-stream-protocol-version"] ?? "").split(/\s*,\s*/);
  if (!versions.includes(PORT_FORWARD_PROTOCOL)) return refuse(socket, `port-forward needs X-Stream-Protocol-Version ${PORT_FORWARD_PROTOCOL}`);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`);
  forward(socket, pod, sandboxPid, log, head);
}

function refuse(socket: Duplex, message: string): void {
  socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

/** Runs the port-forward protocol on a SPDY connection until it closes. */
function forward(conn: Duplex, pod: Pod, sandboxPid: number | undefined, log: (m: string) => void, head?: Buffer): void {
  const byRequest = new Map<string, Forward>();
  const byStream = new Map<number, Forward>();
  const podIP = pod.status?.podIP;

  const fail = (f: Forward, message: string) => {
    if (f.error !== undefined) session.write(f.error, Buffer.from(message), true);
    if (f.data !== undefined) session.reset(f.data, RST_CANCEL);
  };
  const open = (f: Forward) => {
    const port = Number(f.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return fail(f, `invalid port ${JSON.stringify(f.port)}`);
    if (!podIP) return fail(f, `pod ${pod.metadata.namespace}/${pod.metadata.name} has no IP address yet`);
    f.opening = true;
    dialPod(podIP, port, sandboxPid).then(
      (sock) => attach(f, port, sock),
      (err: Error) => {
        log(`port-forward ${pod.metadata.namespace}/${pod.metadata.name} port ${port}: ${err.message}`);
        fail(f, `error forwarding port ${port} to pod ${pod.metadata.name}_${pod.metadata.namespace}, uid ${pod.metadata.uid}: ${err.message}`);
        forget(f);
      },
    );
  };
  const forget = (f: Forward) => {
    for (const [k, v] of byRequest) if (v === f) byRequest.delete(k);
    byStream.delete(f.error!);
    byStream.delete(f.data!);
  };
  const attach = (f: Forward, port: number, sock: Duplex) => {
    f.pod = sock;
    sock.on("data", (b: Buffer) => {
      if (!session.write(f.data!, b)) {
        sock.pause();
        session.onDrain(() => sock.resume());
      }
    });
    sock.on("end", () => {
      session.write(f.data!, Buffer.alloc(0), true);
      session.write(f.error!, Buffer.alloc(0), true);
    });
    sock.on("error", (err) => {
      log(`port-forward ${pod.metadata.namespace}/${pod.metadata.name} port ${port}: ${err.message}`);
      fail(f, `error forwarding port ${port} to pod ${pod.metadata.name}_${pod.metadata.namespace}, uid ${pod.metadata.uid}: ${err.message}`);
    });
    sock.on("close", () => forget(f));
    for (const b of f.pending.splice(0)) sock.write(b);
    if (f.clientDone === "fin") sock.end();
    if (f.clientDone === "reset") sock.destroy();
  };

  const session = new SpdyServerSession(conn, {
    onStream(s: SpdyStream) {
      const requestId = s.headers.requestid ?? String(s.id);
      const type = s.headers.streamtype;
      const f: Forward = byRequest.get(requestId) ?? { port: s.headers.port ?? "", pending: [] };
      byRequest.set(requestId, f);
      byStream.set(s.id, f);
      if (type === "error") f.error = s.id;
      else if (type === "data") f.data = s.id;
      else return session.reset(s.id, 1);
      if (f.error !== undefined && f.data !== undefined && !f.opening) open(f);
    },
    onData(id, data) {
      const f = byStream.get(id);
      // One slow pod connection holds the whole SPDY connection back (spdystream has no per-stream windows).
      if (f && id === f.data && !f.pod) f.pending.push(data);
      else if (f && id === f.data && f.pod && !f.pod.write(data)) {
        session.pauseReading();
        f.pod.once("drain", () => session.resumeReading());
      }
    },
    onFin(id) {
      const f = byStream.get(id);
      if (!f || id !== f.data) return;
      if (f.pod) f.pod.end();
      else f.clientDone = "fin";
    },
    onReset(id) {
      const f = byStream.get(id);
      if (!f || id !== f.data) return;
      if (f.pod) f.pod.destroy();
      else f.clientDone = "reset";
    },
    onClose() {
      for (const f of byRequest.values()) f.pod?.destroy();
      byRequest.clear();
      byStream.clear();
    },
  }, head);
}
