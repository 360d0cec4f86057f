// The client's in-process transport, for code that runs inside `gantry server` (the
// controller manager). A request is served by the same function an HTTPS request reaches
// after authentication — authorization, routing, decoding, admission, defaulting,
// validation, managedFields and the registry — with no socket, TLS or HTTP parsing: the
// request and response are small in-memory stand-ins for node's IncomingMessage and
// ServerResponse, carrying only what the handlers use. The API server builds it and hands
// it to whoever it starts (dependency injection: src/cluster/client never imports this).
import { EventEmitter } from "node:events";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { lineSplitter, type ApiRequest, type ApiResponse, type ApiStream, type ApiTransport } from "../client/index.ts";
import type { UserInfo } from "./authentication.ts";

/** Serves one authenticated request (server.ts's routing after authentication). */
export type ServeAuthenticated = (user: UserInfo, req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Who in-process callers are: the controller manager's identity (it may do everything, as kube-controller-manager's roles allow). */
export const CONTROLLER_MANAGER_USER: UserInfo = { username: "system:kube-controller-manager", groups: ["system:masters", "system:authenticated"] };

class InProcessRequest extends EventEmitter {
  readonly headers: Record<string, string>;
  readonly socket = { localAddress: "127.0.0.1", localPort: 0, remoteAddress: "127.0.0.1" };

  constructor(
    readonly method: string,
    readonly url: string,
    private readonly body: Buffer | undefined,
    contentType: string | undefined,
  ) {
    super();
    this.headers = { accept: "application/json", "user-agent": "gantry-controller-manager" };
    if (body !== undefined) {
      this.headers["content-type"] = contentType ?? "application/json";
      this.headers["content-length"] = String(body.length);
    }
  }

  resume(): this {
    return this;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.body?.length) yield this.body;
  }
}

class InProcessResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  finished = false;

  constructor(
    private readonly onHead: (status: number) => void,
    private readonly onData: (chunk: Buffer | string) => void,
    private readonly onEnd: () => void,
  ) {
    super();
  }

  writeHead(status: number, _headers?: OutgoingHttpHeaders): this {
    this.statusCode = status;
    this.flushHeaders();
    return this;
  }

  flushHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.onHead(this.statusCode);
  }

  write(chunk: Buffer | string): boolean {
    this.flushHeaders();
    if (!this.finished) this.onData(chunk);
    return true;
  }

  end(chunk?: Buffer | string): this {
    if (this.finished) return this;
    if (chunk !== undefined && chunk !== "") this.write(chunk);
    this.flushHeaders();
    this.finished = true;
    this.onEnd();
    this.emit("close");
    return this;
  }
}

export class InProcessTransport implements ApiTransport {
  readonly server = "in-process";

  constructor(
    private readonly serve: ServeAuthenticated,
    private readonly user: UserInfo = CONTROLLER_MANAGER_USER,
    private readonly ca?: string,
  ) {}

  caCert(): string | undefined {
    return this.ca;
  }

  request(r: ApiRequest): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let status = 0;
      const req = new InProcessRequest(r.method, r.path, r.body === undefined ? undefined : Buffer.from(r.body), r.contentType);
      const res = new InProcessResponse(
        (s) => (status = s),
        (c) => chunks.push(Buffer.from(c)),
        () => resolve({ status, text: Buffer.concat(chunks).toString() }),
      );
      this.serve(this.user, req as unknown as IncomingMessage, res as unknown as ServerResponse).catch(reject);
    });
  }

  stream(r: ApiRequest, onLine: (line: string) => void, onEnd: (err?: Error) => void): Promise<ApiStream> {
    return new Promise((resolve, reject) => {
      const req = new InProcessRequest(r.method, r.path, r.body === undefined ? undefined : Buffer.from(r.body), r.contentType);
      let status = 0;
      let failedText: Buffer[] | undefined;
      let cancelled = false;
      const lines = lineSplitter((line) => {
        if (!cancelled) onLine(line);
      });
      const cancel = () => {
        if (cancelled) return;
        cancelled = true;
        // What a client hanging up looks like to the handler.
        req.emit("close");
      };
      const res = new InProcessResponse(
        (s) => {
          status = s;
          if (s >= 400) failedText = [];
          else resolve({ status: s, cancel });
        },
        (c) => {
          if (failedText) failedText.push(Buffer.from(c));
          else lines.push(c);
        },
        () => {
          if (failedText) return resolve({ status, text: Buffer.concat(failedText).toString(), cancel() {} });
          lines.flush();
          onEnd();
        },
      );
      this.serve(this.user, req as unknown as IncomingMessage, res as unknown as ServerResponse).catch(reject);
    });
  }
}
