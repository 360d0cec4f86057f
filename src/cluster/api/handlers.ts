// Handlers for resource requests: one function per verb, each turning an HTTP request on
// a resource path into registry calls and a response (object, list, Table or watch stream).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "./authentication.ts";
import type { ServiceAccountTokens } from "./service-account-auth.ts";
import { toTable } from "./table.ts";
import { labelSelectorString } from "./columns.ts";
import type { Aggregator } from "./aggregator/aggregator.ts";
import type { FrontProxyCredentials } from "./aggregator/front-proxy.ts";
import { decodeObjectBody, duplicateFields, mediaType, parseJson, parseYamlBody, readBody } from "./request-body.ts";
import { isPlainObject, type KubeObject } from "./objects.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PATCH_TYPES } from "./patch.ts";
import { recordUpdate, serverSideApply } from "./managed-fields.ts";
import type { ObjectRegistry, PropagationPolicy, WatchEventType, WriteOptions } from "./registry.ts";
import { apiVersionOf, findResource, type ResourceType } from "./resources.ts";
import { unknownFields } from "./schemas.ts";
import { boolParam } from "./query-params.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError, errBadRequest, errMethodNotAllowed, errUnsupportedMediaType, toStatus } from "./status.ts";

export interface ResourceRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  rt: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  /** Set by authorization when a created object must pass a check its body alone can answer. */
  admit?: (obj: KubeObject) => void;
  /** Set by authorization when a written object must pass a check that needs the user (RBAC escalation). */
  admitWrite?: WriteOptions["admit"];
  /** Ends a long request (a watch) when the caller's credential is revoked; returns the un-registration. */
  bindToCredential?: (stop: () => void) => () => void;
  /** Who asks (for handlers whose answer depends on it: a node's TokenRequest). */
  user?: UserInfo;
}

export interface HandlerContext {
  registry: ObjectRegistry;
  maxBodyBytes: number;
  bookmarkIntervalMs: number;
  /** Registers a watch so the server can end it on shutdown. */
  trackWatch(stop: () => void): () => void;
  /** How kubelets are reached and their serving certificates signed (pod-streams.ts, kubelet-certificates.ts). */
  kubelets?: KubeletAccess;
  /** Service account token issuing and checking (token-request.ts). */
  serviceAccountTokens?: ServiceAccountTokens;
  /** The server's log, for what a request cannot report (a node whose kubelet did not answer). */
  log?: (message: string) => void;
  /** The aggregation layer: APIServices served by extension API servers (aggregator/). */
  aggregation?: { aggregator: Aggregator; frontProxy: FrontProxyCredentials };
}

/** How the API server reaches kubelets (kube-apiserver's --kubelet-client-certificate, --kubelet-certificate-authority). */
export interface KubeletAccess {
  caCert: string;
  clientCert: string;
  clientKey: string;
  /** Signs a node's kubelet serving certificate for its addresses. */
  signServingCert(csrPem: string, node: string, addresses: string[]): string;
}

export function sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  // kube-apiserver's JSON encoder ends every body with a newline; clients comparing bodies expect it.
  const text = JSON.stringify(body) + "\n";
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = toStatus(err);
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status.code, status);
}

const wantsTable = (req: IncomingMessage) => /as=Table/.test(String(req.headers.accept ?? ""));

type FieldValidation = "Strict" | "Warn" | "Ignore";

function fieldValidation(url: URL): FieldValidation {
  const v = url.searchParams.get("fieldValidation") ?? "Warn";
  if (v !== "Strict" && v !== "Warn" && v !== "Ignore") throw errBadRequest(`fieldValidation must be one of Strict, Warn or Ignore, not "${v}"`);
  return v;
}

function dryRun(url: URL): boolean {
  const v = url.searchParams.getAll("dryRun");
  if (v.some((x) => x !== "All")) throw errBadRequest(`unsupported dryRun value; only "All" is allowed`);
  return v.length > 0;
}

