// OpenAPI documents: /openapi/v3 (an index of group-versions), /openapi/v3/<gv> (paths and
// schemas for one group-version) and /openapi/v2 (JSON). kubectl apply looks for a PATCH
// operation with a `fieldValidation` parameter and then leaves validation to the server;
// kubectl explain reads the schemas by their x-kubernetes-group-version-kind.
import { createHash } from "node:crypto";
import { strategyFor } from "./patch-merge-keys.ts";
import { groupVersions, resourceTypes, verbsOf, type ResourceType } from "./resources.ts";
import { loadModelClosure, modelSchema, type JsonSchema } from "./schemas.ts";

export function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const queryParam = (name: string, description: string) => ({ name, in: "query", description, schema: { type: "string" }, uniqueItems: true });
const writeParams = [
  queryParam("dryRun", "When present, indicates that modifications should not be persisted."),
  queryParam("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
  queryParam("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict."),
];

function operations(rt: ResourceType, ref: string) {
  const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
  const ok = { "200": { description: "OK", content: { "application/json": { schema: { $ref: ref } } } } };
  const body = { content: { "*/*": { schema: { $ref: ref } } }, required: true };
  const op = (action: string, extra: Record<string, unknown> = {}) => ({
    operationId: `${action}${rt.kind}`,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    responses: ok,
    ...extra,
  });
  const base = rt.namespaced ? `/${gvPath(rt.group, rt.version)}/namespaces/{namespace}/${rt.plural}` : `/${gvPath(rt.group, rt.version)}/${rt.plural}`;
  const pathParams = [
    ...(rt.namespaced ? [{ name: "namespace", in: "path", required: true, schema: { type: "string" } }] : []),
  ];
  const patchBody = {
    content: Object.fromEntries(
      ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"].map((t) => [t, { schema: { type: "object" } }]),
    ),
    required: true,
  };
  // Only the verbs the resource serves (bindings: create).
  const verbs = new Set(verbsOf(rt));
  const only = (ops: [string, string, () => unknown][]) => Object.fromEntries(ops.filter(([, verb]) => verbs.has(verb)).map(([method, , make]) => [method, make()]));
  const paths: Record<string, unknown> = {
    [base]: {
      parameters: pathParams,
      ...only([
        ["get", "list", () => op("list")],
        ["post", "create", () => op("post", { parameters: writeParams, requestBody: body })],
        ["delete", "deletecollection", () => op("deletecollection")],
      ]),
    },
  };
  if (verbs.has("get")) {
    paths[`${base}/{name}`] = {
      parameters: [...pathParams, { name: "name", in: "path", required: true, schema: { type: "string" } }],
      ...only([
        ["get", "get", () => op("get")],
        ["put", "update", () => op("put", { parameters: writeParams, requestBody: body })],
        ["patch", "patch", () => op("patch", { parameters: [...writeParams, queryParam("force", "Force is going to force Apply requests.")], requestBody: patchBody })],
        ["delete", "delete", () => op("delete")],
      ]),
    };
  }
  return paths;
}

const mergeKeysFor = (field: string) => ({ key: strategyFor(["spec", "template", "spec", "containers", field]).mergeKey ?? strategyFor([field]).mergeKey });

const docCache = new Map<string, { json: string; hash: string }>();

/** The v3 document for one group-version, or undefined for an unknown one. */
export async function openapiV3(group: string, version: string): Promise<{ json: string; hash: string } | undefined> {
  const key = `${group}/${version}`;
  const hit = docCache.get(key);
  if (hit) return hit;
  const rts = resourceTypes.filter((r) => r.group === group && r.version === version);
  if (rts.length === 0) return undefined;
  const models = await loadModelClosure(rts.map((r) => r.model));
  const prefix = "#/components/schemas/";
  const schemas: Record<string, JsonSchema> = {};
  for (const m of models.values()) schemas[m.name] = modelSchema(m, prefix, mergeKeysFor);
  let paths: Record<string, unknown> = {};
  for (const rt of rts) {
    const s = schemas[rt.model];
    if (s) s["x-kubernetes-group-version-kind"] = [{ group: rt.group, version: rt.version, kind: rt.kind }];
    paths = { ...paths, ...operations(rt, `${prefix}${rt.model}`) };
  }
  const doc = { openapi: "3.0.0", info: { title: "Kubernetes", version: "v1.32.0" }, paths, components: { schemas } };
  const json = JSON.stringify(doc);
  const out = { json, hash: createHash("sha512").update(json).digest("hex").slice(0, 128).toUpperCase() };
  docCache.set(key, out);
  return out;
}

export async function openapiV3Index(): Promise<unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersions()) {
    const doc = await openapiV3(gv.group, gv.version);
    paths[gvPath(gv.group, gv.version)] = { serverRelativeURL: `/openapi/v3/${gvPath(gv.group, gv.version)}?hash=${doc!.hash}` };
  }
  return { paths };
}

let v2Cache: string | undefined;
/** Swagger 2.0 in JSON (kubectl only reads v2 as protobuf, which v3 makes unnecessary). */
export async function openapiV2(): Promise<string> {
  if (v2Cache) return v2Cache;
  const models = await loadModelClosure(resourceTypes.map((r) => r.model));
  const definitions: Record<string, JsonSchema> = {};
  for (const m of models.values()) definitions[m.name] = modelSchema(m, "#/definitions/", mergeKeysFor);
  for (const rt of resourceTypes) {
    const d = definitions[rt.model];
    if (d) d["x-kubernetes-group-version-kind"] = [{ group: rt.group, version: rt.version, kind: rt.kind }];
  }
  v2Cache = JSON.stringify({ swagger: "2.0", info: { title: "Kubernetes", version: "v1.32.0" }, paths: {}, definitions });
  return v2Cache;
}


export const OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/**
 * OpenAPI v2 as kubectl fetches it (gnostic's openapi_v2.Document in protobuf). kubectl only
 * asks for it when a group-version has no v3 document, i.e. for kinds Gantry does not serve;
 * this document therefore has no definitions, so validation leaves such objects to the
 * server, which answers "no matches for kind". Fields: swagger = 1, info = 2 {title = 1, version = 2}.
 */
export function openapiV2Protobuf(): Buffer {
  const str = (field: number, s: string) => Buffer.concat([Buffer.from([(field << 3) | 2, Buffer.byteLength(s)]), Buffer.from(s)]);
  const info = Buffer.concat([str(1, "Kubernetes"), str(2, "v1.32.0")]);
  return Buffer.concat([str(1, "2.0"), Buffer.from([(2 << 3) | 2, info.length]), info]);
}
