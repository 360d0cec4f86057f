// The part of the `ws` package (8.x) the kubelet server and the engine's WebSocket attach use
// (and their tests, as clients), typed here because the package ships no types of its own
// and @types/ws is not a dependency.
declare module "ws" {
  import type { EventEmitter } from "node:events";
  import type { IncomingMessage } from "node:http";
  import type { Duplex } from "node:stream";

  export class WebSocket extends EventEmitter {
    /** A client; `ws+unix:///path.sock:/request/path` reaches a unix socket. */
    constructor(address: string, protocols?: string | string[], options?: { headers?: Record<string, string> });
    static readonly OPEN: 1;
    readonly readyState: 0 | 1 | 2 | 3;
    readonly protocol: string;
    readonly bufferedAmount: number;
    send(data: Buffer | string, opts?: { binary?: boolean }, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
    ping(data?: Buffer): void;
    /** Stops reading messages (back-pressure) until resume(). */
    pause(): void;
    resume(): void;
    on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): this;
    on(event: "close", listener: (code: number, reason: Buffer) => void): this;
    on(event: "error", listener: (err: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export interface ServerOptions {
    noServer?: boolean;
    handleProtocols?: (protocols: Set<string>, request: IncomingMessage) => string | false;
    perMessageDeflate?: boolean;
    maxPayload?: number;
  }

  export class WebSocketServer extends EventEmitter {
    constructor(options: ServerOptions);
    handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WebSocket, request: IncomingMessage) => void): void;
    on(event: "headers", listener: (headers: string[], request: IncomingMessage) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    close(cb?: (err?: Error) => void): void;
  }
}
