// The typed cluster client. One Client per process over one transport (HTTPS, or the API
// server's in-process transport); `client.resource(ref)` gives the verbs for one kind:
// get, list (selectors, limit/continue, resourceVersion), watch (from a resourceVersion,
// with bookmarks), create, update, updateStatus, patch (merge, strategic, JSON, apply),
// delete (propagation policy, preconditions), and POST to any subresource. Failures are
// ApiStatusErrors with Kubernetes' reason, code and details.
import { GantryError } from "../../common/errors.ts";
import { statusError } from "./errors.ts";
import { HttpsTransport } from "./https-transport.ts";
import type { KubeObject, ObjectList, WatchEvent } from "./objects.ts";
import type { ApiRequest, ApiTransport } from "./transport.ts";

/** Which resource a call is about (what discovery says about it). */
export interface ResourceRef {
  group: string;
  version: string;
  /** The plural resource name in paths: "pods", "deployments". */
  resource: string;
  kind: string;
  namespaced: boolean;
}

export interface DiscoveredResource extends ResourceRef {
  verbs: string[];
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions {
  /** Events after this revision; absent or "0" starts with the current objects as ADDED. */
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Defaults to the client's field manager. */
  fieldManager?: string;
}

export type PatchType = "merge" | "strategic" | "json" | "apply";

export interface PatchOptions extends WriteOptions {
  /** For apply patches: take fields other managers own. */
  force?: boolean;
  /** Patch a subresource ("status", "scale") instead of the object. */
  subresource?: string;
}

export interface DeleteOptions {
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

/** An open watch: stop() ends it (onEnd is then called without an error). */
export interface Watch {
  stop(): void;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export class Client {
  readonly fieldManager: string;

  constructor(
    readonly transport: ApiTransport,
    opts: { fieldManager?: string } = {},
  ) {
    this.fieldManager = opts.fieldManager ?? "gantry";
  }

  static fromKubeconfig(path: string, opts: { fieldManager?: string } = {}): Client {
    return new Client(HttpsTransport.fromKubeconfig(path), opts);
  }

  get server(): string {
    return this.transport.server;
  }

  /** The CA the transport trusts for the server (PEM), when it is HTTPS and names one. */
  caCert(): string | undefined {
    return this.transport instanceof HttpsTransport ? this.transport.caCert() : undefined;
  }

  resource<T extends KubeObject = KubeObject>(ref: ResourceRef): ResourceClient<T> {
    return new ResourceClient<T>(this, ref);
  }

  /** Sends one request and parses the JSON answer; an answer of 400 or over throws an ApiStatusError. */
  async send<T = unknown>(method: ApiRequest["method"], path: string, body?: unknown, contentType?: string): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const res = await this.transport.request({ method, path, body: payload, contentType });
    const parsed = parseBody(res.text);
    if (res.status >= 400) throw statusError(res.status, parsed, `${method} ${path}`);
    return parsed as T;
  }

  /** Opens a watch on path; ERROR events and broken streams end it through onEnd. */
  async watchPath<T extends KubeObject>(path: string, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void): Promise<Watch> {
    let failed: Error | undefined;
    let handle: { cancel(): void } | undefined = undefined;
    const stream = await this.transport.stream(
      { method: "GET", path },
      (line) => {
        if (failed) return;
        let ev: { type?: string; object?: unknown };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          failed = new GantryError("INTERNAL", `a watch on ${path} sent a line that is not JSON: ${line.slice(0, 200)}`);
          handle?.cancel();
          return;
        }
        if (ev.type === "ERROR") {
          const s = (ev.object ?? {}) as { code?: number };
          failed = statusError(s.code ?? 500, ev.object, `watch ${path}`);
          handle?.cancel();
          return;
        }
        onEvent(ev as WatchEvent<T>);
      },
      (err) => onEnd(failed ?? err),
    );
    if (stream.status >= 400) throw statusError(stream.status, parseBody(stream.text ?? ""), `watch ${path}`);
    handle = stream;
    if (failed) stream.cancel();
    return { stop: () => stream.cancel() };
  }

  /** Every resource the server serves (discovery), subresources left out. */
  async discover(): Promise<DiscoveredResource[]> {
    const out: DiscoveredResource[] = [];
    const groupVersions: { group: string; version: string; path: string }[] = [];
    const core = await this.send<{ versions?: string[] }>("GET", "/api");
    for (const v of core.versions ?? []) groupVersions.push({ group: "", version: v, path: `/api/${v}` });
    const groups = await this.send<{ groups?: { name: string; preferredVersion?: { version: string }; versions?: { version: string }[] }[] }>("GET", "/apis");
    for (const g of groups.groups ?? []) {
      const version = g.preferredVersion?.version ?? g.versions?.[0]?.version;
      if (version) groupVersions.push({ group: g.name, version, path: `/apis/${g.name}/${version}` });
    }
    for (const gv of groupVersions) {
      const list = await this.send<{ resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[] }>("GET", gv.path);
      for (const r of list.resources ?? []) {
        if (r.name.includes("/")) continue;
        out.push({ group: gv.group, version: gv.version, resource: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs ?? [] });
      }
    }
    return out;
  }
}

function parseBody(text: string): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

export class ResourceClient<T extends KubeObject = KubeObject> {
  constructor(
    private readonly client: Client,
    readonly ref: ResourceRef,
  ) {}