/** The field manager: ?fieldManager, else the User-Agent's product name (as the real server does). */
function fieldManager(r: ResourceRequest, fallback?: string): string {
  const q = r.url.searchParams.get("fieldManager");
  if (q !== null) {
    if (q.length === 0 || q.length > 128) throw errBadRequest("fieldManager must be between 1 and 128 characters");
    return q;
  }
  if (fallback) return fallback;
  const ua = String(r.req.headers["user-agent"] ?? "unknown");
  return ua.split("/")[0]!.slice(0, 128) || "unknown";
}

/**
 * Strict: unknown fields are a 400. Warn: a Warning header per field. Ignore: silently
 * dropped. Unknown fields are pruned before storing either way, as the real server does.
 */
async function checkFields(rt: ResourceType, obj: unknown, mode: FieldValidation, warnings: string[], duplicates: string[] = []): Promise<void> {
  const unknown = await unknownFields(rt.model, obj, "", mode !== "Strict");
  const problems = [...duplicates.map((d) => `duplicate field "${d}"`), ...unknown.map((u) => `unknown field "${u}"`)];
  if (problems.length === 0) return;
  if (mode === "Strict") throw errBadRequest(`strict decoding error: ${problems.join(", ")}`);
  if (mode === "Warn") warnings.push(...problems);
}

function warningHeaders(warnings: string[]): Record<string, string[]> {
  return warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) } : {};
}

