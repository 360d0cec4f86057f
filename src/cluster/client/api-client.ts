// A minimal JSON client for the cluster API, for Gantry's own commands: the kubeconfig is
// read by @kubernetes/client-node (every auth form kubectl knows), requests are plain HTTPS
// so objects come back exactly as the server sent them. A Status answer becomes a
// GantryError carrying the server's message and code.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { GantryError, type ErrorCode } from "../../common/errors.ts";

const CODE_FOR_STATUS: Record<number, ErrorCode> = { 400: "INVALID_ARGUMENT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 410: "GONE", 422: "INVALID_SPEC" };

export class ApiClient {
  private constructor(
    private readonly config: KubeConfig,
    readonly server: string,
  ) {}

  static fromKubeconfig(path: string): ApiClient {
    const config = new KubeConfig();
    try {
      config.loadFromFile(path);
    } catch (err) {
      throw new GantryError("INVALID_ARGUMENT", `cannot read kubeconfig ${path}: ${(err as Error).message}`, { path, hint: "is `gantry server` running with this --data-dir, or pass --kubeconfig", cause: err });
    }
    const server = config.getCurrentCluster()?.server;
    if (!server) throw new GantryError("INVALID_ARGUMENT", `kubeconfig ${path} names no current cluster`, { path });
    return new ApiClient(config, server.replace(/\/+$/, ""));
  }

  /** The CA the kubeconfig trusts for this server (PEM), if it names one. */
  caCert(): string | undefined {
    const cluster = this.config.getCurrentCluster();
    if (cluster?.caData) return Buffer.from(cluster.caData, "base64").toString();
    if (cluster?.caFile) return readFileSync(cluster.caFile, "utf8");
    return undefined;
  }

  /** Sends JSON and returns the parsed answer; statuses of 400 and over throw. */
  async send<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const opts: Parameters<typeof request>[1] = { method, headers: { Accept: "application/json" } };
    await this.config.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) opts.headers = { ...opts.headers, "Content-Type": "application/json" };
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${this.server}${path}`, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", (err) => reject(new GantryError("UNAVAILABLE", `cannot reach the cluster API server at ${this.server}: ${err.message}`, { hint: "is `gantry server` running?", cause: err })));
      req.end(payload);
    });
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text };
    }
    if (status >= 400) {
      const message = (parsed as { message?: string }).message || `HTTP ${status}`;
      throw new GantryError(CODE_FOR_STATUS[status] ?? "INTERNAL", `${method} ${path}: ${message}`);
    }
    return parsed as T;
  }
}
