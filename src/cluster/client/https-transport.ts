// The client's HTTPS transport: a kubeconfig (its credentials applied by
// @kubernetes/client-node, so every auth form kubectl knows works) or server URLs, bearer
// token and the server's CA. One keep-alive agent per transport; watches are ordinary chunked
// GETs read line by line.
//
// Several servers (an HA control plane, k3s agents' client-side load balancing): requests go
// to the current one; when it cannot be reached (refused, unreachable, no connection within
// CONNECT_TIMEOUT_MS) or answers 502/503 (any 5xx for a GET), the same request goes to the
// next, which then stays current. A request whose connection broke after it was sent is
// tried again elsewhere only when it is a GET: a write may have been done.
import { readFileSync } from "node:fs";
import { Agent, request, type RequestOptions as HttpsRequestOptions } from "node:https";
import type { Socket } from "node:net";
import { dirname, resolve } from "node:path";
import { createSecureContext, type ConnectionOptions, type SecureContext } from "node:tls";
import { parse as parseYaml } from "yaml";
import { GantryError } from "../../common/errors.ts";
import { defaultRootsWithHandedOnExtras } from "../../common/extra-ca-certs.ts";
import { lineSplitter, type ApiRequest, type ApiResponse, type ApiStream, type ApiTransport } from "./transport.ts";

/** https.request's options; node passes secureContext on to tls.connect, its types do not list it. */
type RequestOptions = HttpsRequestOptions & Pick<ConnectionOptions, "secureContext">;

export interface HttpsTarget {
  /** The server's URL; with `servers`, the first to try. */
  server: string;
  /** Every server of an HA control plane, tried in turn (server is added first if absent). */
  servers?: string[];
  token?: string;
  /** PEM of the CA that signed the server's certificate. */
  caCert?: string;
  /** Told when requests move to another server. */
  onSwitch?: (from: string, to: string, why: string) => void;
}

/** How long a connection to one server may take before the next is tried. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Errors that mean the request never reached the server: safe to send elsewhere, whatever the method. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ECONNTIMEOUT"]);
/** Errors that may come after the request was sent: only a GET goes elsewhere. */
const BROKEN = new Set(["ECONNRESET", "EPIPE"]);

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code ?? "";

function mayTryNext(err: unknown, method: string): boolean {
  const code = codeOf(err);
  return NOT_CONNECTED.has(code) || (method === "GET" && (BROKEN.has(code) || /socket hang up/.test((err as Error).message ?? "")));
}

const statusMayTryNext = (status: number, method: string) => status === 502 || status === 503 || (method === "GET" && status >= 500);

/**
 * How long a kept-alive connection may sit unused before it is closed (node's own
 * globalAgent's value since node 19). Each holds a 64 kB TLS read buffer and its TLS state; a
 * burst of requests leaves several behind, which the server would close only after its 60 s.
 * The agent's timeout destroys only free sockets: a watch or a slow answer on its socket goes
 * on (its request is told "timeout", which nothing here acts on).
 */
const IDLE_CONNECTION_MS = 5_000;