function asObject(body: unknown, rt: ResourceType): KubeObject {
  if (!isPlainObject(body)) throw errBadRequest(`the body of the request must be a ${rt.kind} object`);
  const o = body as KubeObject;
  if (o.kind !== undefined && o.kind !== rt.kind) {
    throw errBadRequest(`the kind of the object (${String(o.kind)}) does not match the resource ${rt.plural} (kind ${rt.kind})`);
  }
  if (o.apiVersion !== undefined && o.apiVersion !== apiVersionOf(rt)) {
    throw errBadRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${apiVersionOf(rt)})`);
  }
  if (o.metadata !== undefined && !isPlainObject(o.metadata)) throw errBadRequest("metadata must be an object");
  if (!o.metadata) o.metadata = {};
  return o;
}

function respondObject(r: ResourceRequest, code: number, obj: KubeObject, warnings: string[] = []): void {
  if (wantsTable(r.req)) sendJson(r.res, code, toTable(r.rt, [obj], { resourceVersion: obj.metadata.resourceVersion }), warningHeaders(warnings));
  else sendJson(r.res, code, obj, warningHeaders(warnings));
}

/**
 * Where a request's objects are kept: a version stored as another (resources.ts `conversion`,
 * autoscaling/v1 HPAs as v2) reads and writes the stored version's objects, and answers in its
 * own; tables are made from the stored objects, whose columns the stored kind's strategy knows.
 */
function storageOf(rt: ResourceType): { rt: ResourceType; out: (o: KubeObject) => KubeObject } {
  const c = rt.conversion;
  return c ? { rt: findResource(rt.group, c.storedVersion, rt.plural)!, out: c.fromStored } : { rt, out: (o) => o };
}

// ---- reads

export async function handleGet(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const stored = storageOf(r.rt);
  const obj = await ctx.registry.get(stored.rt, r.namespace, r.name!);
  if (wantsTable(r.req)) return sendJson(r.res, 200, toTable(stored.rt, [obj], { resourceVersion: obj.metadata.resourceVersion }));
  respondObject(r, 200, stored.out(obj));
}

export async function handleList(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const q = r.url.searchParams;
  if (boolParam(q, "watch")) return handleWatch(ctx, r);
  const limit = q.get("limit") ? Number(q.get("limit")) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw errBadRequest(`invalid limit "${q.get("limit")}"`);
  const stored = storageOf(r.rt);
  const page = await ctx.registry.list(stored.rt, r.namespace, {
    labelSelector: parseLabelSelector(q.get("labelSelector")),
    fieldSelector: parseFieldSelector(q.get("fieldSelector")),
    limit: limit || undefined,
    continueToken: q.get("continue") ?? undefined,
  });
  const meta: Record<string, unknown> = { resourceVersion: page.resourceVersion };
  if (page.continueToken) meta.continue = page.continueToken;
  if (wantsTable(r.req)) return sendJson(r.res, 200, toTable(stored.rt, page.items, meta));
  sendJson(r.res, 200, { kind: `${r.rt.kind}List`, apiVersion: apiVersionOf(r.rt), metadata: meta, items: r.rt.conversion ? page.items.map(stored.out) : page.items });
}

/** An object's JSON, made once for all the watches that send the same (shared, unchanged) object. */
const encodedObjects = new WeakMap<KubeObject, string>();

/** A watch event line, as JSON.stringify({type, object}) + "\n" would write it. */
function encodedEvent(type: WatchEventType | "BOOKMARK", obj: KubeObject): string {
  let json = encodedObjects.get(obj);
  if (json === undefined) encodedObjects.set(obj, (json = JSON.stringify(obj)));
  return `{"type":"${type}","object":${json}}\n`;
}

async function handleWatch(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const q = r.url.searchParams;
  const table = wantsTable(r.req);
  const bookmarks = boolParam(q, "allowWatchBookmarks") === true;
  const timeoutSeconds = q.get("timeoutSeconds") ? Number(q.get("timeoutSeconds")) : 1800;
  const labelSelector = parseLabelSelector(q.get("labelSelector"));
  const fieldSelector = parseFieldSelector(q.get("fieldSelector"));
  const { res } = r;
  const stored = storageOf(r.rt);
  let first = true;
  let lastRevision = 0;
  let ended = false;
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked", "Cache-Control": "no-cache" });
  res.flushHeaders();
  const write = (ev: unknown) => {
    if (!ended) res.write(JSON.stringify(ev) + "\n");
  };
  const send = (type: WatchEventType | "BOOKMARK", obj: KubeObject, revision: number) => {
    lastRevision = Math.max(lastRevision, revision);
    if (table && type !== "BOOKMARK") {
      const t = toTable(stored.rt, [obj], { resourceVersion: obj.metadata.resourceVersion });
      // Only the first event carries column definitions, as with the real server's NoHeaders.
      if (!first) t.columnDefinitions = [];
      first = false;
      write({ type, object: t });
    } else if (!ended) res.write(encodedEvent(type, r.rt.conversion && type !== "BOOKMARK" ? stored.out(obj) : obj));
  };
  let handle: { cancel(): void } | undefined;
  const timers: NodeJS.Timeout[] = [];
  const end = () => {
    if (ended) return;
    ended = true;
    handle?.cancel();
    for (const t of timers) clearTimeout(t);
    untrack();
    unbind?.();
    res.end();
  };
  const untrack = ctx.trackWatch(end);
  const unbind = r.bindToCredential?.(end);
  r.req.on("close", end);
  res.on("close", end);
  const bookmark = (annotations?: Record<string, string>) =>
    write({
      type: "BOOKMARK",
      object: { kind: r.rt.kind, apiVersion: apiVersionOf(r.rt), metadata: { resourceVersion: String(lastRevision), ...(annotations ? { annotations } : {}) } },
    });
  try {
    const rv = q.get("resourceVersion") ?? undefined;
    lastRevision = rv && /^\d+$/.test(rv) ? Number(rv) : 0;
    handle = await ctx.registry.watch(stored.rt, r.namespace, rv, { labelSelector, fieldSelector }, send, (err: ApiError) => {
      write({ type: "ERROR", object: toStatus(err) });
      end();
    });
    if (ended) handle.cancel();
    if (boolParam(q, "sendInitialEvents") && bookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  } catch (err) {
    write({ type: "ERROR", object: toStatus(err) });
    end();
    return;
  }
  // The watch may already have ended (a 410 from the store arrives asynchronously).
  if (ended) return;
  if (bookmarks) {
    const tick = () => {
      if (ended) return;
      bookmark();
      timers[0] = setTimeout(tick, ctx.bookmarkIntervalMs);
    };
    timers.push(setTimeout(tick, ctx.bookmarkIntervalMs));
  }
  if (timeoutSeconds > 0) timers.push(setTimeout(end, timeoutSeconds * 1000));
}

// ---- writes

export async function handleCreate(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const raw = await readBody(r.req, ctx.maxBodyBytes);
  const body = await decodeObjectBody(mediaType(r.req), raw);
  const obj = asObject(body, r.rt);
  if (r.rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== r.namespace) {
    throw errBadRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  r.admit?.(obj);
  const warnings: string[] = [];
  const validation = fieldValidation(r.url);
  await checkFields(r.rt, obj, validation, warnings, validation === "Ignore" ? [] : duplicateFields(mediaType(r.req), raw));
  const manager = fieldManager(r);
  const opts: WriteOptions = { dryRun: dryRun(r.url), admit: r.admitWrite };
  delete obj.metadata.managedFields;
  // A version stored as another (resources.ts `conversion`) is converted in and out.
  const storage = storageOf(r.rt);
  const stored = r.rt.conversion ? r.rt.conversion.toStored(obj) : obj;
  recordUpdate(undefined, stored, manager, apiVersionOf(storage.rt));
  const created = await ctx.registry.create(storage.rt, r.namespace, stored, opts);
  respondObject(r, 201, storage.out(created), warnings);
}

export async function handleUpdate(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const raw = await readBody(r.req, ctx.maxBodyBytes);
  const body = await decodeObjectBody(mediaType(r.req), raw);
  if (r.subresource === "scale") return updateScale(ctx, r, body);
  const obj = asObject(body, r.rt);
  const warnings: string[] = [];
  const validation = fieldValidation(r.url);
  await checkFields(r.rt, obj, validation, warnings, validation === "Ignore" ? [] : duplicateFields(mediaType(r.req), raw));
  const manager = fieldManager(r);
  const subresource = r.subresource === "status" ? "status" : "";
  const apiVersion = apiVersionOf(r.rt);
  const updated = await ctx.registry.update(r.rt, r.namespace, r.name!, obj, { dryRun: dryRun(r.url), subresource, admit: r.admitWrite }, (cur, next) => {
    if (!next.metadata.managedFields) next.metadata.managedFields = cur.metadata.managedFields;
    recordUpdate(cur, next, manager, apiVersion, subresource || undefined);
  });
  respondObject(r, 200, updated, warnings);
}

export async function handlePatch(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const type = mediaType(r.req);
  const raw = await readBody(r.req, ctx.maxBodyBytes);
  if (raw.length === 0) throw errBadRequest("the request body is empty; a patch is required");
  const warnings: string[] = [];
  const validation = fieldValidation(r.url);
  const opts: WriteOptions = { dryRun: dryRun(r.url), subresource: r.subresource === "status" ? "status" : "", admit: r.admitWrite };
  const rt = r.rt;
  if (type === PATCH_TYPES.apply) {
    const applied = asObject(parseYamlBody(raw), rt);
    if (!applied.apiVersion || !applied.kind) throw errBadRequest("apiVersion and kind must be set in an apply configuration");
    if (applied.metadata.name && applied.metadata.name !== r.name) throw errBadRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${r.name})`);
    await checkFields(rt, applied, validation, warnings, validation === "Ignore" ? [] : duplicateFields(type, raw));
    const manager = r.url.searchParams.get("fieldManager");
    if (!manager) throw errBadRequest("PATCH, application/apply-patch+yaml requests must have a fieldManager");
    const force = boolParam(r.url.searchParams, "force") === true;
    const existing = await ctx.registry.tryGet(rt, r.namespace, r.name!);
    if (!existing) {
      const created = serverSideApply(undefined, applied, manager, force, apiVersionOf(rt), rt.plural);
      created.metadata.name = r.name;
      const out = await ctx.registry.create(rt, r.namespace, created, opts).catch(async (err) => {
        // Lost a creation race: apply onto the object that won.
        if (err instanceof ApiError && err.reason === "AlreadyExists") return undefined;
        throw err;
      });
      if (out) return respondObject(r, 201, out, warnings);
    }
    const updated = await ctx.registry.mutate(rt, r.namespace, r.name!, (cur) => serverSideApply(cur, applied, manager, force, apiVersionOf(rt), rt.plural), opts);
    return respondObject(r, 200, updated, warnings);
  }
  let patch: unknown;
  if (type === PATCH_TYPES.json || type === PATCH_TYPES.merge || type === PATCH_TYPES.strategic) patch = parseJson(raw);
  else throw errUnsupportedMediaType(type);
  const manager = fieldManager(r);
  if (r.subresource === "scale") {
    // Patched onto the Scale of the object as each try reads it (kube-apiserver patches inside
    // GuaranteedUpdate): a write by a controller in between is a retry, not a 409, unless the
    // patch itself names a resourceVersion.
    return writeScale(ctx, r, (scale) => (type === PATCH_TYPES.json ? applyJsonPatch(scale, patch) : applyMergePatch(scale, patch)), manager);
  }
  const updated = await ctx.registry.mutate(
    rt,
    r.namespace,
    r.name!,
    async (cur) => {
      let next: unknown;
      if (type === PATCH_TYPES.json) next = applyJsonPatch(cur, patch);
      else if (type === PATCH_TYPES.merge) next = applyMergePatch(cur, patch);
      else next = applyStrategicMergePatch(cur, patch);
      const obj = asObject(next, rt);
      // A patch may not move the object or change its identity.
      if (obj.metadata.name !== cur.metadata.name) throw errBadRequest("metadata.name cannot be changed by a patch");
      if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        throw new ApiError("CONFLICT", 409, "Conflict", `Operation cannot be fulfilled on ${rt.plural}${rt.group ? "." + rt.group : ""} "${r.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: r.name, kind: rt.plural });
      }
      await checkFields(rt, obj, validation, warnings);
      recordUpdate(cur, obj, manager, apiVersionOf(rt), opts.subresource || undefined);
      return obj;
    },
    opts,
  );
  respondObject(r, 200, updated, warnings);
}

// ---- scale subresource (autoscaling/v1 Scale)

function toScale(rt: ResourceType, o: KubeObject) {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const status = (o.status ?? {}) as Record<string, unknown>;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
    spec: { replicas: spec.replicas ?? 0 },
    // A ReplicationController's selector is a plain label map, every other kind's a LabelSelector.
    status: { replicas: status.replicas ?? 0, selector: labelSelectorString(rt.kind === "ReplicationController" ? { matchLabels: spec.selector } : spec.selector) },
  };
}

export async function handleGetScale(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  sendJson(r.res, 200, toScale(r.rt, await ctx.registry.get(r.rt, r.namespace, r.name!)));
}

async function updateScale(ctx: HandlerContext, r: ResourceRequest, body: unknown): Promise<void> {
  await writeScale(ctx, r, () => body, fieldManager(r));
}

/** Writes spec.replicas from the Scale that scaleOf makes of the current Scale (a PUT's body, or a patch applied to it). */
async function writeScale(ctx: HandlerContext, r: ResourceRequest, scaleOf: (current: KubeObject) => unknown, manager: string): Promise<void> {
  const updated = await ctx.registry.mutate(r.rt, r.namespace, r.name!, (cur) => {
    const body = scaleOf(toScale(r.rt, cur));
    if (!isPlainObject(body)) throw errBadRequest("the body must be an autoscaling/v1 Scale");
    const spec = (body.spec ?? {}) as Record<string, unknown>;
    const replicas = spec.replicas;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError("INVALID_SPEC", 422, "Invalid", `Scale.autoscaling "${r.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
        name: r.name,
        kind: "Scale",
        causes: [{ reason: "FieldValueInvalid", message: "must be greater than or equal to 0", field: "spec.replicas" }],
      });
    }
    const rv = isPlainObject(body.metadata) ? (body.metadata.resourceVersion as string | undefined) : undefined;
    if (rv && rv !== cur.metadata.resourceVersion) {
      throw new ApiError("CONFLICT", 409, "Conflict", `Operation cannot be fulfilled on ${r.rt.plural}${r.rt.group ? "." + r.rt.group : ""} "${r.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: r.name, kind: r.rt.plural });
    }
    const next = { ...cur, spec: { ...(cur.spec as object), replicas } };
    recordUpdate(cur, next, manager, apiVersionOf(r.rt), "scale");
    return next;
  }, { dryRun: dryRun(r.url) });
  sendJson(r.res, 200, toScale(r.rt, updated));
}

// ---- deletes

interface DeleteOptionsBody {
  propagationPolicy?: string;
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

async function deleteOptions(ctx: HandlerContext, r: ResourceRequest): Promise<{ policy?: PropagationPolicy; preconditions?: { uid?: string; resourceVersion?: string }; dryRun: boolean; gracePeriodSeconds?: number }> {
  const raw = await readBody(r.req, ctx.maxBodyBytes);
  let body: DeleteOptionsBody = {};
  if (raw.length) {
    const parsed = parseJson(raw);
    if (!isPlainObject(parsed)) throw errBadRequest("DeleteOptions must be an object");
    body = parsed as DeleteOptionsBody;
  }
  const q = r.url.searchParams;
  let policy = (q.get("propagationPolicy") ?? body.propagationPolicy) as string | undefined;
  const orphan = boolParam(q, "orphanDependents") ?? (body.orphanDependents === undefined ? undefined : body.orphanDependents === true);
  if (!policy && orphan === true) policy = "Orphan";
  if (policy !== undefined && !["Background", "Foreground", "Orphan"].includes(policy)) {
    throw new ApiError("INVALID_SPEC", 422, "Invalid", `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  const graceText = q.get("gracePeriodSeconds") ?? (body.gracePeriodSeconds === undefined || body.gracePeriodSeconds === null ? undefined : String(body.gracePeriodSeconds));
  const gracePeriodSeconds = graceText === undefined ? undefined : Number(graceText);
  if (gracePeriodSeconds !== undefined && !Number.isInteger(gracePeriodSeconds)) throw errBadRequest(`gracePeriodSeconds must be an integer, not ${JSON.stringify(graceText)}`);
  return { policy: policy as PropagationPolicy | undefined, preconditions: body.preconditions, dryRun: dryRun(r.url) || (body.dryRun ?? []).includes("All"), gracePeriodSeconds };
}

export async function handleDelete(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const o = await deleteOptions(ctx, r);
  const stored = storageOf(r.rt);
  const { object, removed } = await ctx.registry.delete(stored.rt, r.namespace, r.name!, { propagationPolicy: o.policy, preconditions: o.preconditions, dryRun: o.dryRun, gracePeriodSeconds: o.gracePeriodSeconds });
  if (removed && r.rt.kind !== "Namespace") {
    sendJson(r.res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: r.name, group: r.rt.group, kind: r.rt.plural, uid: object.metadata.uid } });
  } else {
    // kube-apiserver answers 200 to a graceful pod deletion (the pod, now terminating), 202 when finalizers hold an object.
    const gracefulOnly = !removed && (object.metadata.finalizers ?? []).length === 0 && r.rt.kind !== "Namespace";
    sendJson(r.res, removed || gracefulOnly ? 200 : 202, stored.out(object));
  }
}

