// The client's HTTPS transport: a kubeconfig (read by @kubernetes/client-node, so every
// auth form kubectl knows works) or a server URL, bearer token and the server's CA. One
// keep-alive agent per transport; watches are ordinary chunked GETs read line by line.
import { readFileSync } from "node:fs";
import { Agent, request, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { GantryError } from "../../common/errors.ts";
import { lineSplitter, type ApiRequest, type ApiResponse, type ApiStream, type ApiTransport } from "./transport.ts";

export interface HttpsTarget {
  server: string;
  token?: string;
  /** PEM of the CA that signed the server's certificate. */
  caCert?: string;
}

export class HttpsTransport implements ApiTransport {
  readonly server: string;
  private readonly agent = new Agent({ keepAlive: true });

  private constructor(
    server: string,
    private readonly applyAuth: (opts: RequestOptions) => Promise<void>,
    private readonly ca: string | undefined,
  ) {
    this.server = server.replace(/\/+$/, "");
  }

  static fromKubeconfig(path: string): HttpsTransport {
    const config = new KubeConfig();
    try {
      config.loadFromFile(path);
    } catch (err) {
      throw new GantryError("INVALID_ARGUMENT", `cannot read kubeconfig ${path}: ${(err as Error).message}`, { path, hint: "is `gantry server` running with this --data-dir, or pass --kubeconfig", cause: err });
    }
    const cluster = config.getCurrentCluster();
    if (!cluster?.server) throw new GantryError("INVALID_ARGUMENT", `kubeconfig ${path} names no current cluster`, { path });
    const ca = cluster.caData ? Buffer.from(cluster.caData, "base64").toString() : cluster.caFile ? readFileSync(cluster.caFile, "utf8") : undefined;
    return new HttpsTransport(cluster.server, (opts) => config.applyToHTTPSOptions(opts), ca);
  }

  static fromTarget(t: HttpsTarget): HttpsTransport {
    return new HttpsTransport(
      t.server,
      async (opts) => {
        if (t.caCert) opts.ca = t.caCert;
        if (t.token) opts.headers = { ...opts.headers, Authorization: `Bearer ${t.token}` };
      },
      t.caCert,
    );
  }

  /** The CA this transport trusts for the server (PEM), if it names one. */
  caCert(): string | undefined {
    return this.ca;
  }

  close(): void {
    this.agent.destroy();
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    const opts = await this.options(req);
    return new Promise((resolve, reject) => {
      const r = request(`${this.server}${req.path}`, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      r.on("error", (err) => reject(this.unreachable(err)));
      r.end(req.body);
    });
  }

  async stream(req: ApiRequest, onLine: (line: string) => void, onEnd: (err?: Error) => void): Promise<ApiStream> {
    const opts = await this.options(req);
    return new Promise((resolve, reject) => {
      let cancelled = false;
      let ended = false;
      let responded = false;
      const end = (err?: Error) => {
        if (ended) return;
        ended = true;
        onEnd(cancelled ? undefined : err);
      };
      const r = request(`${this.server}${req.path}`, opts, (res) => {
        responded = true;
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status, text: Buffer.concat(chunks).toString(), cancel() {} }));
          res.on("error", reject);
          return;
        }
        const lines = lineSplitter(onLine);
        res.on("data", (c: Buffer) => lines.push(c));
        res.on("end", () => {
          lines.flush();
          end();
        });
        res.on("error", (err) => end(err));
        res.on("close", () => end(res.complete ? undefined : new Error("the watch connection was closed before its end")));
        resolve({
          status,
          cancel() {
            cancelled = true;
            r.destroy();
            end();
          },
        });
      });
      r.on("error", (err) => {
        if (responded) end(err);
        else reject(this.unreachable(err));
      });
      r.end(req.body);
    });
  }

  private async options(req: ApiRequest): Promise<RequestOptions> {
    const opts: RequestOptions = { method: req.method, agent: this.agent, headers: { Accept: "application/json" } };
    await this.applyAuth(opts);
    if (req.body !== undefined) opts.headers = { ...opts.headers, "Content-Type": req.contentType ?? "application/json", "Content-Length": Buffer.byteLength(req.body) };
    return opts;
  }

  private unreachable(err: Error): GantryError {
    return new GantryError("UNAVAILABLE", `cannot reach the cluster API server at ${this.server}: ${err.message}`, { hint: "is `gantry server` running?", cause: err });
  }
}
