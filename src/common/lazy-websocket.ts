// A `ws` WebSocketServer (noServer mode) whose library is loaded at the first upgrade, not at
// import: a node agent serves WebSockets only for kubectl exec/attach/port-forward and the
// node engine's attach, and ws is ~0.3 MB of heap and ~0.8 MB of anonymous memory that a
// long-lived process otherwise carries from its start (measured beside a bundle that loads the
// same node modules without it).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ServerOptions, WebSocket, WebSocketServer } from "ws";

export interface LazyWebSocketServer {
  /** As WebSocketServer.handleUpgrade, after ws is loaded (the socket stays paused meanwhile). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WebSocket) => void): void;
  /** Closes the server if it was ever made. */
  close(): void;
}

/** `setup` runs once on the server when it is made (e.g. to add "headers" listeners). */
export function lazyWebSocketServer(options: Omit<ServerOptions, "noServer">, setup?: (wss: WebSocketServer) => void): LazyWebSocketServer {
  let made: Promise<WebSocketServer> | undefined;
  let server: WebSocketServer | undefined;
  const make = () =>
    (made ??= import("ws").then(({ WebSocketServer: Server }) => {
      server = new Server({ ...options, noServer: true });
      setup?.(server);
      return server;
    }));
  return {
    handleUpgrade(req, socket, head, done) {
      make().then(
        (wss) => wss.handleUpgrade(req, socket, head, done),
        () => socket.destroy(),
      );
    },
    close() {
      server?.close();
    },
  };
}