export async function handleDeleteCollection(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  const o = await deleteOptions(ctx, r);
  const q = r.url.searchParams;
  const stored = storageOf(r.rt);
  const page = await ctx.registry.list(stored.rt, r.namespace, { labelSelector: parseLabelSelector(q.get("labelSelector")), fieldSelector: parseFieldSelector(q.get("fieldSelector")) });
  const items: KubeObject[] = [];
  for (const item of page.items) {
    try {
      const ns = r.rt.namespaced ? item.metadata.namespace : undefined;
      items.push(stored.out((await ctx.registry.delete(stored.rt, ns, item.metadata.name!, { propagationPolicy: o.policy, dryRun: o.dryRun, gracePeriodSeconds: o.gracePeriodSeconds })).object));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  sendJson(r.res, 200, { kind: `${r.rt.kind}List`, apiVersion: apiVersionOf(r.rt), metadata: { resourceVersion: page.resourceVersion }, items });
}

/** log, exec, attach, portforward: need the node agent, which does not exist yet. */
export async function handleConnect(ctx: HandlerContext, r: ResourceRequest): Promise<void> {
  await ctx.registry.get(r.rt, r.namespace, r.name!);
  throw new ApiError("UNSUPPORTED_OPTION", 503, "ServiceUnavailable", `${r.rt.plural}/${r.subresource} is not available: Gantry's API server has no node agent to reach pod "${r.name}" yet`);
}

export function methodNotAllowed(r: ResourceRequest): never {
  throw errMethodNotAllowed(r.req.method ?? "", `${r.rt.plural}${r.subresource ? "/" + r.subresource : ""}`);
}