export class HttpsTransport implements ApiTransport {
  private readonly agent = new Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS });
  private readonly servers: string[];
  private current = 0;

  private constructor(
    servers: string[],
    private readonly applyAuth: (opts: RequestOptions) => Promise<void>,
    private readonly ca: string | undefined,
    private readonly onSwitch?: (from: string, to: string, why: string) => void,
  ) {
    this.servers = [...new Set(servers.map((s) => s.replace(/\/+$/, "")))];
  }

  /** The server requests go to now. */
  get server(): string {
    return this.servers[this.current]!;
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
    return new HttpsTransport([cluster.server], applyAuth, cluster.ca);
  }

  /**
   * The CA goes into one TLS context made at the first request and shared by every connection:
   * given as `ca`, node would build an OpenSSL context with its own certificate store for each
   * new connection (~25 kB of native memory each, a node agent holding two dozen connections).
   * The keep-alive agent pools connections by their TLS options; `secureContext` is not one of
   * them, which is right here: one transport has one CA.
   */
  static fromTarget(t: HttpsTarget): HttpsTransport {
    let secureContext: SecureContext | undefined;
    return new HttpsTransport(
      [t.server, ...(t.servers ?? [])],
      async (opts) => {
        if (t.caCert) opts.secureContext = secureContext ??= createSecureContext({ ca: t.caCert });
        else {
          // No cluster CA: node's default roots, plus NODE_EXTRA_CA_CERTS if bin/gantry handed it on.
          const ca = defaultRootsWithHandedOnExtras();
          if (ca) opts.secureContext = secureContext ??= createSecureContext({ ca });
        }
        if (t.token) opts.headers = { ...opts.headers, Authorization: `Bearer ${t.token}` };
      },
      t.caCert,
      t.onSwitch,
    );
  }

  /** The CA this transport trusts for the server (PEM), if it names one. */
  caCert(): string | undefined {
    return this.ca;
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * Sends through the current server, then each other in turn while the answer says that
   * server cannot serve it (see the top of the file); the one that answered becomes current.
   */
  private async failover<T>(req: ApiRequest, once: (server: string) => Promise<T>, statusOf: (t: T) => number): Promise<T> {
    const n = this.servers.length;
    const first = this.current;
    let firstWhy = "";
    for (let i = 0; ; i++) {
      const index = (first + i) % n;
      const server = this.servers[index]!;
      const last = i === n - 1;
      let why: string;
      try {
        const answer = await once(server);
        const status = statusOf(answer);
        if (last || !statusMayTryNext(status, req.method)) {
          this.use(index, `${this.servers[first]} could not serve ${req.method} ${req.path.split("?")[0]}: ${firstWhy}`);
          return answer;
        }
        why = `HTTP ${status}`;
      } catch (err) {
        if (last || !mayTryNext((err as GantryError).cause ?? err, req.method)) throw err;
        why = (err as Error).message;
      }
      if (i === 0) firstWhy = why;
    }
  }

  private use(index: number, what: string): void {
    if (index === this.current) return;
    const from = this.server;
    this.current = index;
    this.onSwitch?.(from, this.server, what);
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    const opts = await this.options(req);
    return this.failover(req, (server) => this.requestOnce(server, req, opts), (r) => r.status);
  }

  private requestOnce(server: string, req: ApiRequest, opts: RequestOptions): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const r = request(`${server}${req.path}`, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      r.on("error", (err) => reject(this.unreachable(server, err)));
      limitConnect(r);
      r.end(req.body);
    });
  }

  async stream(req: ApiRequest, onLine: (line: string) => void, onEnd: (err?: Error) => void): Promise<ApiStream> {
    const opts = await this.options(req);
    return this.failover(req, (server) => this.streamOnce(server, req, opts, onLine, onEnd), (s) => s.status);
  }

  private streamOnce(server: string, req: ApiRequest, opts: RequestOptions, onLine: (line: string) => void, onEnd: (err?: Error) => void): Promise<ApiStream> {
    return new Promise((resolve, reject) => {
      let cancelled = false;
      let ended = false;
      let responded = false;
      const end = (err?: Error) => {
        if (ended) return;
        ended = true;
        onEnd(cancelled ? undefined : err);
      };
      const r = request(`${server}${req.path}`, opts, (res) => {
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
        else reject(this.unreachable(server, err));
      });
      limitConnect(r);
      r.end(req.body);
    });
  }

  private async options(req: ApiRequest): Promise<RequestOptions> {
    const opts: RequestOptions = { method: req.method, agent: this.agent, headers: { Accept: "application/json" } };
    await this.applyAuth(opts);
    // @kubernetes/client-node's applyToHTTPSOptions puts a new https.Agent (no keep-alive) on
    // every request: a TLS connection and handshake per request on both ends. Its TLS options
    // (ca, cert, key) are on opts too, and the kept-alive agent pools connections by them. A
    // proxy's agent (another class) is left in place.
    if (opts.agent instanceof Agent && opts.agent.constructor === Agent) opts.agent = this.agent;
    if (req.body !== undefined) opts.headers = { ...opts.headers, "Content-Type": req.contentType ?? "application/json", "Content-Length": Buffer.byteLength(req.body) };
    return opts;
  }

  private unreachable(server: string, err: Error): GantryError {
    return new GantryError("UNAVAILABLE", `cannot reach the cluster API server at ${server}: ${err.message}`, { hint: "is `gantry server` running?", cause: err });
  }
}

/** Fails a request whose new connection is not made within CONNECT_TIMEOUT_MS (a server machine gone quiet rather than refusing). */
function limitConnect(r: ReturnType<typeof request>): void {
  r.once("socket", (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => r.destroy(Object.assign(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`), { code: "ECONNTIMEOUT" })), CONNECT_TIMEOUT_MS);
    socket.once("connect", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  });
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