  /** The collection path; a namespaced kind without a namespace means all namespaces. */
  path(namespace?: string, name?: string, subresource?: string): string {
    const { group, version, resource, namespaced } = this.ref;
    let p = group ? `/apis/${group}/${version}` : `/api/${version}`;
    if (namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${resource}`;
    if (name !== undefined) {
      if (!name) throw new GantryError("INVALID_ARGUMENT", `a ${this.ref.kind} needs a name`);
      p += `/${encodeURIComponent(name)}`;
    }
    if (subresource) p += `/${subresource}`;
    return p;
  }

  private named(namespace: string | undefined, name: string | undefined, subresource?: string): string {
    if (this.ref.namespaced && !namespace) throw new GantryError("INVALID_ARGUMENT", `${this.ref.resource} are namespaced: name the namespace of ${JSON.stringify(name)}`);
    return this.path(namespace, name ?? "", subresource);
  }

  private writeQuery(opts: WriteOptions = {}, extra: Record<string, string | boolean | undefined> = {}): string {
    return query({ fieldManager: opts.fieldManager ?? this.client.fieldManager, dryRun: opts.dryRun ? "All" : undefined, ...extra });
  }

  get(namespace: string | undefined, name: string): Promise<T> {
    return this.client.send<T>("GET", this.named(namespace, name));
  }

  list(namespace: string | undefined, opts: ListOptions = {}): Promise<ObjectList<T>> {
    return this.client.send<ObjectList<T>>("GET", this.path(namespace) + query({ ...opts }));
  }

  /** Watches from opts.resourceVersion; events arrive on onEvent, the end (an error, 410 Gone included) on onEnd. */
  watch(namespace: string | undefined, opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void, onEnd: (err?: Error) => void): Promise<Watch> {
    return this.client.watchPath<T>(this.path(namespace) + query({ watch: "true", ...opts }), onEvent, onEnd);
  }

  create(namespace: string | undefined, obj: T, opts?: WriteOptions): Promise<T> {
    if (this.ref.namespaced && !namespace) throw new GantryError("INVALID_ARGUMENT", `${this.ref.resource} are namespaced: name the namespace to create in`);
    return this.client.send<T>("POST", this.path(namespace) + this.writeQuery(opts), obj);
  }

  /** PUT: replaces the object named by its metadata; a stale metadata.resourceVersion is a Conflict. */
  update(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.send<T>("PUT", this.named(obj.metadata.namespace, obj.metadata.name) + this.writeQuery(opts), obj);
  }

  /** PUT to the status subresource: only .status changes. */
  updateStatus(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.send<T>("PUT", this.named(obj.metadata.namespace, obj.metadata.name, "status") + this.writeQuery(opts), obj);
  }

  patch(namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: PatchOptions = {}): Promise<T> {
    const body = typeof patch === "string" ? patch : JSON.stringify(patch);
    return this.client.send<T>("PATCH", this.named(namespace, name, opts.subresource) + this.writeQuery(opts, { force: opts.force || undefined }), body, PATCH_CONTENT_TYPES[type]);
  }

  /** DELETE: the object as it stands (with deletionTimestamp when finalizers hold it), or the server's Status when it is gone. */
  delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<T | { kind: "Status" }> {
    const body = { kind: "DeleteOptions", apiVersion: "v1", ...opts, dryRun: opts.dryRun ? ["All"] : undefined };
    return this.client.send("DELETE", this.named(namespace, name), body);
  }

  /** POST to a subresource (pods/binding, pods/eviction, ...). */
  createSubresource<R = unknown>(namespace: string | undefined, name: string, subresource: string, body: unknown, opts?: WriteOptions): Promise<R> {
    return this.client.send<R>("POST", this.named(namespace, name, subresource) + this.writeQuery(opts), body);
  }

  /** PUT to a subresource of the object named by its metadata (namespaces/finalize, scale). */
  updateSubresource<R = T>(obj: T, subresource: string, opts?: WriteOptions): Promise<R> {
    return this.client.send<R>("PUT", this.named(obj.metadata.namespace, obj.metadata.name, subresource) + this.writeQuery(opts), obj);
  }

  /** GET a subresource (status, scale). */
  getSubresource<R = unknown>(namespace: string | undefined, name: string, subresource: string): Promise<R> {
    return this.client.send<R>("GET", this.named(namespace, name, subresource));
  }
}
