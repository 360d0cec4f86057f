// The three client patch formats: JSON patch (RFC 6902, through fast-json-patch), JSON
// merge patch (RFC 7386) and Kubernetes' strategic merge patch, whose lists merge by key
// and which understands the $patch, $setElementOrder, $deleteFromPrimitiveList and
// $retainKeys directives that `kubectl apply` and `kubectl edit` send.
import jsonpatch from "fast-json-patch";
import { clone, deepEqual, isPlainObject } from "./objects.ts";
import { strategyFor } from "./patch-merge-keys.ts";
import { errBadRequest, ApiError } from "./status.ts";

type Obj = Record<string, unknown>;

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw errBadRequest("json patch must be an array of operations");
  try {
    return jsonpatch.applyPatch(clone(doc), ops as jsonpatch.Operation[], true, true, true).newDocument;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    const op = e.message?.split("\n")[0] ?? String(err);
    throw new ApiError("INVALID_ARGUMENT", 422, "Invalid", `the server rejected our request due to an error in our request: ${op}`);
  }
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const out: Obj = isPlainObject(doc) ? clone(doc) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

const DIRECTIVE = "$patch";
const SET_ORDER = "$setElementOrder/";
const DELETE_PRIMITIVE = "$deleteFromPrimitiveList/";
const RETAIN_KEYS = "$retainKeys";

/** Strategic merge patch of an object at `path` (field names from the root). */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, path: string[] = []): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const directive = patch[DIRECTIVE];
  if (directive === "replace") {
    const { [DIRECTIVE]: _d, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (directive === "delete") return undefined;
  if (directive !== undefined && directive !== "merge") throw errBadRequest(`unknown patch type "${String(directive)}" in strategic merge patch at ${path.join(".") || "root"}`);
  const out: Obj = isPlainObject(doc) ? clone(doc) : {};
  const retainKeys = patch[RETAIN_KEYS];
  for (const [k, v] of Object.entries(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER)) continue;
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const childPath = [...path, k];
    if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, childPath, patch[`${SET_ORDER}${k}`]);
      continue;
    }
    if (isPlainObject(v)) {
      const merged = applyStrategicMergePatch(out[k], v, childPath);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
      continue;
    }
    out[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    // An order directive for a list the patch does not otherwise touch still reorders it.
    if (k.startsWith(SET_ORDER) && !(k.slice(SET_ORDER.length) in patch) && Array.isArray(out[k.slice(SET_ORDER.length)])) {
      const field = k.slice(SET_ORDER.length);
      out[field] = reorderList(out[field] as unknown[], v, strategyFor([...path, field]).mergeKey);
    }
  }
  if (Array.isArray(retainKeys)) {
    for (const k of Object.keys(out)) if (!retainKeys.includes(k)) delete out[k];
  }
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}

function mergeList(current: unknown, patch: unknown[], path: string[], order: unknown): unknown[] {
  const strategy = strategyFor(path);
  const cur = Array.isArray(current) ? current : [];
  // {"$patch": "replace"} as a list element replaces the whole list with the other elements.
  if (patch.some((p) => isPlainObject(p) && p[DIRECTIVE] === "replace")) {
    return patch.filter((p) => !(isPlainObject(p) && p[DIRECTIVE] === "replace")).map(stripDirectives);
  }
  if (strategy.mergeScalars) {
    const out = [...cur];
    for (const p of patch) if (!out.some((x) => deepEqual(x, p))) out.push(p);
    return order !== undefined ? reorderList(out, order, undefined) : out;
  }
  const key = strategy.mergeKey;
  if (!key || !patch.every(isPlainObject)) return patch.map(stripDirectives);
  const out = cur.map((x) => clone(x));
  for (const p of patch as Obj[]) {
    const idx = out.findIndex((x) => isPlainObject(x) && deepEqual(x[key], p[key]));
    if (p[DIRECTIVE] === "delete") {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (p[key] === undefined) throw errBadRequest(`map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`);
    if (idx >= 0) out[idx] = applyStrategicMergePatch(out[idx], p, path);
    else out.push(applyStrategicMergePatch({}, p, path));
  }
  return order !== undefined ? reorderList(out, order, key) : out;
}

/** $setElementOrder: listed elements first, in that order; others keep their relative place after. */
function reorderList(list: unknown[], order: unknown, key: string | undefined): unknown[] {
  if (!Array.isArray(order)) return list;
  const keyOf = (x: unknown) => (key && isPlainObject(x) ? x[key] : x);
  const ordered: unknown[] = [];
  const rest = [...list];
  for (const o of order) {
    const want = key && isPlainObject(o) ? o[key] : o;
    const idx = rest.findIndex((x) => deepEqual(keyOf(x), want));
    if (idx >= 0) ordered.push(...rest.splice(idx, 1));
  }
  return [...ordered, ...rest];
}
