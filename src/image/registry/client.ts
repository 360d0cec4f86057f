// A client of the OCI distribution API (Docker registry HTTP API v2) for one repository:
// manifests, blobs, uploads, with bearer-token and basic auth handled on 401 challenges.
// Plain HTTP is used only for insecure registries (loopback, or named by the user), and even
// then only after HTTPS failed to connect, as Docker does.
import type { Readable } from "node:stream";
import { GantryError } from "../../common/errors.ts";
import { sha256, type Digest } from "../digest.ts";
import type { ImageReference } from "../reference.ts";
import { manifestAcceptTypes } from "../spec.ts";
import { basicAuthorization, lookupCredentials, parseChallenge, type Credentials } from "./auth.ts";
import { httpRequest, readBody, type HttpRequest, type HttpResponse } from "./http.ts";

export interface RegistryOptions {
  /** Registries (host[:port]) where plain HTTP is allowed; loopback always is. */
  insecureRegistries?: string[];
  /** Credentials to use instead of the stored ones; null: none (no lookup), as a daemon
   * that is handed its caller's credentials (X-Registry-Auth) must not use its own. */
  credentials?: Credentials | null;
  /** Ask for push rights as well as pull when authenticating. */
  push?: boolean;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function insecureList(opts: RegistryOptions): string[] {
  const env = (process.env.GANTRY_INSECURE_REGISTRIES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return [...(opts.insecureRegistries ?? []), ...env];
}

/** Docker Hub's API lives on registry-1.docker.io. */
export const registryHost = (registry: string) => (registry === "docker.io" ? "registry-1.docker.io" : registry);

const schemeCache = new Map<string, "https" | "http">();

export class RegistryClient {
  readonly host: string;
  readonly repository: string;
  private readonly insecure: boolean;
  private readonly credentials?: Credentials;
  private authorization?: string;
  private readonly actions: string;

  constructor(ref: Pick<ImageReference, "registry" | "repository">, opts: RegistryOptions = {}) {
    this.host = registryHost(ref.registry);
    this.repository = ref.repository;
    this.insecure = isLoopbackHost(this.host) || insecureList(opts).includes(ref.registry) || insecureList(opts).includes(this.host);
    this.credentials = opts.credentials === null ? undefined : (opts.credentials ?? lookupCredentials(ref.registry));
    this.actions = opts.push ? "pull,push" : "pull";
  }

  private async scheme(): Promise<"https" | "http"> {
    const cached = schemeCache.get(this.host);
    if (cached) return cached;
    if (!this.insecure) return "https";
    try {
      const res = await httpRequest(new URL(`https://${this.host}/v2/`));
      res.body.resume();
      schemeCache.set(this.host, "https");
    } catch {
      schemeCache.set(this.host, "http");
    }
    return schemeCache.get(this.host) as "https" | "http";
  }

  async url(path: string): Promise<URL> {
    return new URL(`${await this.scheme()}://${this.host}${path}`);
  }

  private async fetchToken(params: Record<string, string>, scopes: string[]): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new GantryError("REGISTRY_ERROR", `${this.host} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    if (params.service) url.searchParams.set("service", params.service);
    for (const s of scopes) url.searchParams.append("scope", s);
    const headers: Record<string, string> = {};
    if (this.credentials) headers.Authorization = basicAuthorization(this.credentials);
    const res = await httpRequest(url, { headers, followRedirects: true });
    const body = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      throw new GantryError("UNAUTHORIZED", `token server ${url.host} refused ${this.credentials ? `the credentials of ${this.credentials.username}` : "anonymous access"} for ${scopes.join(" ")}`, {
        hint: `gantry login ${this.host}`,
      });
    }
    if (res.status !== 200) throw new GantryError("REGISTRY_ERROR", `token server ${url.host} answered ${res.status}: ${body.toString().slice(0, 200)}`);
    let json: { token?: string; access_token?: string };
    try {
      json = JSON.parse(body.toString()) as typeof json;
    } catch {
      throw new GantryError("REGISTRY_ERROR", `token server ${url.host} answered with something other than JSON`);
    }
    const token = json.token ?? json.access_token;
    if (!token) throw new GantryError("REGISTRY_ERROR", `token server ${url.host} answered without a token`);
    return token;
  }

  /** Answers a 401 challenge: sets `authorization` for the next attempt. */
  private async authenticate(res: HttpResponse, sentAuthorization: string | undefined, scopeHint?: string): Promise<void> {
    const challenge = parseChallenge(res.headers["www-authenticate"]);
    if (challenge?.scheme === "bearer") {
      const scopes = new Set<string>([`repository:${this.repository}:${this.actions}`]);
      if (challenge.params.scope) for (const s of challenge.params.scope.split(" ")) scopes.add(s);
      if (scopeHint) scopes.add(scopeHint);
      this.authorization = `Bearer ${await this.fetchToken(challenge.params, [...scopes])}`;
      return;
    }
    if (challenge?.scheme === "basic" && this.credentials) {
      // Only a request that carried these very credentials proves them wrong (parallel
      // requests that started before the first challenge was answered arrive here too).
      if (sentAuthorization === basicAuthorization(this.credentials)) {
        throw new GantryError("UNAUTHORIZED", `${this.host} refused the credentials of ${this.credentials.username}`, { hint: `gantry login ${this.host}` });
      }
      this.authorization = basicAuthorization(this.credentials);
      return;
    }
    throw new GantryError("UNAUTHORIZED", `${this.host} needs credentials`, { hint: `gantry login ${this.host}` });
  }

  /** Sends a request, answering one auth challenge. A streamed body cannot be replayed, so
   * callers authenticate first with a body-less request (uploads start with a POST). */
  async request(path: string | URL, req: HttpRequest = {}, scopeHint?: string): Promise<HttpResponse> {
    const url = typeof path === "string" ? await this.url(path) : path;
    for (let attempt = 0; ; attempt++) {
      const headers = { ...req.headers };
      // Upload Locations may name another host (blob storage): credentials stay with the registry.
      if (this.authorization && url.host === new URL(`${url.protocol}//${this.host}`).host) headers.Authorization = this.authorization;
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { ...req, headers });
      } catch (err) {
        throw new GantryError("REGISTRY_ERROR", `cannot reach registry ${this.host}: ${(err as Error).message}`, { cause: err });
      }
      if (res.status !== 401 || attempt > 0 || (req.body !== undefined && !Buffer.isBuffer(req.body))) return res;
      res.body.resume();
      await this.authenticate(res, headers.Authorization, scopeHint);
    }
  }

  /** Turns an error answer into a GantryError carrying the registry's code and message. */
  async fail(res: HttpResponse, what: string): Promise<never> {
    let detail = "";
    if (res.body.readableEnded === false) {
      const body = await readBody(res, 1 << 20).catch(() => Buffer.alloc(0));
      try {
        const json = JSON.parse(body.toString()) as { errors?: { code?: string; message?: string }[] };
        detail = (json.errors ?? []).map((e) => `${e.code ?? ""}: ${e.message ?? ""}`).join("; ");
      } catch {
        detail = body.toString().slice(0, 200);
      }
    }
    const message = `${what}: ${this.host} answered ${res.status}${detail ? ` (${detail})` : ""}`;
    if (res.status === 401 || res.status === 403) throw new GantryError("UNAUTHORIZED", message, { hint: `gantry login ${this.host}` });
    if (res.status === 404) throw new GantryError("NOT_FOUND", message);
    throw new GantryError("REGISTRY_ERROR", message);
  }

  /** GET /v2/: checks the registry is there and the credentials work. */
  async ping(): Promise<void> {
    const res = await this.request("/v2/");
    if (res.status !== 200) await this.fail(res, "registry check");
    res.body.resume();
  }

  /** Fetches a manifest or index by tag or digest, verifying its digest. Both OCI and Docker
   * media types are always accepted (see shared/compat/components.md). */
  async getManifest(reference: string): Promise<{ bytes: Buffer; contentType: string; digest: Digest }> {
    const res = await this.request(`/v2/${this.repository}/manifests/${reference}`, {
      headers: { Accept: manifestAcceptTypes.join(", ") },
      followRedirects: true,
    });
    if (res.status !== 200) await this.fail(res, `manifest ${this.repository}:${reference}`);
    const bytes = await readBody(res, 4 << 20);
    const digest = sha256(bytes);
    const expected = reference.startsWith("sha256:") ? reference : (res.headers["docker-content-digest"] as string | undefined);
    if (expected && expected !== digest) {
      throw new GantryError("DIGEST_MISMATCH", `manifest ${this.repository}@${expected} has digest ${digest}: refused`);
    }
    return { bytes, contentType: String(res.headers["content-type"] ?? ""), digest };
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    const res = await this.request(`/v2/${this.repository}/blobs/${digest}`, { method: "HEAD", followRedirects: true });
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(res, `blob ${digest}`);
  }

  /** The blob's bytes as a stream (the caller verifies the digest while storing it). */
  async getBlob(digest: Digest): Promise<Readable> {
    return (await this.getBlobFrom(digest, 0)).body;
  }

  /** The blob from byte `offset` on (a Range request); `skip` says how many leading bytes
   * the caller must drop when the server ignored the range and sent it all. */
  async getBlobFrom(digest: Digest, offset: number): Promise<{ body: Readable; skip: number }> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    const res = await this.request(`/v2/${this.repository}/blobs/${digest}`, { headers, followRedirects: true });
    if (offset > 0 && res.status === 206) return { body: res.body, skip: 0 };
    if (res.status !== 200) await this.fail(res, `blob ${this.repository}@${digest}`);
    return { body: res.body, skip: offset };
  }

  private async startUpload(mountFrom?: { repository: string; digest: Digest }): Promise<{ location?: URL; mounted: boolean }> {
    const query = mountFrom ? `?mount=${mountFrom.digest}&from=${encodeURIComponent(mountFrom.repository)}` : "";
    const hint = mountFrom ? `repository:${mountFrom.repository}:pull` : undefined;
    const res = await this.request(`/v2/${this.repository}/blobs/uploads/${query}`, { method: "POST", body: Buffer.alloc(0) }, hint);
    res.body.resume();
    if (res.status === 201) return { mounted: true };
    if (res.status !== 202) return this.fail(res, `start upload to ${this.repository}`);
    const location = res.headers.location;
    if (!location) throw new GantryError("REGISTRY_ERROR", `${this.host} started an upload without a Location`);
    return { location: new URL(location, await this.url("/")), mounted: false };
  }

  private withDigest(location: URL, digest: Digest): URL {
    const u = new URL(location);
    u.searchParams.set("digest", digest); // Location may already carry ?_state=…
    return u;
  }

  /** Tries a cross-repository mount; true when the registry linked the blob. */
  async mountBlob(digest: Digest, fromRepository: string): Promise<boolean> {
    const r = await this.startUpload({ repository: fromRepository, digest });
    if (!r.mounted && r.location) {
      // The registry opened a normal upload instead: cancel it.
      (await this.request(r.location, { method: "DELETE" })).body.resume();
    }
    return r.mounted;
  }

  /** Monolithic upload: POST, then one PUT with the whole blob and its digest. */
  async uploadMonolithic(digest: Digest, size: number, body: () => Readable): Promise<void> {
    const { location } = await this.startUpload();
    const res = await this.request(this.withDigest(location as URL, digest), {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
      body: body(),
    });
    res.body.resume();
    if (res.status !== 201) await this.fail(res, `upload of ${digest}`);
  }

  /** Chunked upload: POST, a PATCH per chunk with its Content-Range, then PUT ?digest=. */
  async uploadChunked(digest: Digest, size: number, chunk: (start: number, end: number) => Readable, chunkSize: number): Promise<void> {
    let { location } = await this.startUpload();
    for (let start = 0; start < size; start += chunkSize) {
      const end = Math.min(size, start + chunkSize);
      const res = await this.request(location as URL, {
        method: "PATCH",
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(end - start), "Content-Range": `${start}-${end - 1}` },
        body: chunk(start, end),
      });
      res.body.resume();
      if (res.status !== 202) await this.fail(res, `upload chunk ${start}-${end - 1} of ${digest}`);
      if (res.headers.location) location = new URL(res.headers.location, location);
    }
    const res = await this.request(this.withDigest(location as URL, digest), { method: "PUT", body: Buffer.alloc(0) });
    res.body.resume();
    if (res.status !== 201) await this.fail(res, `finish upload of ${digest}`);
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const res = await this.request(`/v2/${this.repository}/manifests/${reference}`, {
      method: "PUT",
      headers: { "Content-Type": mediaType },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200) await this.fail(res, `manifest ${this.repository}:${reference}`);
    res.body.resume();
    const digest = sha256(bytes);
    const said = res.headers["docker-content-digest"];
    if (said && said !== digest) throw new GantryError("DIGEST_MISMATCH", `registry stored manifest ${reference} as ${String(said)}, expected ${digest}`);
    return digest;
  }
}
