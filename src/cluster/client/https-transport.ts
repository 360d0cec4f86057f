// The client's HTTPS transport: a kubeconfig (its credentials applied by
// @kubernetes/client-node, so every auth form kubectl knows works) or a server URL, bearer
// token and the server's CA. One keep-alive agent per transport; watches are ordinary chunked
// GETs read line by line.
import { readFileSync } from "node:fs";
import { Agent, request, type RequestOptions } from "node:https";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
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

  /**
   * The server and CA are read here; @kubernetes/client-node (20 MB of a process's RSS) is
   * loaded only at the first request, to apply the user's credentials — a node agent, which
   * uses fromTarget, never loads it.
   */
  static fromKubeconfig(path: string): HttpsTransport {
    const cluster = currentCluster(path);
    let loaded: Promise<(opts: RequestOptions) => Promise<void>> | undefined;
    const applyAuth = async (opts: RequestOptions) => {
      loaded ??= import("@kubernetes/client-node").then(({ KubeConfig }) => {
        const config = new KubeConfig();
        config.loadFromFile(path);
        return (o: RequestOptions) => config.applyToHTTPSOptions(o);
      });
      await (await loaded)(opts);
    };
    return new HttpsTransport(cluster.server, applyAuth, cluster.ca);
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

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name?: string; context?: { cluster?: string } }[];
  clusters?: { name?: string; cluster?: { server?: string; "certificate-authority-data"?: string; "certificate-authority"?: string } }[];
}

/** The current context's cluster: its server and CA (a file path is relative to the kubeconfig's directory, as kubectl reads it). */
function currentCluster(path: string): { server: string; ca?: string } {
  let file: KubeconfigFile;
  try {
    file = (parseYaml(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new GantryError("INVALID_ARGUMENT", `cannot read kubeconfig ${path}: ${(err as Error).message}`, { path, hint: "is `gantry server` running with this --data-dir, or pass --kubeconfig", cause: err });
  }
  const context = file.contexts?.find((c) => c.name === file["current-context"])?.context;
  const cluster = file.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (!cluster?.server) throw new GantryError("INVALID_ARGUMENT", `kubeconfig ${path} names no current cluster`, { path });
  const caData = cluster["certificate-authority-data"];
  const caFile = cluster["certificate-authority"];
  const ca = caData ? Buffer.from(caData, "base64").toString() : caFile ? readFileSync(resolve(dirname(path), caFile), "utf8") : undefined;
  return { server: cluster.server, ...(ca !== undefined ? { ca } : {}) };
}
