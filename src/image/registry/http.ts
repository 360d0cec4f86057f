// One HTTP(S) request with node:http/https: the system CA bundle for TLS (Node's fetch would
// use its own bundled roots), redirects for GET/HEAD (blob storage often redirects), and the
// response body as a stream so blobs are hashed while they arrive.
import { readFileSync } from "node:fs";
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { GantryError } from "../../common/errors.ts";
import { extraCaCertificates, HANDED_ON_EXTRA_CA_VAR } from "../../common/extra-ca-certs.ts";

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Follow redirects (GET and HEAD). */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

/** The system's CA bundle (Debian: /etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE wins),
 * else Node's bundled roots; plus NODE_EXTRA_CA_CERTS (or the GANTRY_EXTRA_CA_CERTS
 * `gantry agent`'s launcher moves it to), which node itself drops once `ca` is given. */
function trustedCertificates(): string[] | undefined {
  const extra = extraCaCertificates();
  for (const file of [process.env.SSL_CERT_FILE, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]) {
    if (!file) continue;
    try {
      const bundle = readFileSync(file, "utf8");
      return extra ? [bundle, extra] : [bundle];
    } catch {
      /* try the next */
    }
  }
  return extra ? [...rootCertificates, extra] : undefined;
}

const idleTimeoutMs = () => Number(process.env.GANTRY_REGISTRY_TIMEOUT_MS ?? 60_000);

const keepAliveHttp = new http.Agent({ keepAlive: true, maxSockets: 16 });
let keepAliveHttps: { agent: https.Agent; caFiles: string } | undefined;

/** One keep-alive HTTPS agent, made again if SSL_CERT_FILE or the extra CA file changes. */
function httpsAgent(): https.Agent {
  const caFiles = [process.env.SSL_CERT_FILE, process.env[HANDED_ON_EXTRA_CA_VAR] || process.env.NODE_EXTRA_CA_CERTS].join("\0");
  if (!keepAliveHttps || keepAliveHttps.caFiles !== caFiles) {
    keepAliveHttps?.agent.destroy();
    keepAliveHttps = { agent: new https.Agent({ keepAlive: true, maxSockets: 16, ca: trustedCertificates() }), caFiles };
  }
  return keepAliveHttps.agent;
}

function once(url: URL, req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === "https:";
    const headers: Record<string, string> = { "User-Agent": "gantry/0.1", ...req.headers };
    if (Buffer.isBuffer(req.body)) headers["Content-Length"] = String(req.body.length);
    const r = (isHttps ? https : http).request(
      url,
      { method: req.method ?? "GET", headers, agent: isHttps ? httpsAgent() : keepAliveHttp },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }),
    );
    // An idle connection (no bytes either way) for this long is an error, not a hang.
    r.setTimeout(idleTimeoutMs(), () => r.destroy(new GantryError("TIMEOUT", `${url.host} sent nothing for ${idleTimeoutMs() / 1000} s`)));
    r.on("error", reject);
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      req.body.on("error", (e) => r.destroy(e));
      req.body.pipe(r);
    }
  });
}

export async function httpRequest(url: URL, req: HttpRequest = {}): Promise<HttpResponse> {
  let current = url;
  let headers = { ...req.headers };
  for (let hop = 0; hop < 6; hop++) {
    const res = await once(current, { ...req, headers });
    const location = res.headers.location;
    if (!req.followRedirects || ![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
    res.body.resume();
    const next = new URL(location, current);
    if (next.host !== current.host) {
      // Credentials are for the registry, never for wherever it redirects to.
      const { Authorization: _dropped, ...rest } = headers;
      headers = rest;
    }
    current = next;
  }
  throw new GantryError("REGISTRY_ERROR", `too many redirects fetching ${url.href}`);
}

export async function readBody(res: HttpResponse, limit = 32 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new GantryError("REGISTRY_ERROR", `response from ${res.url.host} exceeds ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

